r"""Gradient estimators of L_K for the encoder: IWAE (reparameterised), STL (Roeder et al. 2017)
and DReG (Tucker et al. 2019), through ``bounds.iwae_surrogates``; their signal-to-noise ratios
versus K (Rainforth et al. 2018)."""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import logsumexp as np_logsumexp

from gdm_jax import bounds, models, stats, sweeps
from gdm_jax.claims.core import FULL_OPT, Claim, Config, Evidence, claim_key

LATENT, DATA, NOISE, K = 2, 4, 0.7, 8


@functools.partial(jax.jit, static_argnums=(1,))
def _problem(key, dtype):
  """A LinearGaussian whose W has orthogonal columns, so p(z|x) is a diagonal Gaussian (the
  encoder family contains it), and one x."""
  k1, k2, k3 = jax.random.split(key, 3)
  q, _ = jnp.linalg.qr(jax.random.normal(k1, (DATA, LATENT), dtype))
  model = models.LinearGaussian(q * jnp.asarray([1.3, 0.7], dtype),
                                jax.random.normal(k2, (DATA,), dtype), jnp.asarray(NOISE, dtype))
  x = model.sample(k3, 1)[0][0]
  pm, pc = model.posterior(x)
  return model, x, pm, jnp.sqrt(jnp.diagonal(pc))


def _encoder_grads(key, model, x, m, log_s, n, wrong=False):
  """``[n, 2d]`` encoder gradients (mean, log-std) of the IWAE, STL and DReG surrogates, paired
  draws; ``wrong=True`` also gives the DReG variant with w_tilde for w_tilde^2 (the effect size)."""
  def one(k):
    eps = jax.random.normal(k, (K, LATENT), x.dtype)
    out = [jnp.concatenate(jax.grad(lambda a, b: getattr(bounds.iwae_surrogates(
        eps, model, a, b, x), name), (0, 1))(m, log_s)) for name in ("iwae", "stl", "dreg")]
    if wrong:
      def dreg1(a, b):  # sum sg(w_tilde) log w: the plausible slip
        z = a + jnp.exp(b) * eps
        lw = model.log_joint(x, z) - models.diag_gaussian_log_prob(
            z, jax.lax.stop_gradient(a), jax.lax.stop_gradient(jnp.exp(b)))
        return jnp.sum(jax.lax.stop_gradient(jax.nn.softmax(lw)) * lw)
      out.append(jnp.concatenate(jax.grad(dreg1, (0, 1))(m, log_s)))
    return out
  return jax.vmap(one)(jax.random.split(key, n))


@functools.partial(jax.jit, static_argnums=(2,))
def _at_posterior(key, dtype_key, dtype):
  model, x, pm, ps = _problem(dtype_key, dtype)
  return _encoder_grads(key, model, x, pm, jnp.log(ps), 64)


def _zero_check(name, index):
  def check(key, cfg: Config) -> Evidence:
    grads = [np.asarray(a, np.float64) for a in _at_posterior(
        key, claim_key(cfg.seed, "grad.problem"), cfg.dtype)]
    gi, g = grads[0], grads[index]
    scale = max(1.0, float(np.max(np.abs(gi))))
    return Evidence(float(np.max(np.abs(g))), 0.0, cfg.rtol * scale, "==",
                    cfg.dtype_origin().replace("|ref|", "max|IWAE gradient|"),
                    f"max |{name} encoder gradient| over 64 draws of K = {K} at q = p(z|x) "
                    f"(diagonal posterior); the IWAE encoder gradient there has RMS "
                    f"{np.sqrt(np.mean(gi ** 2)):.3f}",
                    effect=float(np.sqrt(np.mean(gi ** 2))),
                    effect_what="the RMS of the IWAE encoder gradient there (its score noise)")
  return check


check_dreg_zero = _zero_check("DReG", 2)
check_stl_zero = _zero_check("STL", 1)


N_UNBIASED = 20_000


