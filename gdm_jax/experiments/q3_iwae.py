"""Q3: L_K versus K, bias and variance versus K, gradient SNR versus K (IWAE and DReG)."""
import jax
import jax.numpy as jnp
import numpy as np

from gdm_jax import sweeps
from gdm_jax.problems import q3
from gdm_jax.experiments import common
from gdm_jax.experiments.common import out_dir, plt, save, write_table


def run(out, quick: bool = False, seed: int = 0) -> None:
  """Writes this experiment's figures and tables into ``out``."""
  out = out_dir(out)
  model, x, q_mean, q_std, *_ = q3.problem(seed, False)
  key = jax.random.key(seed)
  ks = [1, 2, 4, 8, 16, 32] if quick else [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
  reps = 200 if quick else 2000
  s = sweeps.lk_sweep(key, model, x, q_mean, q_std, ks, reps)
  resolved = s.bias > 3 * s.se  # fit the bias slope only where the bias is resolved (> 3 SE)
  bias_slope = sweeps.loglog_slope(s.ks[resolved], s.bias[resolved])
  var_slope = sweeps.loglog_slope(s.ks, s.var)
  ci = 1.96  # 95% intervals (normal: at least 200 replicates)
  fig, ax = plt.subplots(1, 3, figsize=(14, 4))
  ax[0].errorbar(s.ks, s.mean, yerr=ci * s.se, fmt="o-", capsize=3, label="L_K (95% CI)")
  ax[0].axhline(s.log_px, color="k", ls="--", label="exact log p(x)")
  ax[0].set(xscale="log", xlabel="K (importance samples)", ylabel="L_K (nats)",
            title="L_K increases to log p(x)")
  ax[0].legend()
  # The bias estimate log p(x) - mean is negative where noise exceeds the bias (large K): a
  # symmetric log axis shows those points instead of dropping them; linear within +-linthresh.
  linthresh = float(10 ** np.floor(np.log10(np.min(s.se))))
  ax[1].errorbar(s.ks, s.bias, yerr=ci * s.se, fmt="o-", capsize=3,
                 label=f"log p(x) - mean L_K (95% CI)\nslope {bias_slope:.2f} where > 3 SE")
  ax[1].axhline(0.0, color="k", lw=0.8)
  neg = s.bias < 0
  if neg.any():
    ax[1].plot(s.ks[neg], s.bias[neg], "rx", ms=9, label=f"{int(neg.sum())} negative estimate(s)")
  ax[1].set(xscale="log", xlabel="K (importance samples)", ylabel="bias (nats, symlog axis)",
            title=f"bias falls with K (symlog: linear within +-{linthresh:.1g})")
  ax[1].set_yscale("symlog", linthresh=linthresh, linscale=0.5)
  # Ticks at 0 and at decades from 10 x linthresh outwards (the +-linthresh ones would overlap 0).
  lo = float(np.min(s.bias - ci * s.se))
  hi = float(np.max(s.bias + ci * s.se))
  up = [10.0 ** k for k in range(int(np.log10(linthresh)) + 1, int(np.ceil(np.log10(hi))) + 1)]
  down = ([-(10.0 ** k) for k in range(int(np.log10(linthresh)) + 1,
                                        int(np.ceil(np.log10(-lo))) + 1)] if lo < 0 else [])
  ax[1].set_yticks(sorted(down + [0.0] + up))
  ax[1].legend(fontsize=8)
  band = ci * s.var_se
  ax[2].fill_between(s.ks, np.maximum(s.var - band, s.var * 1e-3), s.var + band, alpha=0.3,
                     label="95% CI (SE from the 4th moment)")
  ax[2].loglog(s.ks, s.var, "s-", label=f"variance of one L_K estimate (slope {var_slope:.2f})")
  ax[2].set(xlabel="K (importance samples)", ylabel="variance (nats^2)",
            title="variance falls with K")
  ax[2].legend(fontsize=8)
  save(fig, out, "q3_lk_vs_k")
  print(write_table(out, "q3_lk_vs_k", ["K", "mean L_K (nats)", "SE", "bias (nats)",
                                        "variance (nats^2)", "SE of variance"],
                    [[int(k), m, e, b, v, vs] for k, m, e, b, v, vs in
                     zip(s.ks, s.mean, s.se, s.bias, s.var, s.var_se)]))
  print(f"log p(x) = {s.log_px:.5f}; bias slope {bias_slope:.3f}, variance slope {var_slope:.3f}")

  sk = [1, 4, 16, 64] if quick else [1, 4, 16, 64, 256, 1024]
  snr = sweeps.snr_sweep(jax.random.fold_in(key, 99), model, x, q_mean, jnp.log(q_std), sk,
                         200 if quick else 1000)
  slopes = {n: sweeps.loglog_slope(snr.ks, getattr(snr, n))
            for n in ("encoder_iwae", "encoder_dreg", "decoder_iwae")}
  fig, ax = plt.subplots(figsize=(6, 4.2))
  for n, v in slopes.items():
    line, = ax.loglog(snr.ks, getattr(snr, n), "o-", label=f"{n} (slope {v:.2f})")
    lo, hi = snr.ci[n].T
    ax.fill_between(snr.ks, lo, hi, color=line.get_color(), alpha=0.25)
  ax.set(xlabel="K (importance samples)", ylabel="SNR = mean |E g| / std g (dimensionless)",
         title="gradient SNR vs K (bands: 95% bootstrap CI)")
  ax.legend()
  save(fig, out, "q3_snr_vs_k")
  print(write_table(out, "q3_snr_vs_k", ["K", "encoder IWAE SNR", "encoder DReG SNR",
                                         "decoder SNR"],
                    [[int(k), a, b, c] for k, a, b, c in zip(snr.ks, snr.encoder_iwae,
                                                             snr.encoder_dreg,
                                                             snr.decoder_iwae)]))
  print("SNR slopes (Rainforth et al. predict about -0.5 encoder IWAE, +0.5 decoder):", slopes)


def main(argv=None) -> None:
  common.main(run, __doc__, argv)


if __name__ == "__main__":
  main()
