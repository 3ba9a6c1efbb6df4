"""L_K throughput on LinearGaussian, side by side in one process with numpyro's
RenyiELBO(alpha=0, num_particles=K) and TFP-on-JAX monte_carlo_variational_loss(...,
importance_sample_size=K), on the same model and proposal. IWAE's evaluation setting:
B=32 data points, d=32, D=784, K=5000. Values agree within standard error; warm times and
compile times are reported separately."""
import argparse
import math

import jax
import jax.numpy as jnp
import numpy as np

from _common import record, timeit
from gdm_jax import bounds, models


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument("--B", type=int, default=32)
  p.add_argument("--d", type=int, default=32)
  p.add_argument("--D", type=int, default=784)
  p.add_argument("--K", type=int, default=5000)
  p.add_argument("--replicates", type=int, default=20, help="for the standard errors")
  p.add_argument("--smoke", action="store_true", help="tiny settings (CI): B=2 d=4 D=16 K=64")
  a = p.parse_args(argv)
  if a.smoke:
    a.B, a.d, a.D, a.K, a.replicates = 2, 4, 16, 64, 2
  B, d, D, K = a.B, a.d, a.D, a.K
  model = models.random_linear_gaussian(jax.random.key(0), d, D, 0.5)
  x, _ = model.sample(jax.random.key(1), B)
  pm, pc = model.posterior(x)
  q_mean = pm + 0.1
  q_std = jnp.broadcast_to(1.3 * jnp.sqrt(jnp.diagonal(pc)), pm.shape)

  # "gdm_jax": the Gram form (O(d^2) per sample); "dense": the peers' arithmetic (O(D d)).
  fns = {
      "gdm_jax": jax.jit(lambda k: bounds.linear_gaussian_iwae(k, model, x, q_mean, q_std, K,
                                                               gram=True)),
      "gdm_jax dense": jax.jit(lambda k: bounds.linear_gaussian_iwae(k, model, x, q_mean, q_std,
                                                                     K)),
      "gdm_jax dense chunk 1000": jax.jit(lambda k: bounds.linear_gaussian_iwae(
          k, model, x, q_mean, q_std, K, chunk_size=1000)),
      # what a user writes for any model: the public estimator on the public log_joint
      "gdm_jax iwae_estimate_batch(log_joint)": jax.jit(
          lambda k: _public(k, model, x, q_mean, q_std, K)),
  }

  try:
    import numpyro
    import numpyro.distributions as nd
    from numpyro.infer import RenyiELBO
  except ImportError:
    numpyro = None
  if numpyro is not None:
    _add_numpyro(fns, model, x, q_mean, q_std, B, d, K, numpyro, nd, RenyiELBO)
  try:
    from tensorflow_probability.substrates import jax as tfp
  except Exception:  # noqa: BLE001 - TFP missing or failing to import: the peer is skipped
    tfp = None
  if tfp is not None:
    _add_tfp(fns, model, x, q_mean, q_std, B, K, tfp)
  _report(a, fns, model, x)


def _public(key, model, x, q_mean, q_std, K):
  """The public dense path: ``iwae_estimate_batch`` on ``model.log_joint`` (no Gram form), each
  point with its own proposal (the data carry the index of the proposal's row)."""
  data = jnp.concatenate([x, q_mean, q_std], axis=1)
  D, d = x.shape[1], q_mean.shape[1]
  return bounds.iwae_estimate_batch(
      key, lambda r, z: model.log_joint(r[:D], z),
      lambda r: bounds.diag_gaussian_proposal(r[D:D + d], r[D + d:]), data, K)


def _add_numpyro(fns, model, x, q_mean, q_std, B, d, K, numpyro, nd, RenyiELBO):

  def np_model(xi):
    z = numpyro.sample("z", nd.Normal(jnp.zeros(d), 1.0).to_event(1))
    numpyro.sample("x", nd.Normal(z @ model.W.T + model.b, model.noise_std).to_event(1), obs=xi)

  def np_guide(xi, m, s):
    numpyro.sample("z", nd.Normal(m, s).to_event(1))

  renyi = RenyiELBO(alpha=0.0, num_particles=K)

  def np_lk(k):
    keys = jax.random.split(k, B)
    return jax.vmap(lambda kk, xi, m, s: -renyi.loss(
        kk, {}, lambda xx: np_model(xx), lambda xx: np_guide(xx, m, s), xi))(keys, x, q_mean,
                                                                              q_std)
  fns["numpyro RenyiELBO(0)"] = jax.jit(np_lk)


def _add_tfp(fns, model, x, q_mean, q_std, B, K, tfp):
  tfd = tfp.distributions

  def tfp_lk(k):
    keys = jax.random.split(k, B)
    def one(kk, xi, m, s):
      return -tfp.vi.monte_carlo_variational_loss(
          lambda z: model.log_joint(xi, z), tfd.MultivariateNormalDiag(m, s),
          sample_size=1, importance_sample_size=K, seed=kk)
    return jax.vmap(one)(keys, x, q_mean, q_std)
  fns["tfp monte_carlo_variational_loss"] = jax.jit(tfp_lk)


def _report(a, fns, model, x):
  B, d, D, K = a.B, a.d, a.D, a.K
  rows = {}
  for name, f in fns.items():
    compile_s, warm_s = timeit(f, jax.random.key(2), repeats=3)
    vals = np.stack([np.asarray(f(jax.random.key(100 + r))) for r in range(a.replicates)])
    tot = vals.sum(1)  # sum over the B points of L_K
    rows[name] = {"compile_s": compile_s, "warm_s": warm_s,
                  "sum_lk": float(tot.mean()), "se": float(tot.std(ddof=1) / math.sqrt(len(tot)))}
    print(name, rows[name], flush=True)
  log_px = float(model.log_marginal(x).sum())
  peers = [n for n in rows if not n.startswith("gdm_jax")] or ["gdm_jax dense"]
  best_peer = min(peers, key=lambda n: rows[n]["warm_s"])
  speedup = rows[best_peer]["warm_s"] / rows["gdm_jax"]["warm_s"]
  ref = rows["gdm_jax"]
  agree = {n: abs(r["sum_lk"] - ref["sum_lk"]) / math.hypot(r["se"], ref["se"])
           for n, r in rows.items() if n != "gdm_jax"}
  record("lk_peers" + ("_smoke" if a.smoke else ""), {"config": vars(a), "results": rows, "exact_sum_log_px": log_px,
                      "speedup_vs_best_peer": speedup, "agreement_z": agree},
         f"B={B} d={d} D={D} K={K}: gdm_jax {ref['warm_s'] * 1e3:.0f} ms warm; " +
         ", ".join(f"{n} {r['warm_s'] * 1e3:.0f} ms" for n, r in rows.items() if n != "gdm_jax")
         + f"; {speedup:.2f}x vs {best_peer}; |diff|/SE: " +
         ", ".join(f"{v:.1f}" for v in agree.values()))


if __name__ == "__main__":
  main()
