"""Thin wrapper: the experiment lives in gdm_jax.experiments.vae_digits (so an installed gdm-jax has
it). Run as `python experiments/vae_digits.py [--quick] [--steps N] [--out DIR] [--seed N]`."""
from gdm_jax.experiments import vae_digits

if __name__ == "__main__":
  vae_digits.main()
