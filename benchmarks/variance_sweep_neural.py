"""Variance and bias of L_K-hat versus K on Burda et al.'s 1-layer IWAE architecture (random
weights, one binary image): R replicates per K through the generic
:func:`gdm_jax.sweeps.estimator_sweep` (one ``jit(vmap(...))`` per K, replicates laid over every
device), against numpyro's ``RenyiELBO(alpha=0)`` called in a Python loop over the replicates (a
jitted call per replicate: what users write today). Same K grid, same number of replicates; the
means agree within their standard errors."""
import argparse
import math
import time

import jax
import numpy as np

from _common import record
import _neural as nn
from gdm_jax import bounds, sweeps


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument("--replicates", type=int, default=1000)
  p.add_argument("--ks", type=int, nargs="*", default=[1, 10, 100, 1000, 10_000])
  p.add_argument("--smoke", action="store_true", help="tiny settings (CI): R=8, K in 1, 4")
  a = p.parse_args(argv)
  if a.smoke:
    a.replicates, a.ks = 8, [1, 4]
  jax.config.update("jax_threefry_partitionable", False)
  R = a.replicates
  params = nn.init(jax.random.key(0))
  x0 = nn.data(jax.random.key(1), 1)[0]
  lj = lambda z: nn.log_joint(params, x0, z)
  prop = nn.proposal(params, x0)

  def estimator(key, K):
    # R replicates run side by side: size the chunk for all of them (auto_chunk_size's batch)
    return bounds.iwae_estimate(key, lj, prop, K, bounds.auto_chunk_size(key, lj, prop, K, R))

  t0 = time.perf_counter()
  s = sweeps.estimator_sweep(jax.random.key(2), estimator, a.ks, R)
  ours_s = time.perf_counter() - t0
  rows = {"gdm_jax estimator_sweep": {"seconds": ours_s, "mean": s.mean.tolist(),
                                      "se": s.se.tolist(), "var": s.var.tolist(),
                                      "var_se": s.var_se.tolist()}}
  print(rows, flush=True)
  try:
    import numpyro
    import numpyro.distributions as nd
    from numpyro.infer import RenyiELBO
  except ImportError:
    numpyro = None
  if numpyro is not None:
    def model(xi):
      z = numpyro.sample("z", nd.Normal(np.zeros(nn.LATENT, np.float32), 1.0).to_event(1))
      numpyro.sample("x", nd.Bernoulli(logits=nn.mlp(params["dec"], z)).to_event(1), obs=xi)

    def guide(xi):
      m, sd = nn.encoder(params, xi)
      numpyro.sample("z", nd.Normal(m, sd).to_event(1))

    t0 = time.perf_counter()
    means, ses = [], []
    for K in a.ks:
      renyi = RenyiELBO(alpha=0.0, num_particles=K)
      f = jax.jit(lambda k, renyi=renyi: -renyi.loss(k, {}, model, guide, x0))
      vals = np.array([float(f(k)) for k in jax.random.split(jax.random.key(3 + K), R)])
      means.append(vals.mean())
      ses.append(vals.std(ddof=1) / math.sqrt(R))
    rows["numpyro loop"] = {"seconds": time.perf_counter() - t0, "mean": means, "se": ses}
    print(rows["numpyro loop"], flush=True)
  summary = (f"R={R}, K={a.ks[0]}..{a.ks[-1]}, Burda 1-layer VAE (random weights): "
             f"estimator_sweep {ours_s:.1f} s (compile included)")
  if "numpyro loop" in rows:
    nl = rows["numpyro loop"]
    z = [abs(m1 - m2) / math.hypot(s1, s2) for m1, s1, m2, s2 in
         zip(s.mean, s.se, nl["mean"], nl["se"])]
    rows["agreement_z"] = z
    summary += (f", numpyro RenyiELBO(0) in a Python loop {nl['seconds']:.1f} s "
                f"({nl['seconds'] / ours_s:.1f}x); means agree within {max(z):.1f} SE")
  if s.var_slope is not None:
    summary += f"; variance slope {s.var_slope}"
  record("variance_sweep_neural" + ("_smoke" if a.smoke else ""),
         {"config": vars(a), "ks": a.ks, "rows": rows}, summary)


if __name__ == "__main__":
  main()