@functools.partial(jax.jit, static_argnums=(2,), compiler_options=FULL_OPT)
def _off_posterior(key, dtype_key, dtype):
  model, x, pm, ps = _problem(dtype_key, dtype)
  m = pm + jnp.asarray([0.4, -0.3], dtype)
  log_s = jnp.log(1.4 * ps)
  return _encoder_grads(key, model, x, m, log_s, N_UNBIASED, wrong=True)


def check_dreg_unbiased(key, cfg: Config) -> Evidence:
  gi, _, gd, gw = (np.asarray(a, np.float64) for a in _off_posterior(
      key, claim_key(cfg.seed, "grad.problem"), cfg.dtype))
  diff = stats.mean_and_se(gd - gi, axis=0)       # paired: the same draws
  zs = np.abs(diff.mean) / diff.se
  split = gd.shape[1]
  z = cfg.z(split=split)
  wrong = stats.mean_and_se(gw - gi, axis=0)
  effect = float(np.max(np.abs(wrong.mean) / wrong.se))
  return Evidence(float(zs.max()), 0.0, z, "==", cfg.z_origin(z, True, split),
                  f"max |t| over the {split} encoder parameters of E[DReG - IWAE gradient] "
                  f"(paired, {N_UNBIASED} draws of K = {K}, q off the posterior): "
                  f"{np.round(diff.mean, 5)} +- {np.round(diff.se, 5)}",
                  detects=z + stats.z_for_rate(stats.FALSE_PASS_RATE, False), effect=effect,
                  effect_what="the bias of DReG with w_tilde for w_tilde^2, in standard errors")


# ---------------------------------------------------------------------------------------------
# STL's bias (Roeder et al. 2017; Tucker et al. 2019 show it biased for K > 1 by t-tests).
#
# A one-latent LinearGaussian (d = 1, D = 2) whose posterior N(pm, ps^2) the oracle computes by
# hand, and q = N(pm + 0.5 ps, (1.4 ps)^2). Per draw, STL - IWAE = sum_k w_tilde_k grad_phi log
# q(z_k; phi) at fixed z (the score term IWAE keeps and STL drops), with phi = (mu, log sigma)
# and grad_phi log q = (eps / sigma, eps^2 - 1). Its mean, the STL bias b_K, is a K-dimensional
# Gaussian integral over eps: by Gauss-Hermite quadrature for K = 2, 3 (40 nodes per axis; 30
# nodes agree to 1e-7), and exactly 0 for K = 1 (w_tilde = 1, E[score] = 0).

STL_W, STL_B, STL_NOISE, STL_X = [[1.1], [-0.6]], [0.2, -0.1], 0.8, [0.9, -0.4]
STL_SHIFT, STL_WIDTH = 0.5, 1.4        # q = N(pm + 0.5 ps, (1.4 ps)^2)
STL_KS, N_STL = (1, 2, 3), 4000


def _stl_posterior():
  """The oracle's p(z|x) for the one-latent problem, by hand: precision 1 + |W|^2 / s^2."""
  w, b, x = np.asarray(STL_W)[:, 0], np.asarray(STL_B), np.asarray(STL_X)
  prec = 1.0 + w @ w / STL_NOISE ** 2
  return float(w @ (x - b) / STL_NOISE ** 2 / prec), float(prec ** -0.5)


@functools.lru_cache(maxsize=None)
def stl_bias_quadrature(k: int, nodes: int = 40) -> tuple[np.ndarray, np.ndarray]:
  """Mean b_K and standard deviation of d = sum_k w_tilde_k (eps_k / sigma, eps_k^2 - 1) (one
  paired STL - IWAE draw) by K-dimensional Gauss-Hermite quadrature."""
  pm, ps = _stl_posterior()
  mu, sig = pm + STL_SHIFT * ps, STL_WIDTH * ps
  t, w = np.polynomial.hermite_e.hermegauss(nodes)
  w = w / w.sum()
  e = np.stack(np.meshgrid(*[t] * k, indexing="ij"), -1).reshape(-1, k)
  wt = np.prod(np.stack(np.meshgrid(*[w] * k, indexing="ij"), -1).reshape(-1, k), -1)
  z = mu + sig * e
  lw = -0.5 * ((z - pm) / ps) ** 2 - math.log(ps) + 0.5 * e ** 2 + math.log(sig)
  lw = np.exp(lw - lw.max(1, keepdims=True))
  lw /= lw.sum(1, keepdims=True)
  g = np.stack([(lw * e / sig).sum(1), (lw * (e ** 2 - 1)).sum(1)], -1)
  mean = wt @ g
  return mean, np.sqrt(np.maximum(wt @ g ** 2 - mean ** 2, 0.0))


