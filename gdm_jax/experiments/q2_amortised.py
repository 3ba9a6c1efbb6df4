"""Q2.3: approximation and amortisation gaps, and the cost (time, steps, memory) of serving n
new points with an amortised encoder versus per-instance optimisation."""
import math
import time
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gdm_jax import amortized as am, models
from gdm_jax.experiments import common
from gdm_jax.experiments.common import out_dir, plt, save, write_table


class CostRow(NamedTuple):
  n: int
  amortised_seconds: float
  instance_seconds: float
  amortised_steps: int      # optimisation steps at serving time (0: one forward pass)
  instance_steps: int       # n x L-BFGS steps
  amortised_params: int
  instance_params: int
  amortised_range: tuple[float, float] = (math.nan, math.nan)  # fastest, slowest of the repeats
  instance_range: tuple[float, float] = (math.nan, math.nan)


def serving_cost(key, model, encoder, enc_params, ns: Sequence[int], steps: int = 40,
                 repeats: int = 5):
  """Warm wall time of serving ``n`` new points: the median of ``repeats`` timings of each way,
  with the fastest and slowest (the spread on a shared machine)."""
  rows = []
  fwd = jax.jit(lambda p, x: encoder.apply(p, x))
  fit = jax.jit(lambda x: am.fit_per_instance(model, x, steps))
  for n in ns:
    x, _ = model.sample(jax.random.fold_in(key, n), int(n))
    jax.block_until_ready(fwd(enc_params, x))
    jax.block_until_ready(fit(x))  # compile both first: timings are warm
    ta, ti = [], []
    for _ in range(repeats):
      t0 = time.perf_counter()
      jax.block_until_ready(fwd(enc_params, x))
      t1 = time.perf_counter()
      jax.block_until_ready(fit(x))
      t2 = time.perf_counter()
      ta.append(t1 - t0)
      ti.append(t2 - t1)
    rows.append(CostRow(int(n), float(np.median(ta)), float(np.median(ti)), 0, int(n) * steps,
                        am.param_count(enc_params), 2 * model.latent_dim * int(n),
                        (min(ta), max(ta)), (min(ti), max(ti))))
  return rows


def run(out, quick: bool = False, seed: int = 0) -> None:
  """Writes this experiment's figures and tables into ``out``."""
  out = out_dir(out)
  key = jax.random.key(seed)
  k1, k2, k3, k4 = jax.random.split(key, 4)
  model = models.random_linear_gaussian(k1, 2, 5, 0.5)
  x, _ = model.sample(k2, 64)
  inst = jax.jit(am.fit_per_instance, static_argnums=2)(model, x, 40)
  encoders = {"affine (exact family)": am.Encoder(2), "rank-1 mean": am.Encoder(2, mean_rank=1),
              "MLP 16 tanh": am.Encoder(2, hidden=(16,))}
  rows, params = [], {}
  for name, enc in encoders.items():
    p = jax.jit(lambda k, m, xx: am.fit_amortised(k, m, xx, enc, 200))(k3, model, x)
    params[name] = p
    m, s = enc.apply(p, x)
    g = am.gaps(model, x, inst, m, s)
    rows.append([name, float(jnp.mean(g.approximation_gap)), float(jnp.mean(g.amortisation_gap)),
                 float(jnp.mean(g.log_marginal - g.elbo_amortised)), am.param_count(p)])
  print(write_table(out, "q2_gaps", ["encoder", "approximation gap (nats)",
                                     "amortisation gap (nats)", "total gap (nats)",
                                     "encoder params"], rows))
  ns = [10, 100, 1000] if quick else [10, 100, 1000, 10000]
  cost = serving_cost(k4, model, encoders["affine (exact family)"],
                      params["affine (exact family)"], ns)
  print(write_table(out, "q2_cost", ["n", "amortised s (median)", "amortised s (min-max)",
                                     "per-instance s (median)", "per-instance s (min-max)",
                                     "amortised steps", "per-instance steps", "amortised params",
                                     "per-instance params"],
                    [[r.n, r.amortised_seconds,
                      f"{r.amortised_range[0]:.3g}-{r.amortised_range[1]:.3g}",
                      r.instance_seconds, f"{r.instance_range[0]:.3g}-{r.instance_range[1]:.3g}",
                      r.amortised_steps, r.instance_steps, r.amortised_params,
                      r.instance_params] for r in cost]))
  fig, ax = plt.subplots(1, 2, figsize=(10, 4))
  n = [r.n for r in cost]

  def timed(attr, rng, fmt, label):
    med = [getattr(r, attr) for r in cost]
    lo = [m - getattr(r, rng)[0] for m, r in zip(med, cost)]
    hi = [getattr(r, rng)[1] - m for m, r in zip(med, cost)]
    ax[0].errorbar(n, med, yerr=[lo, hi], fmt=fmt, capsize=3, label=label)

  timed("amortised_seconds", "amortised_range", "o-", "amortised: one forward pass")
  timed("instance_seconds", "instance_range", "s-", "per-instance: 40 L-BFGS steps")
  ax[0].set(xscale="log", yscale="log", xlabel="n new points (count)",
            ylabel="wall time (s, warm; median, bars: min-max of 5)", title="(b) compute")
  ax[0].legend()
  ax[1].loglog(n, [r.amortised_params for r in cost], "o-", label="encoder parameters")
  ax[1].loglog(n, [r.instance_params for r in cost], "s-", label="2 d n variational parameters")
  ax[1].set(xlabel="n new points (count)", ylabel="parameters stored (count)",
            title="(c) memory (exact counts)")
  ax[1].legend()
  save(fig, out, "q2_cost")


def main(argv=None) -> None:
  common.main(run, __doc__, argv)


if __name__ == "__main__":
  main()
