"""Variance of L_K-hat versus K: R = 1000 replicates (vmap, sharded over devices), K up to 1e4."""
import time

import jax
import jax.numpy as jnp

from _common import record
from gdm_jax import models, sweeps


def main():
  model = models.random_linear_gaussian(jax.random.key(0), 8, 64, 0.5)
  x = model.sample(jax.random.key(1), 1)[0][0]
  pm, pc = model.posterior(x)
  ks = [1, 10, 100, 1000, 10000]
  t0 = time.perf_counter()
  s = sweeps.lk_sweep(jax.random.key(2), model, x, pm + 0.1, 1.3 * jnp.sqrt(jnp.diagonal(pc)),
                      ks, 1000)
  cold = time.perf_counter() - t0
  s2 = sweeps.lk_sweep(jax.random.key(3), model, x, pm + 0.1, 1.3 * jnp.sqrt(jnp.diagonal(pc)),
                       ks, 1000)
  slope = sweeps.loglog_slope(s.ks, s.var)
  record("variance_sweep", {"ks": ks, "variance": s.var.tolist(), "bias": s.bias.tolist(),
                            "cold_s": cold, "warm_s": s2.seconds, "variance_slope": slope},
         f"R=1000, K=1..1e4 (d=8, D=64): {cold:.1f} s cold, {s2.seconds:.1f} s warm; "
         f"variance slope {slope:.2f} (theory -1)")


if __name__ == "__main__":
  main()