def _stl_elbo_gradient() -> np.ndarray:
  """The ELBO's gradient in (mu, log sigma), closed form: ELBO = -((mu - pm)^2 + sigma^2) /
  (2 ps^2) + log sigma + const."""
  pm, ps = _stl_posterior()
  mu, sig = pm + STL_SHIFT * ps, STL_WIDTH * ps
  return np.array([-(mu - pm) / ps ** 2, 1.0 - sig ** 2 / ps ** 2])


@functools.partial(jax.jit, static_argnums=(1,))
def _stl_minus_iwae(key, dtype):
  """``[N_STL, 2]`` paired STL - IWAE encoder gradients for each K of ``STL_KS``."""
  model = models.LinearGaussian(jnp.asarray(STL_W, dtype), jnp.asarray(STL_B, dtype),
                                jnp.asarray(STL_NOISE, dtype))
  x = jnp.asarray(STL_X, dtype)
  pm, pc = model.posterior(x)
  ps = jnp.sqrt(jnp.diagonal(pc))
  m, log_s = pm + STL_SHIFT * ps, jnp.log(STL_WIDTH * ps)
  out = []
  for i, k in enumerate(STL_KS):
    def one(kk, k=k):
      eps = jax.random.normal(kk, (k, 1), dtype)
      gi, gs = (jnp.concatenate(jax.grad(lambda a, b: getattr(bounds.iwae_surrogates(
          eps, model, a, b, x), name), (0, 1))(m, log_s)) for name in ("iwae", "stl"))
      return gs - gi
    out.append(jax.vmap(one)(jax.random.split(jax.random.fold_in(key, i), N_STL)))
  return out


def _stl_stats(key, cfg):
  diffs = [np.asarray(a, np.float64) for a in _stl_minus_iwae(key, cfg.dtype)]
  return {k: stats.mean_and_se(d, axis=0) for k, d in zip(STL_KS, diffs)}


def _abs_t(ms) -> np.ndarray:
  """|mean| / SE, 0 where the differences are identically 0 (no evidence of a bias)."""
  with np.errstate(divide="ignore", invalid="ignore"):
    return np.where(ms.se > 0, np.abs(ms.mean) / ms.se, np.where(ms.mean == 0, 0.0, np.inf))


def _oracle_se(k: int) -> np.ndarray:
  """The SE of a mean of N_STL paired draws that the quadrature predicts (the design's, not the
  run's: the power does not depend on what the code under test measures)."""
  return stl_bias_quadrature(k)[1] / math.sqrt(N_STL)


