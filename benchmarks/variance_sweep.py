"""Variance of L_K-hat versus K: R = 1000 replicates (vmap, sharded over devices), K up to 1e4,
through :func:`gdm_jax.sweeps.estimator_sweep` with the LinearGaussian's exact log p(x)."""
import time

import jax
import jax.numpy as jnp

from _common import record
from gdm_jax import bounds, models, sweeps


def main(argv=None):
  import argparse
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument("--replicates", type=int, default=1000)
  p.add_argument("--ks", type=int, nargs="*", default=[1, 10, 100, 1000, 10000])
  p.add_argument("--smoke", action="store_true", help="tiny settings (CI)")
  a = p.parse_args(argv)
  if a.smoke:
    a.replicates, a.ks = 8, [1, 4]
  R, ks = a.replicates, a.ks
  model = models.random_linear_gaussian(jax.random.key(0), 8, 64, 0.5)
  x = model.sample(jax.random.key(1), 1)[0][0]
  pm, pc = model.posterior(x)
  prop = bounds.diag_gaussian_proposal(pm + 0.1, 1.3 * jnp.sqrt(jnp.diagonal(pc)))
  est = lambda k, K: bounds.iwae_estimate(k, lambda z: model.log_joint(x, z), prop, K)
  log_px = float(model.log_marginal(x))
  t0 = time.perf_counter()
  s = sweeps.estimator_sweep(jax.random.key(2), est, ks, R, reference=log_px)
  cold = time.perf_counter() - t0
  s2 = sweeps.estimator_sweep(jax.random.key(3), est, ks, R, reference=log_px)
  slope = sweeps.loglog_slope(s.ks, s.var)
  record("variance_sweep" + ("_smoke" if a.smoke else ""), {"ks": ks, "variance": s.var.tolist(), "bias": s.bias.tolist(),
                            "cold_s": cold, "warm_s": s2.seconds, "variance_slope": slope},
         f"R={R}, K={ks[0]}..{ks[-1]} (d=8, D=64): {cold:.1f} s cold, {s2.seconds:.1f} s warm; "
         f"variance slope {slope:.2f} (theory -1)")


if __name__ == "__main__":
  main()
