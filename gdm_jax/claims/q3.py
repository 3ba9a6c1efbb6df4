r"""Q3 claims: the importance-weighted bounds L_K (Burda et al. 2016)."""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import logsumexp as np_logsumexp

from gdm_jax import amortized as am
from gdm_jax import bounds, models, stats
from gdm_jax.claims.core import FULL_OPT, Claim, Config, Evidence, claim_key

LATENT, DATA, NOISE = 2, 4, 0.7
K_MAX = 64
R = 4000


@functools.partial(jax.jit, static_argnums=(1,))
def _problem(key, dtype):
  k1, k2 = jax.random.split(key)
  model = models.random_linear_gaussian(k1, LATENT, DATA, NOISE, dtype)
  x = model.sample(k2, 1)[0][0]
  post_mean, post_cov = model.posterior(x)
  q_mean = post_mean + jnp.asarray([0.25, -0.15], dtype)
  q_std = 1.25 * jnp.sqrt(jnp.diagonal(post_cov))
  log_m2 = models.log_second_moment_ratio(post_mean, post_cov, q_mean, jnp.diag(q_std ** 2))
  return model, x, q_mean, q_std, post_mean, post_cov, model.log_marginal(x), log_m2


@functools.lru_cache(maxsize=4)
def problem(seed: int, x64: bool):
  """One LinearGaussian, one x, a proposal q (shifted, inflated mean-field) and exact answers."""
  dtype = jnp.float64 if x64 else jnp.float32
  *arrays, log_px, log_m2 = _problem(claim_key(seed, "q3.problem"), dtype)
  return (*arrays, float(log_px), math.expm1(float(log_m2)))


@functools.partial(jax.jit, static_argnums=(5, 6), compiler_options=FULL_OPT)
def _prefix_replicates(key, model, x, q_mean, q_std, n_rep, k):
  """``[n_rep, k]``: L_hat_j from the first j of k samples, for every j (vmapped replicates)."""
  keys = jax.random.split(key, n_rep)
  lw = jax.vmap(lambda kk: bounds.linear_gaussian_log_weights(kk, model, x, q_mean, q_std, k))(
      keys)
  return bounds.prefix_bounds(lw)


@functools.lru_cache(maxsize=4)
def _replicates(seed: int, x64: bool, n_rep: int):
  model, x, q_mean, q_std, *_ = problem(seed, x64)
  return np.asarray(_prefix_replicates(claim_key(seed, "q3.replicates"), model, x, q_mean, q_std,
                                       n_rep, K_MAX), np.float64)


def _n_rep(cfg):
  return 1000 if cfg.quick else R


def check_upper_bound(key, cfg: Config) -> Evidence:
  *_, log_px, _ = problem(cfg.seed, cfg.x64)
  L = _replicates(cfg.seed, cfg.x64, _n_rep(cfg))
  ks = (1, 8, 64)
  z = cfg.z(two_sided=False, split=len(ks))
  worst = None
  for k in ks:
    m = stats.mean_and_se(L[:, k - 1])
    t = (m.mean - log_px) / m.se
    if worst is None or t > worst[0]:
      worst = (t, k, m)
  _, k, m = worst
  return Evidence(float(m.mean), log_px, z * float(m.se), "<=", cfg.z_origin(z, False, len(ks)),
                  f"worst K = {k} of {ks}: mean of {m.n} replicates of L_K vs exact log p(x)")


def check_tighter_than_elbo(key, cfg: Config) -> Evidence:
  L = _replicates(cfg.seed, cfg.x64, _n_rep(cfg))
  d = stats.mean_and_se(L[:, K_MAX - 1] - L[:, 0])  # paired: same samples
  z = cfg.z(two_sided=False)
  return Evidence(float(d.mean), 0.0, z * float(d.se), ">=", cfg.z_origin(z, False),
                  f"L_{K_MAX} - L_1 (paired replicates): {d.mean:.4f} +- {d.se:.1e}")


def check_monotone(key, cfg: Config) -> Evidence:
  L = _replicates(cfg.seed, cfg.x64, _n_rep(cfg))
  diffs = L[:, 1:] - L[:, :-1]
  m = stats.mean_and_se(diffs, axis=0)
  t = m.mean / m.se
  j = int(np.argmin(t))
  z = cfg.z(two_sided=False, split=K_MAX - 1)
  return Evidence(float(m.mean[j]), 0.0, z * float(m.se[j]), ">=",
                  cfg.z_origin(z, False, K_MAX - 1),
                  f"worst of K = 1..{K_MAX - 1}: L_(K+1) - L_K at K = {j + 1} (paired prefixes)")


