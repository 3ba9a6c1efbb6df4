"""Thin wrapper: the experiment lives in gdm_jax.experiments.q4_masks (so an installed gdm-jax has it).
Run as `python experiments/q4_masks.py [--quick] [--out DIR] [--seed N]`."""
from gdm_jax.experiments import q4_masks

if __name__ == "__main__":
  q4_masks.main()
