"""Q2.3: approximation and amortisation gaps, and the cost (time, steps, memory) of serving n
new points with an amortised encoder versus per-instance optimisation."""
import jax
import jax.numpy as jnp

from gdm_jax import amortized as am, models, sweeps
from gdm_jax.experiments import common
from gdm_jax.experiments.common import out_dir, plt, save, write_table


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
  cost = sweeps.serving_cost(k4, model, encoders["affine (exact family)"],
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
