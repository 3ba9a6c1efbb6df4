"""Q3: L_K versus K, bias and variance versus K, gradient SNR versus K (IWAE and DReG)."""
import jax
import jax.numpy as jnp

from gdm_jax import sweeps
from gdm_jax.claims import q3
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
  fig, ax = plt.subplots(1, 2, figsize=(10, 4))
  ax[0].errorbar(s.ks, s.mean, yerr=1.96 * s.se, fmt="o-", label="L_K (95% CI)")
  ax[0].axhline(s.log_px, color="k", ls="--", label="exact log p(x)")
  ax[0].set(xscale="log", xlabel="K", ylabel="nats", title="L_K increases to log p(x)")
  ax[0].legend()
  ax[1].errorbar(s.ks, s.bias, yerr=1.96 * s.se, fmt="o-",
                 label=f"bias log p - L_K (slope {bias_slope:.2f} where > 3 SE)")
  ax[1].loglog(s.ks, s.var, "s-", label=f"variance of L_K-hat (slope {var_slope:.2f})")
  ax[1].set(xlabel="K", xscale="log", yscale="log", title="bias and variance fall with K")
  ax[1].legend()
  save(fig, out, "q3_lk_vs_k")
  print(write_table(out, "q3_lk_vs_k", ["K", "mean L_K", "SE", "bias", "variance"],
                    [[int(k), m, e, b, v] for k, m, e, b, v in zip(s.ks, s.mean, s.se, s.bias,
                                                                   s.var)]))
  print(f"log p(x) = {s.log_px:.5f}; bias slope {bias_slope:.3f}, variance slope {var_slope:.3f}")

  sk = [1, 4, 16, 64] if quick else [1, 4, 16, 64, 256, 1024]
  snr = sweeps.snr_sweep(jax.random.fold_in(key, 99), model, x, q_mean, jnp.log(q_std), sk,
                         200 if quick else 1000)
  slopes = {n: sweeps.loglog_slope(snr.ks, getattr(snr, n))
            for n in ("encoder_iwae", "encoder_dreg", "decoder_iwae")}
  fig, ax = plt.subplots(figsize=(5.5, 4))
  for n, v in slopes.items():
    ax.loglog(snr.ks, getattr(snr, n), "o-", label=f"{n} (slope {v:.2f})")
  ax.set(xlabel="K", ylabel="mean |E g| / std g", title="gradient SNR vs K")
  ax.legend()
  save(fig, out, "q3_snr_vs_k")
  print(write_table(out, "q3_snr_vs_k", ["K", "encoder IWAE", "encoder DReG", "decoder"],
                    [[int(k), a, b, c] for k, a, b, c in zip(snr.ks, snr.encoder_iwae,
                                                             snr.encoder_dreg,
                                                             snr.decoder_iwae)]))
  print("SNR slopes (Rainforth et al. predict about -0.5 encoder IWAE, +0.5 decoder):", slopes)


def main(argv=None) -> None:
  common.main(run, __doc__, argv)


if __name__ == "__main__":
  main()
