"""Thin wrapper: the experiment lives in gdm_jax.experiments.q5_discriminator (so an installed gdm-jax has it).
Run as `python experiments/q5_discriminator.py [--quick] [--out DIR] [--seed N]`."""
from gdm_jax.experiments import q5_discriminator

if __name__ == "__main__":
  q5_discriminator.main()
