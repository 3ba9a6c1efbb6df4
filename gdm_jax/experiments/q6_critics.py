"""Q6: R1 (NWJ) and R2 (DV) maximised with a flax critic; estimator variance versus the KL."""
import functools
import math
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gdm_jax import kl_bounds as kb, sweeps, validation as v
from gdm_jax.problems import densities as ds, q6
from gdm_jax.experiments import common
from gdm_jax.experiments.common import out_dir, plt, save, write_table


class BoundVariance(NamedTuple):
  kl: np.ndarray       # [n_gap]
  r1_mean: np.ndarray
  r1_var: np.ndarray
  r2_mean: np.ndarray
  r2_var: np.ndarray
  r1_var_se: np.ndarray | None = None  # standard errors of the variances (4th moment)
  r2_var_se: np.ndarray | None = None


@functools.partial(jax.jit, static_argnums=(2, 3))
def _bound_replicates(keys, gap, n, _unused=None):
  def one(k):
    kp, kq = jax.random.split(k)
    xp = jax.random.normal(kp, (n,))
    xq = gap + jax.random.normal(kq, (n,))
    t = lambda x: -0.5 * x ** 2 + 0.5 * (x - gap) ** 2  # log(p/q): the optimal DV critic
    return kb.r1(t(xp) + 1.0, t(xq) + 1.0), kb.r2(t(xp), t(xq))
  return jax.vmap(one)(keys)


def bound_variance(key, gaps: Sequence[float], n: int = 256, replicates: int = 2000):
  """p = N(0,1), q = N(gap, 1) (KL = gap^2/2), each bound at its optimal critic: ``n`` samples
  of each (an int >= 1) per replicate, ``replicates`` (>= 2, for a variance) per finite gap."""
  n = v.check_int("n", n)
  replicates = v.check_int("replicates", replicates, minimum=2)
  gaps = list(gaps)
  if not gaps or not all(math.isfinite(float(g)) for g in gaps):
    raise ValueError(f"`gaps` must be a non-empty sequence of finite numbers; got {gaps!r}.")
  r1m, r1v, r2m, r2v, r1s, r2s = [], [], [], [], [], []
  for i, g in enumerate(gaps):
    a, b = _bound_replicates(jax.random.split(jax.random.fold_in(key, i), replicates),
                             jnp.asarray(g, jnp.float32), n)
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    r1m.append(a.mean())
    r1v.append(a.var(ddof=1))
    r2m.append(b.mean())
    r2v.append(b.var(ddof=1))
    r1s.append(sweeps.variance_se(a))
    r2s.append(sweeps.variance_se(b))
  g = np.asarray(gaps, float)
  return BoundVariance(g ** 2 / 2, np.array(r1m), np.array(r1v), np.array(r2m), np.array(r2v),
                       np.array(r1s), np.array(r2s))


def run(out, quick: bool = False, seed: int = 0) -> None:
  """Writes this experiment's figures and tables into ``out``."""
  out = out_dir(out)
  trained = q6.trained_bounds(seed, False)
  kl = ds.kl_p6_q6()
  fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
  w = 25  # moving window (Adam steps)
  for b, (r1v, r2v, curve) in trained.items():
    curve = np.asarray(curve, np.float64)
    if b == "untrained" or curve.size < w:  # no training curve: the starting point, as a line
      ax[0].axhline(r2v, color="0.5", ls=":", label=f"untrained critic: exact R2 = {r2v:.3f}")
      continue
    mean = np.convolve(curve, np.ones(w) / w, mode="valid")
    sd = np.sqrt(np.maximum(np.convolve(curve ** 2, np.ones(w) / w, mode="valid") - mean ** 2, 0))
    steps = np.arange(w - 1, len(curve))
    line, = ax[0].plot(steps, mean, label=f"critic trained on {b.upper()} (final exact R2 = "
                                          f"{r2v:.3f})")
    ax[0].fill_between(steps, mean - sd, mean + sd, color=line.get_color(), alpha=0.2)
  ax[0].axhline(kl, color="k", ls="--", label=f"KL = {kl:.3f}")
  ax[0].set(xlabel="Adam step", ylabel=f"bound on a batch (nats, mean of {w} steps)",
            title=f"training curves (bands: +-1 SD of the batch bound, {w} steps)",
            ylim=(min([kl - 0.6] + [v[1] - 0.05 for v in trained.values()]), kl + 0.2))
  ax[0].legend(fontsize=8)
  gaps = [0.5, 1.0, 1.5, 2.0] if quick else [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
  reps = 500 if quick else 4000
  bv = bound_variance(jax.random.key(seed), gaps, n=256, replicates=reps)
  for var, se, fmt, label in ((bv.r1_var, bv.r1_var_se, "o-", "R1 (NWJ) at T* = 1 + log p/q"),
                              (bv.r2_var, bv.r2_var_se, "s-", "R2 (DV) at T* = log p/q")):
    half = 1.96 * se
    ax[1].errorbar(bv.kl, var, yerr=[np.minimum(half, 0.9 * var), half], fmt=fmt, capsize=3,
                   label=label)
  # Exact for R1 at T* = 1 + log r, p = N(0, 1), q = N(g, 1), KL = g^2 / 2: Var_p(log r) = g^2
  # and Var_q(r) = e^(g^2) - 1, so Var(R1) = (2 KL + e^(2 KL) - 1) / n. Its sample variance falls
  # short at large KL: the variance lives in a tail that 4000 replicates rarely reach.
  kls = np.linspace(float(bv.kl.min()), float(bv.kl.max()), 100)
  ax[1].plot(kls, (2 * kls + np.expm1(2 * kls)) / 256, "k--", lw=1,
             label="R1 exact: (2 KL + e^(2 KL) - 1) / n")
  ax[1].set(yscale="log", xlabel="true KL (nats)",
            ylabel="variance of the estimate (nats^2, n = 256)",
            title=f"R1's variance grows like e^(2 KL); {reps} replicates")
  ax[1].legend(title="bars: 95% CI", fontsize=9)
  save(fig, out, "q6_critics")
  print(write_table(out, "q6_bound_variance", ["KL (nats)", "R1 mean", "R1 var", "SE of R1 var",
                                               "R2 mean", "R2 var", "SE of R2 var"],
                    [list(map(float, r)) for r in zip(bv.kl, bv.r1_mean, bv.r1_var, bv.r1_var_se,
                                                      bv.r2_mean, bv.r2_var, bv.r2_var_se)]))


def main(argv=None) -> None:
  common.main(run, __doc__, argv)


if __name__ == "__main__":
  main()
