"""Q3: L_K versus K, bias and variance versus K, gradient SNR versus K (IWAE and DReG)."""
from __future__ import annotations

from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gdm_jax import bounds, models, sweeps, validation as v
from gdm_jax.problems import q3
from gdm_jax.experiments import common
from gdm_jax.experiments.common import out_dir, plt, save, write_table


class LkSweep(NamedTuple):
  ks: np.ndarray        # [nK]
  mean: np.ndarray      # [nK] mean of L_K over replicates
  se: np.ndarray        # [nK]
  var: np.ndarray       # [nK] variance of the one-replicate estimator
  bias: np.ndarray      # [nK] log p(x) - mean
  log_px: float
  seconds: float
  var_slope: sweeps.Slope | None = None    # with its interval (estimator_sweep)
  bias_slope: sweeps.Slope | None = None
  var_se: np.ndarray | None = None  # [nK] standard error of ``var`` (from the 4th moment)


def lk_sweep(key, model, x, q_mean, q_std, ks: Sequence[int], replicates: int,
             chunk_size: int | None = None) -> LkSweep:
  """Replicates of L_K for each K (vmapped, sharded over devices), with exact log p(x): a use of
  :func:`gdm_jax.sweeps.estimator_sweep` with the LinearGaussian's estimator and its exact evidence.

  ``x [D]``, ``q_mean, q_std [d]``, ``ks`` ints >= 1, ``replicates >= 2`` (the standard error
  needs two). Validated here, before the jitted and vmapped estimator, where the value checks
  cannot run: a ``q_std <= 0`` would otherwise give NaN means."""
  bounds.check_linear_gaussian_args(model, x, q_mean, q_std, batched=False)
  if isinstance(ks, (str, bytes)) or np.ndim(ks) != 1 or len(ks) == 0:
    raise ValueError(f"`ks` must be a non-empty sequence of ints >= 1; got {ks!r}.")
  ks = [v.check_int("ks", k) for k in ks]
  replicates = v.check_int("replicates", replicates, minimum=2)
  if chunk_size is not None:
    chunk_size = v.check_int("chunk_size", chunk_size)
  log_px = float(model.log_marginal(x))
  prop = bounds.diag_gaussian_proposal(q_mean, q_std)
  est = lambda kk, k: bounds.iwae_estimate(kk, lambda z: model.log_joint(x, z), prop, k,
                                           chunk_size)
  s = sweeps.estimator_sweep(key, est, ks, replicates, reference=log_px)
  return LkSweep(s.ks, s.mean, s.se, s.var, s.bias, log_px, s.seconds, s.var_slope,
                 s.bias_slope, s.var_se)


class SnrSweep(NamedTuple):
  """Gradient SNR versus K of the three gradients of Rainforth et al. (2018)."""
  ks: np.ndarray
  encoder_iwae: np.ndarray   # [nK] debiased RMS SNR of the encoder gradient, IWAE estimator
  encoder_dreg: np.ndarray   # [nK] the same for the DReG estimator
  decoder_iwae: np.ndarray   # [nK] the same for the decoder gradient (IWAE)
  se: dict                   # name -> [nK] jackknife standard error (inf where the SNR is 0)
  slopes: dict               # name -> sweeps.Slope | None (d log SNR / d log K, 95% interval)
  constant: dict             # name -> [nK] gradient entries with zero variance (left out)


SNR_NAMES = ("encoder_iwae", "encoder_dreg", "decoder_iwae")


