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
  print(write_table(out, "q2_gaps", ["encoder", "approximation gap", "amortisation gap",
                                          "total gap", "encoder params"], rows))
  ns = [10, 100, 1000] if quick else [10, 100, 1000, 10000]
  cost = sweeps.serving_cost(k4, model, encoders["affine (exact family)"],
                             params["affine (exact family)"], ns)
  print(write_table(out, "q2_cost", ["n", "amortised s", "per-instance s", "amortised steps",
                                          "per-instance steps", "amortised params",
                                          "per-instance params"], [list(r) for r in cost]))
  fig, ax = plt.subplots(1, 2, figsize=(10, 4))
  n = [r.n for r in cost]
  ax[0].loglog(n, [r.amortised_seconds for r in cost], "o-", label="amortised: one forward pass")
  ax[0].loglog(n, [r.instance_seconds for r in cost], "s-", label="per-instance: 40 L-BFGS steps")
  ax[0].set(xlabel="n new points", ylabel="seconds (warm)", title="(b) compute")
  ax[0].legend()
  ax[1].loglog(n, [r.amortised_params for r in cost], "o-", label="encoder parameters")
  ax[1].loglog(n, [r.instance_params for r in cost], "s-", label="2 d n variational parameters")
  ax[1].set(xlabel="n", ylabel="parameters stored", title="(c) memory")
  ax[1].legend()
  save(fig, out, "q2_cost")


def main(argv=None) -> None:
  common.main(run, __doc__, argv)


if __name__ == "__main__":
  main()
