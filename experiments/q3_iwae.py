"""Thin wrapper: the experiment lives in gdm_jax.experiments.q3_iwae (so an installed gdm-jax has it).
Run as `python experiments/q3_iwae.py [--quick] [--out DIR] [--seed N]`."""
from gdm_jax.experiments import q3_iwae

if __name__ == "__main__":
  q3_iwae.main()