def check_stl_biased(key, cfg: Config) -> Evidence:
  """For K = 2, 3, E[STL - IWAE] (paired draws) equals the STL bias that Gauss-Hermite quadrature
  gives, parameter by parameter, within z x the SE the quadrature predicts for N_STL draws (the
  design's SE, so a wrong estimator cannot widen it); the bias itself is many of those SEs away
  from 0 (the effect), so an STL without bias (or with another one, e.g. uniform weights) fails.
  z is split over the 2 K's x 2 parameters."""
  st = _stl_stats(key, cfg)
  ks = [k for k in STL_KS if k > 1]
  split = 2 * len(ks)
  z = cfg.z(split=split)
  quad = {k: stl_bias_quadrature(k)[0] for k in ks}
  dev = {k: np.abs(st[k].mean - quad[k]) / _oracle_se(k) for k in ks}
  measured = max(float(d.max()) for d in dev.values())
  effect = min(float(np.max(np.abs(quad[k]) / _oracle_se(k))) for k in ks)
  return Evidence(measured, 0.0, z, "==",
                  cfg.z_origin(z, True, split) + " (the SE the quadrature predicts)",
                  "; ".join(f"K = {k}: E[STL - IWAE] = {np.round(st[k].mean, 4)} +- "
                            f"{np.round(st[k].se, 4)}, quadrature {np.round(quad[k], 4)} "
                            f"(|deviation| / SE {np.round(dev[k], 2)}, |t| vs 0 "
                            f"{np.round(_abs_t(st[k]), 1)})" for k in ks) +
                  f"; {N_STL} paired draws each, q = N(pm + {STL_SHIFT} ps, ({STL_WIDTH} ps)^2)",
                  detects=z + stats.z_for_rate(stats.FALSE_PASS_RATE, False), effect=effect,
                  effect_what="the STL bias by quadrature, in SEs (smallest over K = 2, 3): "
                              "what an unbiased STL would miss")


def check_stl_unbiased_k1(key, cfg: Config) -> Evidence:
  """For K = 1 STL is the ELBO's path derivative, unbiased: E[STL - IWAE] = 0 (|t| <= crit)."""
  st = _stl_stats(key, cfg)[1]
  z = cfg.z(split=2)
  t = _abs_t(st)
  elbo = _stl_elbo_gradient()
  return Evidence(float(t.max()), 0.0, z, "==", cfg.z_origin(z, True, 2),
                  f"K = 1: E[STL - IWAE] = {np.round(st.mean, 4)} +- {np.round(st.se, 4)} over "
                  f"{N_STL} paired draws (max |t| over mu, log sigma); the ELBO gradient (closed "
                  f"form) is {np.round(elbo, 4)}",
                  detects=z + stats.z_for_rate(stats.FALSE_PASS_RATE, False),
                  effect=float(np.max(np.abs(elbo) / _oracle_se(1))),
                  effect_what="the ELBO gradient in SEs (an STL that drops the path term is 0, "
                              "off by all of it)")


# ---------------------------------------------------------------------------------------------
# SNR versus K (Rainforth et al. 2018, "Tighter variational bounds are not necessarily better").
#
# Rainforth's toy in one dimension: z ~ N(0, 1), x | z ~ N(W z + b, 1) (W = 1, b = 0.4), x = 1.3,
# so p(z|x) = N(pm, ps^2) with ps^2 = 1/2; the encoder q = N(mu, sigma^2) with mu = pm + ps its
# parameter (sigma fixed, as in Rainforth et al.), sigma = 1.2 ps; the decoder's parameters W, b.
# Asymptotically E[grad_mu L_K] = -grad_mu rho / (2K) + O(K^-2), with rho = Var_q(w) / E_q[w]^2
# (models.log_second_moment_ratio: rho = 0.79 here), and every gradient's sd is O(K^-1/2): the
# encoder's SNR falls as K^-1/2, the decoder's (mean -> grad log p(x)) rises as K^1/2, and
# DReG's encoder SNR does not fall (Tucker et al.; it rises as K^1/2 here, and the claim asks +1/2
# within the bend). The expansion holds for K >> rho and bounded
# weights: sigma > ps bounds w = p(z|x) / q(z), so every moment is finite.
# Regime, measured once (float64, 1e5 replicates, K = 2..256 in powers of 2): local slopes of the
# encoder -0.60 (K 2-4), -0.54, -0.56, -0.56, then -0.39..-0.57 (noisy) to 256; decoder 0.53,
# 0.59, 0.57 (8-16), 0.54, 0.53, 0.51, 0.50 (128-256); DReG 0.10, 0.30, 0.42 (8-16), 0.46,
# 0.50, 0.50, 0.49. A fit over K = 8, 32, 128 is therefore off the asymptote by about 0.035
# (decoder) to 0.05 (encoder) in slope; SNR_BEND = 0.06 bounds that (a measured bound, not a
# derived one), and the tolerance adds it to its z x SE (as q3.variance_law adds its O(1/K) bend).
# K >= 8 is ~10 rho; a fit from K = 1 would be off by ~0.1 (decoder 1 -> 4: 0.45).

