"""Q6: R1 (NWJ) and R2 (DV) maximised with a flax critic; estimator variance versus the KL."""
import jax
import numpy as np

from gdm_jax import sweeps
from gdm_jax.problems import densities as ds, q6
from gdm_jax.experiments import common
from gdm_jax.experiments.common import out_dir, plt, save, write_table


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
  bv = sweeps.bound_variance(jax.random.key(seed), gaps, n=256, replicates=reps)
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
