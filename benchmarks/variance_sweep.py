"""Variance of L_K-hat versus K: R = 1000 replicates (vmap, sharded over devices), K up to 1e4."""
import time

import jax
import jax.numpy as jnp

from _common import record
from gdm_jax import models, sweeps


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
  t0 = time.perf_counter()
  s = sweeps.lk_sweep(jax.random.key(2), model, x, pm + 0.1, 1.3 * jnp.sqrt(jnp.diagonal(pc)),
                      ks, R)
  cold = time.perf_counter() - t0
  s2 = sweeps.lk_sweep(jax.random.key(3), model, x, pm + 0.1, 1.3 * jnp.sqrt(jnp.diagonal(pc)),
                       ks, R)
  slope = sweeps.loglog_slope(s.ks, s.var)
  record("variance_sweep" + ("_smoke" if a.smoke else ""), {"ks": ks, "variance": s.var.tolist(), "bias": s.bias.tolist(),
                            "cold_s": cold, "warm_s": s2.seconds, "variance_slope": slope},
         f"R={R}, K={ks[0]}..{ks[-1]} (d=8, D=64): {cold:.1f} s cold, {s2.seconds:.1f} s warm; "
         f"variance slope {slope:.2f} (theory -1)")


if __name__ == "__main__":
  main()
