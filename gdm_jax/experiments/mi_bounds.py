"""Mutual-information bounds on Poole et al.'s Gaussian benchmark (d = 20, I = 2 ... 10 nats):
NWJ, DV and InfoNCE, each with a separable flax critic trained on it (optax Adam), then the bias and
variance of each estimate on fresh batches, next to the same estimators at the optimal critic."""
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from gdm_jax import mi
from gdm_jax.experiments import common
from gdm_jax.experiments.common import out_dir, plt, save, write_table

D, BATCH = 20, 64
LABELS = {"nwj": "NWJ", "dv": "DV", "infonce": "InfoNCE"}


def config(quick: bool) -> dict:
  """The experiment's sizes (``quick``: a smoke run in well under 40 s on a CPU)."""
  if quick:
    return dict(mis=(2.0, 6.0, 10.0), steps=200, reps=64, hidden=32, embed=16,
                learning_rate=2e-3)
  return dict(mis=(2.0, 4.0, 6.0, 8.0, 10.0), steps=3000, reps=256, hidden=64, embed=32,
              learning_rate=1e-3)


@functools.partial(jax.jit, static_argnames=("reps", "hidden", "embed"))
def _evaluate(key, params, rho, index, reps, hidden, embed):
  """Per fresh batch: the estimator ``ESTIMATORS[index]`` at the trained critic and at the
  optimal critic (1 + log r for NWJ, log r otherwise)."""
  net = mi.SeparableCritic(hidden, embed)
  shift = jnp.where(index == mi.ESTIMATORS.index("nwj"), 1.0, 0.0).astype(rho.dtype)
  fns = [lambda s, name=name: getattr(mi, name)(s) for name in mi.ESTIMATORS]

  def one(k):
    x, y = mi.correlated_gaussian_sample(k, rho, D, BATCH)
    return (jax.lax.switch(index, fns, net.apply(params, x, y)),
            jax.lax.switch(index, fns, mi.optimal_scores(x, y, rho) + shift))
  return jax.vmap(one)(jax.random.split(key, reps))


def run(out, quick: bool = False, seed: int = 0) -> None:
  """Writes this experiment's figure and table into ``out``."""
  out = out_dir(out)
  cfg = config(quick)
  mis = np.asarray(cfg["mis"])
  n_e, n_i = len(mi.ESTIMATORS), len(mis)
  # Every (estimator, I) pair in one program: vmap over the flattened grid.
  index = jnp.repeat(jnp.arange(n_e, dtype=jnp.int32), n_i)
  rhos = jnp.tile(mi.rho_for_mi(jnp.asarray(mis, jnp.float32), D), n_e)
  k_train, k_eval = jax.random.split(jax.random.key(seed))
  train = jax.vmap(lambda k, r, e: mi.train_critic(
      k, r, D, e, cfg["steps"], BATCH, cfg["hidden"], cfg["embed"], cfg["learning_rate"]))
  params, _ = train(jax.random.split(k_train, n_e * n_i), rhos, index)
  evaluate = jax.vmap(lambda k, p, r, e: _evaluate(k, p, r, e, cfg["reps"], cfg["hidden"],
                                                   cfg["embed"]))
  trained, optimal = (np.asarray(a, np.float64).reshape(n_e, n_i, -1) for a in evaluate(
      jax.random.split(k_eval, n_e * n_i), params, rhos, index))
  rows = []
  for e, estimator in enumerate(mi.ESTIMATORS):
    for i, true in enumerate(mis):
      rows.append([LABELS[estimator], float(true), float(trained[e, i].mean() - true),
                   float(trained[e, i].var(ddof=1)), float(optimal[e, i].mean() - true),
                   float(optimal[e, i].var(ddof=1))])
  fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
  for e, estimator in enumerate(mi.ESTIMATORS):
    mean, sd = trained[e].mean(1), trained[e].std(1, ddof=1)
    line, = ax[0].plot(mis, mean, "o-", label=f"{LABELS[estimator]} (trained critic)")
    ax[0].fill_between(mis, mean - sd, mean + sd, color=line.get_color(), alpha=0.2)
    ax[0].plot(mis, optimal[e].mean(1), "x:", color=line.get_color(),
               label=f"{LABELS[estimator]} at the optimal critic")
    ax[1].plot(mis, trained[e].var(1, ddof=1), "o-", color=line.get_color(),
               label=f"{LABELS[estimator]} (trained)")
    ax[1].plot(mis, optimal[e].var(1, ddof=1), "x:", color=line.get_color(),
               label=f"{LABELS[estimator]} (optimal critic)")
  grid = np.linspace(mis.min(), mis.max(), 100)
  ax[0].plot(grid, grid, "k--", lw=1, label="true I")
  ax[0].axhline(math.log(BATCH), color="0.4", ls="-.", lw=1,
                label=f"log B = {math.log(BATCH):.2f}")
  ax[0].set(xlabel="true I (nats)", ylabel="estimate (nats)",
            title=f"d = {D}, B = {BATCH}; bands: +-1 SD over {cfg['reps']} batches")
  ax[0].legend(fontsize=7)
  exact = np.asarray(mi.nwj_variance(mi.rho_for_mi(jnp.asarray(grid), D), D, BATCH))
  ax[1].plot(grid, exact, "k--", lw=1, label="NWJ at its optimal critic (closed form)")
  ax[1].set(yscale="log", xlabel="true I (nats)", ylabel="variance over batches (nats^2)",
            title="variance of each estimate")
  ax[1].legend(fontsize=7)
  save(fig, out, "mi_bounds")
  print(write_table(out, "mi_bounds", ["estimator", "I (nats)", "bias (trained)",
                                       "variance (trained)", "bias (optimal critic)",
                                       "variance (optimal critic)"], rows))


def main(argv=None) -> None:
  common.main(run, __doc__, argv)


if __name__ == "__main__":
  main()