SNR_KS, N_SNR = (8, 32, 128), 16000
SNR_BEND = 0.06


@functools.partial(jax.jit, static_argnums=(1,))
def _snr_grads(key, dtype):
  """Per K of ``SNR_KS``: encoder IWAE ``[N]`` (d/d mu), decoder IWAE ``[N, 2]`` (d/d W, b),
  encoder DReG ``[N]``."""
  model = models.LinearGaussian(jnp.ones((1, 1), dtype), jnp.asarray([0.4], dtype),
                                jnp.asarray(1.0, dtype))
  x = jnp.asarray([1.3], dtype)
  pm, pc = model.posterior(x)
  ps = jnp.sqrt(jnp.diagonal(pc))
  m, log_s = pm + ps, jnp.log(1.2 * ps)
  out = []
  for i, k in enumerate(SNR_KS):
    def one(kk, k=k):
      eps = jax.random.normal(kk, (k, 1), dtype)
      sur = lambda a, w, b: bounds.iwae_surrogates(eps, models.LinearGaussian(
          w, b, model.noise_std), a, log_s, x)
      ge, gw, gb = jax.grad(lambda a, w, b: sur(a, w, b).iwae, (0, 1, 2))(m, model.W, model.b)
      gd = jax.grad(lambda a: sur(a, model.W, model.b).dreg)(m)
      return ge[0], jnp.concatenate([gw.ravel(), gb]), gd[0]
    out.append(jax.vmap(one)(jax.random.split(jax.random.fold_in(key, i), N_SNR)))
  return out


SNR_PARTS = (("encoder IWAE", -0.5, "=="), ("decoder IWAE", 0.5, "=="),
             ("encoder DReG", 0.5, "=="))


def check_snr_slopes(key, cfg: Config) -> Evidence:
  """Slopes of log SNR on log K (sweeps.snr_rms, sweeps.fit_loglog at the errors' SE): encoder
  IWAE == -1/2, decoder == +1/2, encoder DReG == +1/2 (it does not fall; asymptotically it rises
  as K^1/2). Measured in units of each slope's SE, less
  the stated regime bend: the largest of (|slope - target| - bend) / SE over the three parts; z
  split over the 3 parts."""
  grads = [[np.asarray(a, np.float64) for a in g] for g in _snr_grads(key, cfg.dtype)]
  z = cfg.z(split=3)
  parts, ts, ses = [], [], []
  for j, (name, target, rel) in enumerate(SNR_PARTS):
    snr = np.array([sweeps.snr_rms(g[j]) for g in grads])
    sl = sweeps.fit_loglog(np.asarray(SNR_KS), snr[:, 0], snr[:, 1], level=1 - cfg.rate / 3,
                           inflate=False)
    if sl is None:
      return Evidence(math.nan, 0.0, z, "==", cfg.z_origin(z, True, 3),
                      f"{name}: SNR not resolved at 3 K's: {snr.tolist()}")
    dev = abs(sl.slope - target) if rel == "==" else target - sl.slope
    ts.append(max(0.0, dev - SNR_BEND) / sl.se)
    ses.append(sl.se)
    parts.append(f"{name}: SNR {', '.join(f'{a:.4f}' for a in snr[:, 0])}, slope {sl} "
                 f"{rel} {target:+.1f}")
  return Evidence(max(ts), 0.0, z, "==", cfg.z_origin(z, True, 3) +
                  f" on (|slope - target| - bend {SNR_BEND}) / SE",
                  f"Rainforth's toy, K = {SNR_KS}, {N_SNR} replicates: " + "; ".join(parts),
                  detects=z + stats.z_for_rate(stats.FALSE_PASS_RATE, False),
                  effect=min((0.5 - SNR_BEND) / se for se in ses),
                  effect_what="a slope error of 1/2 (slope 0: noise that does not average) less "
                              "the bend, in the least precise part's SEs")


