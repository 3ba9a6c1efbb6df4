"""Thin wrapper: the experiment lives in gdm_jax.experiments.q2_amortised (so an installed gdm-jax has it).
Run as `python experiments/q2_amortised.py [--quick] [--out DIR] [--seed N]`."""
from gdm_jax.experiments import q2_amortised

if __name__ == "__main__":
  q2_amortised.main()