@functools.partial(jax.jit, static_argnums=(5, 6), compiler_options=FULL_OPT)
def _iwae_replicates(key, model, x, q_mean, q_std, n_rep, k):
  keys = jax.random.split(key, n_rep)
  return jax.vmap(lambda kk: bounds.iwae_bound(
      bounds.linear_gaussian_log_weights(kk, model, x, q_mean, q_std, k)))(keys)


def check_consistency(key, cfg: Config) -> Evidence:
  model, x, q_mean, q_std, _, _, log_px, chi2 = problem(cfg.seed, cfg.x64)
  k, n = 1024, (500 if cfg.quick else 2000)
  L = np.asarray(_iwae_replicates(key, model, x, q_mean, q_std, n, k), np.float64)
  gap = stats.mean_and_se(log_px - L)
  ref = chi2 / (2 * k)
  z = cfg.z()
  return Evidence(float(gap.mean), ref, z * float(gap.se), "==", cfg.z_origin(z),
                  f"log p(x) - L_K at K={k}: {gap.mean:.2e} vs Var(w)/(2K E[w]^2) = {ref:.2e} "
                  f"(chi^2(p(z|x)||q) = {chi2:.4f}, closed form)")


EXACT_KS = (1, 7, 64)


@functools.partial(jax.jit, static_argnums=(4, 5))
def _posterior_replicates(key, model, x, post_mean_cov, n_rep, ks):
  """``[n_rep]`` replicates of L_K with q = p(z|x) for each K in ``ks`` (one program)."""
  pm, pc = post_mean_cov
  prop = bounds.full_gaussian_proposal(pm, pc)
  out = []
  for i, k in enumerate(ks):
    keys = jax.random.split(jax.random.fold_in(key, i), n_rep)
    out.append(jax.vmap(lambda kk, k=k: bounds.iwae_estimate(kk, lambda z: model.log_joint(x, z),
                                                             prop, k))(keys))
  return out


def check_exact_posterior(key, cfg: Config) -> Evidence:
  model, x, _, _, pm, pc, log_px, _ = problem(cfg.seed, cfg.x64)
  reps = _posterior_replicates(key, model, x, (pm, pc), 64, EXACT_KS)
  errs = {k: float(np.max(np.abs(np.asarray(L, np.float64) - log_px)) / max(1.0, abs(log_px)))
          for k, L in zip(EXACT_KS, reps)}
  return Evidence(max(errs.values()), 0.0, cfg.rtol, "==", cfg.dtype_origin(),
                  f"max rel. |L_K - log p(x)| over 64 replicates each, K in {EXACT_KS}, q = exact "
                  "posterior (zero variance)", errs)


@jax.jit
def _closed_form_elbo(model, x, q_mean, q_std):
  return am.closed_form_elbo(model, x, q_mean, q_std)


def check_elbo(key, cfg: Config) -> Evidence:
  model, x, q_mean, q_std, *_ = problem(cfg.seed, cfg.x64)
  n = 20_000 if cfg.quick else 200_000
  L1 = np.asarray(_iwae_replicates(key, model, x, q_mean, q_std, n, 1), np.float64)
  m = stats.mean_and_se(L1)
  ref = float(_closed_form_elbo(model, x, q_mean, q_std))
  z = cfg.z()
  return Evidence(float(m.mean), ref, z * float(m.se), "==", cfg.z_origin(z),
                  f"mean of {n} one-sample L_1 vs closed-form ELBO")


@functools.partial(jax.jit, static_argnums=(1, 2, 3), compiler_options=FULL_OPT)
def _lognormal_bias(key, n_rep, k, s):
  log_w = s * jax.random.normal(key, (n_rep, k))
  return bounds.iwae_bound(log_w)


def check_bias_law(key, cfg: Config) -> Evidence:
  r"""K (log E w - L_K) = c2/2 - (c3/3 - 3 c2^2/4)/K + O(K^-2) for log w ~ N(0, s^2)."""
  # s = 0.6: the relative standard error of K(log E w - L_K) is 2 sqrt(K / (n c2)), so a larger
  # Var(w) buys the precision of s = 0.3 with a quarter of the samples; the neglected K^-2 term
  # (~c2^3/K^2 = 2e-4) stays far below z x SE (~0.02).
  s, k = 0.6, 20
  n = 50_000 if cfg.quick else 500_000
  L = np.asarray(_lognormal_bias(key, n, k, s), np.float64)
  log_mu = s * s / 2
  est = stats.mean_and_se(k * (log_mu - L))
  c2 = math.expm1(s * s)
  c3 = (math.exp(s * s) + 2) * c2 ** 2
  ref = c2 / 2 - (c3 / 3 - 0.75 * c2 ** 2) / k
  remainder = c2 ** 3 / k ** 2  # order of the neglected K^-2 term, added to the tolerance
  z = cfg.z()
  return Evidence(float(est.mean), ref, z * float(est.se) + remainder, "==",
                  cfg.z_origin(z) + f" + O(K^-2) remainder {remainder:.1e}",
                  f"K(log E[w] - L_K), K={k}, log w ~ N(0, {s}^2), {n} replicates; first-order law "
                  f"Var(w)/(2E[w]^2) = {c2 / 2:.5f}")