def snr_sweep(key, model, x, q_mean, q_log_std, ks: Sequence[int], replicates: int
              ) -> SnrSweep:
  r"""Signal-to-noise ratio of the IWAE encoder, DReG encoder and IWAE decoder gradients of
  :math:`L_K` for each K on the LinearGaussian ``model``: a use of
  :func:`gdm_jax.sweeps.grad_snr_sweep`, so the debiased root mean square over parameters

  .. math:: \widehat{\mathrm{SNR}}^2 = \frac1P \sum_p \Big(\frac{\bar g_p^2}{s_p^2}
     - \frac1R\Big)

  with its jackknife SE (the mean of :math:`|\bar g_p| / s_p` has a floor at
  :math:`\sqrt{2/(\pi R)}` that flattens a falling SNR). The encoder gradients are taken with
  respect to ``(q_mean, q_log_std)`` (concatenated), the decoder's with respect to ``model.W``.

  Args:
    key: a PRNG key.
    model: a :class:`gdm_jax.models.LinearGaussian`.
    x: ``[D]`` one data point; ``q_mean, q_log_std``: ``[d]`` the proposal.
    ks: ints >= 1; ``replicates``: gradient draws per K (an int >= 4).
  Returns:
    :class:`SnrSweep`.
  """
  d = q_mean.shape[0]

  def grads(kk, k):
    eps = jax.random.normal(kk, (k, d), x.dtype)
    gm, gs, gw = jax.grad(lambda m, ls, W: bounds.iwae_surrogates(
        eps, models.LinearGaussian(W, model.b, model.noise_std), m, ls, x).iwae,
        argnums=(0, 1, 2))(q_mean, q_log_std, model.W)
    dm, ds_ = jax.grad(lambda m, ls: bounds.iwae_surrogates(eps, model, m, ls, x).dreg,
                       argnums=(0, 1))(q_mean, q_log_std)
    return {"encoder_iwae": jnp.concatenate([gm, gs], -1),
            "encoder_dreg": jnp.concatenate([dm, ds_], -1), "decoder_iwae": gw}

  sw = sweeps.grad_snr_sweep(key, grads, ks, replicates)
  leaf = {n: f"['{n}']" for n in SNR_NAMES}
  return SnrSweep(sw.ks, *(sw.snr[leaf[n]] for n in SNR_NAMES),
                  {n: sw.snr_se[leaf[n]] for n in SNR_NAMES},
                  {n: sw.slopes[leaf[n]] for n in SNR_NAMES},
                  {n: sw.constant[leaf[n]] for n in SNR_NAMES})


def run(out, quick: bool = False, seed: int = 0) -> None:
  """Writes this experiment's figures and tables into ``out``."""
  out = out_dir(out)
  model, x, q_mean, q_std, *_ = q3.problem(seed, False)
  key = jax.random.key(seed)
  ks = [1, 2, 4, 8, 16, 32] if quick else [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
  reps = 200 if quick else 2000
  s = lk_sweep(key, model, x, q_mean, q_std, ks, reps)
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
  snr = snr_sweep(jax.random.fold_in(key, 99), model, x, q_mean, jnp.log(q_std), sk,
                  200 if quick else 1000)
  slopes = {n: snr.slopes[n] for n in SNR_NAMES}
  fig, ax = plt.subplots(figsize=(6, 4.2))
  for n, sl in slopes.items():
    y = getattr(snr, n)
    ok = (y > 0) & np.isfinite(snr.se[n])  # an estimate of 0 is unresolved: no point on a log axis
    zero = "" if ok.all() else f"; 0 at K = {', '.join(str(int(k)) for k in snr.ks[~ok])}"
    line, = ax.loglog(snr.ks[ok], y[ok], "o-", label=(f"{n} (slope {sl}" if sl else f"{n} (")
                      + zero + ")")
    half = np.minimum(1.96 * snr.se[n][ok], 0.9 * y[ok])  # log axis: the band stops at 0.1 x
    ax.fill_between(snr.ks[ok], y[ok] - half, y[ok] + 1.96 * snr.se[n][ok],
                    color=line.get_color(), alpha=0.25)
  ax.set(xlabel="K (importance samples)",
         ylabel="SNR, debiased RMS of |E g| / sd g (dimensionless)",
         title="gradient SNR vs K (bands: 95% CI, jackknife SE)")
  ax.legend(fontsize=7)
  save(fig, out, "q3_snr_vs_k")
  print(write_table(out, "q3_snr_vs_k", ["K", "encoder IWAE SNR", "SE", "encoder DReG SNR", "SE",
                                         "decoder SNR", "SE", "zero-variance entries"],
                    [[int(k)] + [float(a) for n in SNR_NAMES
                                 for a in (getattr(snr, n)[i], snr.se[n][i])]
                     + [sum(int(snr.constant[n][i]) for n in SNR_NAMES)]
                     for i, k in enumerate(snr.ks)]))
  print("SNR slopes (Rainforth et al. predict about -0.5 encoder IWAE, +0.5 decoder):",
        {n: str(sl) for n, sl in slopes.items()})


def main(argv=None) -> None:
  common.main(run, __doc__, argv)


if __name__ == "__main__":
  main()