# ---------------------------------------------------------------------------------------------
# VIMCO (Mnih & Rezende 2016): the score-function gradient of L_K with leave-one-out baselines.
#
# On the one-latent problem above (q = N(pm + 0.5 ps, (1.4 ps)^2), K = 3), with the samples z
# stopped (no path derivative: the estimator for latents that cannot be reparameterised). Per
# draw both score-function estimators are functions of eps in R^3, so their means and variances
# are 3-dimensional Gauss-Hermite integrals (40 nodes per axis; 30 agree to 1e-7): the oracle
# writes VIMCO and REINFORCE from the paper in numpy, and the exact gradient of L_3 is central
# differences of L_3(mu, log sigma) by the same quadrature (no gradient formula).

VIMCO_K, N_VIMCO, VIMCO_NODES = 3, 8000, 40


def _stl_log_px() -> float:
  w, b, x = np.asarray(STL_W), np.asarray(STL_B), np.asarray(STL_X)
  c = w @ w.T + STL_NOISE ** 2 * np.eye(len(b))
  r = x - b
  return float(-0.5 * r @ np.linalg.solve(c, r) - 0.5 * np.linalg.slogdet(2 * np.pi * c)[1])


def _gh_grid(k: int, nodes: int):
  t, w = np.polynomial.hermite_e.hermegauss(nodes)
  w = w / w.sum()
  e = np.stack(np.meshgrid(*[t] * k, indexing="ij"), -1).reshape(-1, k)
  return e, np.prod(np.stack(np.meshgrid(*[w] * k, indexing="ij"), -1).reshape(-1, k), -1)


def _vimco_log_w(mu: float, sig: float, e: np.ndarray) -> np.ndarray:
  """float64 log w = log p(x) + log p(z|x) - log q(z) at z = mu + sig e (Bayes' rule)."""
  pm, ps = _stl_posterior()
  z = mu + sig * e
  return (_stl_log_px() - 0.5 * ((z - pm) / ps) ** 2 - math.log(ps) + 0.5 * e ** 2
          + math.log(sig))


@functools.lru_cache(maxsize=None)
def vimco_quadrature():
  """Exact moments of the per-draw estimators, ``dict`` of float64 arrays over (mu, log sigma):
  ``grad`` (d L_K by central differences), ``vimco``/``reinforce``/``direct`` means and variances
  (``direct``: the signal-free part, what a baseline that keeps sample k leaves), and ``sd_if``,
  the standard deviation of the delta method's influence function of log(Var_V / Var_R) (the
  design SE of the measured log variance ratio is sd_if / sqrt(N))."""
  pm, ps = _stl_posterior()
  mu, sig, k = pm + STL_SHIFT * ps, STL_WIDTH * ps, VIMCO_K
  e, wt = _gh_grid(k, VIMCO_NODES)

  def lk(m, log_s):
    lw = _vimco_log_w(m, math.exp(log_s), e)
    return wt @ (np_logsumexp(lw, 1) - math.log(k))

  h = 1e-5
  grad = np.array([(lk(mu + h, math.log(sig)) - lk(mu - h, math.log(sig))) / (2 * h),
                   (lk(mu, math.log(sig) + h) - lk(mu, math.log(sig) - h)) / (2 * h)])
  lw = _vimco_log_w(mu, sig, e)
  L = np_logsumexp(lw, 1) - math.log(k)
  w_tilde = np.exp(lw - np_logsumexp(lw, 1, keepdims=True))
  score = np.stack([e / sig, e ** 2 - 1], -1)                       # d log q / d(mu, log s)
  direct = -np.sum(w_tilde[..., None] * score, 1)
  loo = np.stack([np_logsumexp(np.concatenate([np.delete(lw, j, 1), np.delete(lw, j, 1).mean(
      1, keepdims=True)], 1), 1) - math.log(k) for j in range(k)], 1)
  est = {"vimco": direct + np.sum((L[:, None] - loo)[..., None] * score, 1),
         "reinforce": direct + L[:, None] * np.sum(score, 1), "direct": direct}
  out = {"grad": grad}
  for name, g in est.items():
    out[name] = wt @ g
    out[name + "_var"] = wt @ (g - out[name]) ** 2
  iv = ((est["vimco"] - out["vimco"]) ** 2 / out["vimco_var"]
        - (est["reinforce"] - out["reinforce"]) ** 2 / out["reinforce_var"])
  out["sd_if"] = np.sqrt(wt @ iv ** 2)
  if np.max(np.abs(out["vimco"] - grad)) > 1e-6 or np.max(np.abs(out["reinforce"] - grad)) > 1e-6:
    raise ValueError(f"quadrature: E[VIMCO] {out['vimco']}, E[REINFORCE] {out['reinforce']} != "
                     f"d L_K {grad}")
  return out