@functools.partial(jax.jit, static_argnums=(4, 5, 6), compiler_options=FULL_OPT)
def _one_shot_vs_chunked(key, model, x, q_prop, n_rep, k, chunk):
  qm, qs = q_prop
  k1, k2 = jax.random.split(key)
  prop = bounds.diag_gaussian_proposal(qm, qs)
  f = lambda kk, c: bounds.iwae_estimate(kk, lambda z: model.log_joint(x, z), prop, k, c)
  a = jax.vmap(lambda kk: f(kk, None))(jax.random.split(k1, n_rep))
  b = jax.vmap(lambda kk: f(kk, chunk))(jax.random.split(k2, n_rep))
  return a, b


def check_chunked(key, cfg: Config) -> Evidence:
  model, x, q_mean, q_std, *_ = problem(cfg.seed, cfg.x64)
  a, b = _one_shot_vs_chunked(key, model, x, (q_mean, q_std), 2000, 500, 96)
  ma, mb = stats.mean_and_se(np.asarray(a)), stats.mean_and_se(np.asarray(b))
  se = math.hypot(ma.se, mb.se)
  z = cfg.z()
  return Evidence(float(mb.mean), float(ma.mean), z * se, "==", cfg.z_origin(z),
                  "chunked (5 chunks of 96, remainder 20) vs one-shot L_K, K=500, 2000 replicates "
                  "each, independent keys")


@jax.jit
def _bounds_of(cases):
  return [bounds.iwae_bound(lw) for lw in cases]


def check_extreme_log_weights(key, cfg: Config) -> Evidence:
  cases = {
      "+1e4 offset": np.array([1e4, 1e4 - 1.0, 1e4 - 3.0, 1e4 + 0.5]),
      "-1e4 offset": np.array([-1e4, -1e4 + 2.0, -1e4 - 7.0]),
      "mixed 1e4": np.array([1e4, -1e4, 0.0]),
      "-inf entries": np.array([-np.inf, 0.3, -np.inf, -1.0]),
  }
  errs = {}
  got = _bounds_of(tuple(lw.astype(cfg.dtype) for lw in cases.values()) +
                   (np.full((5,), -np.inf, cfg.dtype),))
  for (name, lw), g in zip(cases.items(), got):
    ref = float(np_logsumexp(lw.astype(np.float32 if not cfg.x64 else np.float64)) -
                math.log(lw.size))
    errs[name] = abs(float(g) - ref) / max(1.0, abs(ref))
  errs["all -inf -> -inf"] = 0.0 if float(got[-1]) == -np.inf else np.inf
  return Evidence(max(errs.values()), 0.0, cfg.rtol, "==", cfg.dtype_origin(),
                  "iwae_bound vs scipy logsumexp for log-weights of magnitude 1e4 and -inf; all "
                  "-inf gives -inf", errs)


CLAIMS = [
    Claim("q3.upper_bound", "Q3.1", "theorem", "L_K <= log p(x) (K = 1, 8, 64)",
          check_upper_bound, shares="q3.replicates", stochastic=True),
    Claim("q3.tighter_than_elbo", "Q3.2", "theorem", "L_K >= L_1 (K = 64)",
          check_tighter_than_elbo, shares="q3.replicates", stochastic=True),
    Claim("q3.monotone_in_k", "Q3.2", "theorem", "L_(K+1) >= L_K for K = 1..63",
          check_monotone, shares="q3.replicates", stochastic=True),
    Claim("q3.elbo_is_l1", "Q3", "theorem", "L_1 equals the closed-form ELBO", check_elbo,
          stochastic=True),
    Claim("q3.consistency", "Q3", "theorem",
          "L_K -> log p(x): gap at K=1024 matches Var(w)/(2K E[w]^2)", check_consistency,
          stochastic=True),
    Claim("q3.bias_law", "Q3", "theorem",
          "K (log p(x) - L_K) -> Var(w)/(2 E[w]^2) (log-normal weights; reference to 2nd order)",
          check_bias_law, stochastic=True),
    Claim("q3.exact_posterior", "Q3", "theorem",
          "q = p(h|x) gives L_K = log p(x) exactly, zero variance, every K", check_exact_posterior),
    Claim("q3.chunked_matches_one_shot", "Q3", "theorem",
          "the chunked running-logsumexp L_K agrees with the one-shot estimator", check_chunked,
          stochastic=True),
    Claim("q3.extreme_log_weights", "Q3", "theorem",
          "log-mean-exp is exact for |log w| ~ 1e4 and -inf entries", check_extreme_log_weights),
]
