"""Thin wrapper: the experiment lives in gdm_jax.experiments.q6_critics (so an installed gdm-jax has it).
Run as `python experiments/q6_critics.py [--quick] [--out DIR] [--seed N]`."""
from gdm_jax.experiments import q6_critics

if __name__ == "__main__":
  q6_critics.main()