@functools.partial(jax.jit, static_argnums=(1,))
def _vimco_grads(key, dtype):
  """``[N_VIMCO, 2]`` VIMCO and REINFORCE gradients in (mu, log sigma), paired draws, samples
  stopped (score function only)."""
  model = models.LinearGaussian(jnp.asarray(STL_W, dtype), jnp.asarray(STL_B, dtype),
                                jnp.asarray(STL_NOISE, dtype))
  x = jnp.asarray(STL_X, dtype)
  pm, ps = _stl_posterior()
  params = (jnp.asarray([pm + STL_SHIFT * ps], dtype), jnp.asarray([math.log(STL_WIDTH * ps)],
                                                                   dtype))

  def one(kk):
    eps = jax.random.normal(kk, (VIMCO_K, 1), dtype)
    z = jax.lax.stop_gradient(params[0] + jnp.exp(params[1]) * eps)
    lj = model.log_joint(x, z)
    sur = lambda p: bounds.score_function_surrogates(
        lj, models.diag_gaussian_log_prob(z, p[0], jnp.exp(p[1])))
    return tuple(jnp.concatenate(jax.grad(lambda p: getattr(sur(p), name))(params))
                 for name in ("vimco", "reinforce"))
  return jax.vmap(one)(jax.random.split(key, N_VIMCO))


def _vimco_draws(key, cfg):
  return [np.asarray(a, np.float64) for a in _vimco_grads(key, cfg.dtype)]


def check_vimco_unbiased(key, cfg: Config) -> Evidence:
  """E[VIMCO gradient] = d L_K (quadrature, central differences), parameter by parameter, within
  z x the SE the quadrature predicts for N_VIMCO draws (the design's)."""
  gv, _ = _vimco_draws(key, cfg)
  q = vimco_quadrature()
  se = np.sqrt(q["vimco_var"] / N_VIMCO)
  m = gv.mean(0)
  t = np.abs(m - q["grad"]) / se
  z = cfg.z(split=2)
  bias = q["direct"] - q["grad"]
  return Evidence(float(t.max()), 0.0, z, "==",
                  cfg.z_origin(z, True, 2) + " (the SE the quadrature predicts)",
                  f"K = {VIMCO_K}, {N_VIMCO} draws, samples stopped: E[VIMCO] = {np.round(m, 4)} "
                  f"vs d L_K = {np.round(q['grad'], 4)} (quadrature, central differences), "
                  f"design SE {np.round(se, 4)} (|deviation| / SE {np.round(t, 2)})",
                  detects=z + stats.z_for_rate(stats.FALSE_PASS_RATE, False),
                  effect=float(np.max(np.abs(bias) / se)),
                  effect_what="the bias of VIMCO whose baseline keeps sample k (learning "
                              "signal 0), by quadrature, in design SEs")


