"""Thin wrapper: the experiment lives in gdm_jax.experiments.q7_jsd (so an installed gdm-jax has it).
Run as `python experiments/q7_jsd.py [--quick] [--out DIR] [--seed N]`."""
from gdm_jax.experiments import q7_jsd

if __name__ == "__main__":
  q7_jsd.main()
