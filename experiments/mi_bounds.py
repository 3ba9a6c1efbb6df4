"""Thin wrapper: the experiment lives in gdm_jax.experiments.mi_bounds (so an installed gdm-jax has it).
Run as `python experiments/mi_bounds.py [--quick] [--out DIR] [--seed N]`."""
from gdm_jax.experiments import mi_bounds

if __name__ == "__main__":
  mi_bounds.main()