def check_vimco_variance(key, cfg: Config) -> Evidence:
  """log(Var VIMCO / Var REINFORCE) per parameter (paired draws) equals the quadrature's, within
  z x the delta method's SE (from the quadrature: sd of the influence function / sqrt(N)); the
  quadrature's ratio is far below 1 (the effect: a VIMCO without its baseline has ratio 1)."""
  gv, gr = _vimco_draws(key, cfg)
  q = vimco_quadrature()
  want = np.log(q["vimco_var"] / q["reinforce_var"])
  got = np.log(gv.var(0, ddof=1) / gr.var(0, ddof=1))
  se = q["sd_if"] / math.sqrt(N_VIMCO)
  t = np.abs(got - want) / se
  z = cfg.z(split=2)
  return Evidence(float(t.max()), 0.0, z, "==",
                  cfg.z_origin(z, True, 2) + " (delta-method SE of the log ratio, quadrature)",
                  f"K = {VIMCO_K}, {N_VIMCO} paired draws: log(Var VIMCO / Var REINFORCE) = "
                  f"{np.round(got, 3)} vs quadrature {np.round(want, 3)} (variance ratios "
                  f"{np.round(np.exp(want), 4)}), SE {np.round(se, 4)}",
                  detects=z + stats.z_for_rate(stats.FALSE_PASS_RATE, False),
                  effect=float(np.min(np.abs(want) / se)),
                  effect_what="|log variance ratio| by quadrature in SEs: what VIMCO with the "
                              "plain signal L_K (no baseline, ratio 1) is off by")


CLAIMS = [
    Claim("grad.dreg_zero_at_posterior", "Q3+", "theorem",
          "at q = p(z|x) the DReG encoder gradient is exactly 0 for every draw (IWAE's is not)",
          check_dreg_zero, shares="grad.posterior",
          mistakes=("dreg_log_q_not_stopped",)),
    Claim("grad.dreg_unbiased", "Q3+", "theorem",
          f"DReG's encoder gradient has the IWAE gradient's mean (K = {K}; Tucker et al. 2019)",
          check_dreg_unbiased, stochastic=True,
          mistakes=("dreg_weights_not_squared", "dreg_no_stop_gradient")),
    Claim("grad.stl_zero_at_posterior", "Q3+", "theorem",
          "at q = p(z|x) the STL encoder gradient is exactly 0 for every draw (Roeder et al. 2017)",
          check_stl_zero, shares="grad.posterior",
          mistakes=("stl_no_stop_gradient",)),
    Claim("grad.stl_biased", "Q3+", "theorem",
          "for K = 2, 3 E[STL - IWAE encoder gradient] equals STL's bias by quadrature, many SEs "
          "from 0 (Tucker et al. 2019)", check_stl_biased, stochastic=True, shares="grad.stl",
          mistakes=("stl_uniform_weights", "stl_no_stop_gradient")),
    Claim("grad.stl_unbiased_k1", "Q3+", "theorem",
          "for K = 1 STL is unbiased: E[STL - IWAE encoder gradient] = 0 (the path derivative)",
          check_stl_unbiased_k1, stochastic=True, shares="grad.stl",
          mistakes=("stl_stops_z",)),
    Claim("grad.snr_slopes", "Q3+", "theorem",
          "log SNR vs log K (K = 8..128): encoder IWAE slope -1/2, decoder +1/2, encoder DReG "
          "+1/2 (Rainforth et al. 2018; Tucker et al. 2019)", check_snr_slopes, stochastic=True,
          mistakes=("snr_rms_over_variance",)),
    Claim("grad.vimco_unbiased", "Q3+", "theorem",
          f"VIMCO's score-function gradient (K = {VIMCO_K}) has mean d L_K (quadrature; Mnih & "
          "Rezende 2016)", check_vimco_unbiased, stochastic=True, shares="grad.vimco",
          mistakes=("vimco_baseline_keeps_k", "vimco_signal_not_stopped")),
    Claim("grad.vimco_variance", "Q3+", "theorem",
          f"Var VIMCO / Var REINFORCE (K = {VIMCO_K}) equals the quadrature's ratio, about 1/55",
          check_vimco_variance, stochastic=True, shares="grad.vimco",
          mistakes=("vimco_no_baseline",)),
]
