r"""Mutual-information bounds (beyond Q6): NWJ, DV and InfoNCE from critic scores on Poole et al.
2019's Gaussian benchmark (:math:`x \sim N(0, I_d)`, :math:`y = \rho x + \sqrt{1-\rho^2}\,\epsilon`,
:math:`I = -\tfrac d2 \log(1 - \rho^2)`), through :mod:`gdm_jax.mi`.

The oracles are float64 numpy: log-determinants of the joint covariance for :math:`I`, Gaussian
log-densities for the critic, scipy's ``logsumexp`` for the estimators, and closed forms derived
in the docstrings (the Jensen bracket of InfoNCE, the delta-method bias of DV)."""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
from scipy.special import logsumexp as np_logsumexp

from gdm_jax import mi, stats, sweeps
from gdm_jax.claims import oracles
from gdm_jax.claims.core import Claim, Config, Evidence, claim_key, max_rel_error

D = 20  # the benchmark's dimension (Poole et al.)


def mi64(rho: float, d: int) -> float:
  r"""float64 oracle: :math:`I = \tfrac12(\log|\Sigma_x| + \log|\Sigma_y| - \log|\Sigma_{xy}|)`
  from the joint covariance :math:`[[I, \rho I], [\rho I, I]]` (slogdet, not the closed form)."""
  eye = np.eye(d)
  joint = np.block([[eye, rho * eye], [rho * eye, eye]])
  return -0.5 * float(np.linalg.slogdet(joint)[1])


def log_ratio64(x, y, rho: float) -> np.ndarray:
  r"""float64 oracle :math:`\log p(x_i, y_j) - \log p(x_i) - \log p(y_j)` from Gaussian
  log-densities (Cholesky of the joint covariance): ``x [N, d], y [M, d] -> [N, M]``."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  n, d = x.shape
  m = y.shape[0]
  eye = np.eye(d)
  joint = np.block([[eye, rho * eye], [rho * eye, eye]])
  pairs = np.concatenate([np.repeat(x, m, 0), np.tile(y, (n, 1))], 1)
  lj = oracles.gaussian_logpdf64(pairs, np.zeros(2 * d), joint).reshape(n, m)
  lx = oracles.gaussian_logpdf64(x, np.zeros(d), eye)
  ly = oracles.gaussian_logpdf64(y, np.zeros(d), eye)
  return lj - lx[:, None] - ly[None, :]


# ---------------------------------------------------------------------------------------------
# Deterministic: the benchmark's closed forms and the estimators' formulas.

BENCH_RHOS = (-0.9, -0.3, 0.05, 0.4, 0.7, 0.95, 0.99)
BENCH_DIMS = (1, 5, 20)


@functools.partial(jax.jit, static_argnums=(3,))
def _bench(rhos, x, y, dtype):
  mis = jnp.stack([mi.gaussian_mi(rhos, d) for d in BENCH_DIMS])
  back = jnp.stack([mi.rho_for_mi(mis[i], d) for i, d in enumerate(BENCH_DIMS)])
  return mis, back, mi.optimal_scores(x, y, jnp.asarray(0.6, dtype))


SMALL_RHOS = (1e-4, 3e-3, 0.02)  # I down to 5e-9 nats: relative accuracy (log1p, expm1)


def mi_small64(rho: float, d: int) -> float:
  r"""float64 oracle for small :math:`\rho`: the joint covariance has eigenvalues :math:`1 \pm
  \rho` (each :math:`d` times), so :math:`I = -\tfrac d2(\mathrm{log1p}(\rho) +
  \mathrm{log1p}(-\rho))`, relatively accurate to ~1e-16 / |rho| (slogdet's LU rounds 1 - rho^2
  and is only absolutely accurate)."""
  return -0.5 * d * (math.log1p(rho) + math.log1p(-rho))


@functools.partial(jax.jit, static_argnums=(2,))
def _bench_small(rhos, mis, dtype):
  return (jnp.stack([mi.gaussian_mi(rhos, d) for d in BENCH_DIMS]),
          jnp.stack([mi.rho_for_mi(mis[i], d) for i, d in enumerate(BENCH_DIMS)]))


def _small_rho_errors(cfg: Config):
  """Truly relative errors (not max(1, |ref|)) of gaussian_mi and of rho_for_mi at small rho,
  and of the mistakes log(1 - rho^2), 1 - exp(-2I/d) in the dtype (their effect)."""
  rs = np.asarray(SMALL_RHOS, cfg.dtype)
  r64 = rs.astype(np.float64)
  ref = np.array([[mi_small64(r, d) for r in r64] for d in BENCH_DIMS])
  mis, back = (np.asarray(a, np.float64) for a in _bench_small(rs, ref.astype(cfg.dtype),
                                                               cfg.dtype))
  err = max(float(np.max(np.abs(mis - ref) / ref)), float(np.max(np.abs(back - r64) / r64)))
  one = np.asarray(1.0, cfg.dtype)
  log_mis = np.array([[-0.5 * d * float(np.log(one - r * r)) for r in rs] for d in BENCH_DIMS])
  exp_rho = np.array([[float(np.sqrt(one - np.exp(np.asarray(-2.0 * i / d, cfg.dtype))))
                       for i in ref_d] for ref_d, d in zip(ref.astype(cfg.dtype), BENCH_DIMS)])
  wrong = min(float(np.max(np.abs(log_mis - ref) / ref)),
              float(np.max(np.abs(exp_rho - r64) / r64)))
  return err, wrong


def check_gaussian_benchmark(key, cfg: Config) -> Evidence:
  rhos = np.asarray(BENCH_RHOS, cfg.dtype)
  kx, ky = jax.random.split(key)
  x = np.asarray(jax.random.normal(kx, (4, 3), cfg.dtype))
  y = np.asarray(jax.random.normal(ky, (5, 3), cfg.dtype))
  mis, back, scores = _bench(rhos, x, y, cfg.dtype)
  e_small, wrong_small = _small_rho_errors(cfg)
  r64 = rhos.astype(np.float64)
  ref = np.array([[mi64(r, d) for r in r64] for d in BENCH_DIMS])
  e_mi = max_rel_error(mis, ref)
  # rho_for_mi: I(rho_for_mi(I)) = I by the slogdet oracle (|rho| comes back: I is even in rho).
  back64 = np.asarray(back, np.float64)
  e_back = max(abs(mi64(b, d) - ref[i, j]) / max(1.0, ref[i, j])
               for i, d in enumerate(BENCH_DIMS) for j, b in enumerate(back64[i]))
  ref_s = log_ratio64(x, y, float(np.float64(np.asarray(0.6, cfg.dtype))))
  e_s = max_rel_error(scores, ref_s)
  # Plausible mistakes: log(1 - rho) for log(1 - rho^2); log p(y|x) without - log p(y).
  wrong_mi = np.array([[-0.5 * d * math.log1p(-abs(r)) for r in r64] for d in BENCH_DIMS])
  ly = oracles.gaussian_logpdf64(y, np.zeros(3), np.eye(3))
  effect = min(max_rel_error(wrong_mi, ref), max_rel_error(ref_s + ly[None, :], ref_s),
               wrong_small)
  return Evidence(max(e_mi, e_back, e_s, e_small), 0.0, cfg.rtol, "==",
                  cfg.dtype_origin() + "; |ref| alone at small rho (log1p, expm1 are relatively "
                  "accurate)",
                  f"max rel. error of gaussian_mi ({e_mi:.1e}; rho in {BENCH_RHOS}, d in "
                  f"{BENCH_DIMS}) vs 1/2 slogdet of the joint covariance, of I(rho_for_mi(I)) "
                  f"({e_back:.1e}), of optimal_scores ({e_s:.1e}; 4 x 5 pairs, d = 3, rho = "
                  "0.6) vs log N(x, y) - log N(x) - log N(y) (float64 Cholesky), and the truly "
                  f"relative error at rho in {SMALL_RHOS} of gaussian_mi and rho_for_mi "
                  f"({e_small:.1e}) vs the eigenvalues 1 +- rho (log1p)",
                  effect=effect,
                  effect_what="the smallest of three mistakes' largest errors: log(1 - |rho|) for "
                  "log(1 - rho^2) in I, the critic without - log p(y) (relative), and log(1 - "
                  f"rho^2) or 1 - exp(-2I/d) without log1p/expm1 ({wrong_small:.2g} at small rho)")


def _score_cases(dtype):
  """Score matrices: random, the benchmark's optimal critic at I = 10 nats, constant, saturated
  (+-1e4: for InfoNCE and DV only) and an off-diagonal of 87 (NWJ's sum of e^(f-1) overflows
  float32: the log-space branch)."""
  rng = np.random.default_rng(0)  # fixed inputs, not Monte Carlo
  x = rng.standard_normal((16, D))
  rho = math.sqrt(-math.expm1(-2 * 10.0 / D))
  y = rho * x + math.sqrt(1 - rho ** 2) * rng.standard_normal((16, D))
  sat = np.full((6, 6), -1e4) + 2e4 * np.eye(6)
  big = np.full((8, 8), 87.0) + rng.uniform(-0.5, 0.5, (8, 8))
  cases = [3.0 * rng.standard_normal((8, 8)), log_ratio64(x, y, rho), np.full((4, 4), 5.0),
           sat, big]
  return tuple(c.astype(dtype) for c in cases)


NWJ_MAX = 88.0  # e^(f - 1) is finite in float32 up to f = 89: NWJ's answer is representable


@jax.jit
def _estimators(cases):
  return [(mi.infonce(s), mi.nwj(s), mi.dv(s)) for s in cases]


def oracle_estimators64(s):
  """float64 (InfoNCE, NWJ, DV) of a score matrix from the definitions (scipy logsumexp)."""
  s = np.asarray(s, np.float64)
  b = s.shape[0]
  diag, off = np.diagonal(s), s[~np.eye(b, dtype=bool)]
  nce = float(np.mean(diag - np_logsumexp(s, axis=1)) + math.log(b))
  nwj = float(np.mean(diag) - np.mean(np.exp(off - 1.0))) if off.max() < NWJ_MAX else None
  dv = float(np.mean(diag) - (np_logsumexp(off) - math.log(off.size)))
  return nce, nwj, dv


def check_score_estimators(key, cfg: Config) -> Evidence:
  cases = _score_cases(cfg.dtype)
  errs, rows = [], []
  wrong = {"InfoNCE without + log B": 0.0, "NWJ without e^-1": 0.0,
           "DV with mean for log-mean-exp": 0.0}
  for s, got in zip(cases, _estimators(cases)):
    ref = oracle_estimators64(s)
    for name, g, r in zip(("InfoNCE", "NWJ", "DV"), got, ref):
      if r is None:
        continue
      errs.append(abs(float(g) - r) / max(1.0, abs(r)))
    s64 = np.asarray(s, np.float64)
    off = s64[~np.eye(s64.shape[0], dtype=bool)]
    scale = lambda r: max(1.0, abs(r))
    wrong["InfoNCE without + log B"] = max(wrong["InfoNCE without + log B"],
                                           math.log(s64.shape[0]) / scale(ref[0]))
    if ref[1] is not None:
      wrong["NWJ without e^-1"] = max(wrong["NWJ without e^-1"], float(
          np.mean(np.exp(off)) * (1 - 1 / math.e)) / scale(ref[1]))
    wrong["DV with mean for log-mean-exp"] = max(wrong["DV with mean for log-mean-exp"], float(
        np_logsumexp(off) - math.log(off.size) - np.mean(off)) / scale(ref[2]))
    rows.append(f"B={s64.shape[0]}: " + ", ".join(f"{float(g):.5g}" for g in got))
  name, effect = min(wrong.items(), key=lambda kv: kv[1])
  return Evidence(max(errs), 0.0, cfg.rtol, "==", cfg.dtype_origin(),
                  f"max rel. error of infonce, nwj, dv vs float64 formulas (scipy logsumexp) on "
                  f"{len(cases)} score matrices (random; optimal critic at I = 10 nats; constant;"
                  f" +-1e4 for InfoNCE/DV; off-diagonal 87, NWJ's log-space branch in float32): "
                  + "; ".join(rows), effect=effect,
                  effect_what=f"the smallest over three mistakes of the largest relative error "
                  f"each makes on these cases ({name})")


LOG_B_BATCH = 32


@functools.partial(jax.jit, static_argnums=(1,))
def _infonce_critics(key, dtype):
  """InfoNCE of critics on one benchmark batch at I = 10 nats: the optimal critic, scaled by 10
  and by -1, + 1e4 on the diagonal, random scores of scale 1e4, constant scores."""
  b = LOG_B_BATCH
  rho = mi.rho_for_mi(jnp.asarray(10.0, dtype), D)
  k1, k2 = jax.random.split(key)
  x, y = mi.correlated_gaussian_sample(k1, rho, D, b, dtype)
  s = mi.optimal_scores(x, y, rho)
  critics = jnp.stack([s, 10.0 * s, -s, s + 1e4 * jnp.eye(b, dtype=dtype),
                       1e4 * jax.random.normal(k2, (b, b), dtype), jnp.full((b, b), 3.0, dtype),
                       jnp.full((b, b), -3e4, dtype) + 6e4 * jnp.eye(b, dtype=dtype)])
  return jax.vmap(mi.infonce)(critics), critics


def check_infonce_le_log_batch(key, cfg: Config) -> Evidence:
  vals, critics = _infonce_critics(key, cfg.dtype)
  log_b = math.log(LOG_B_BATCH)
  vals = np.asarray(vals, np.float64)
  ref = np.array([oracle_estimators64(c)[0] for c in np.asarray(critics)])
  return Evidence(float(np.max(vals - log_b)), 0.0, cfg.rtol * log_b, "<=",
                  cfg.dtype_origin().replace("max(1,|ref|)", "log B") +
                  " (log B rounded to the dtype)",
                  f"max over 7 critics of InfoNCE - log B, B = {LOG_B_BATCH}, on a benchmark batch "
                  "at I = 10 nats (optimal, x10, x-1, + 1e4 on the diagonal, N(0, 1e8) scores, "
                  f"constant, +-3e4 saturated): InfoNCE = {np.round(vals, 5)}; float64 oracle "
                  f"max InfoNCE - log B = {float(np.max(ref - log_b)):.2e}, max |library - "
                  f"oracle| = {float(np.max(np.abs(vals - ref))):.1e}",
                  effect=math.log(LOG_B_BATCH / (LOG_B_BATCH - 1)),
                  effect_what="log(B/(B-1)): InfoNCE with the positive pair left out of its "
                  "denominator exceeds log B by this at constant scores (by 2e4 when saturated)")


# ---------------------------------------------------------------------------------------------
# Monte Carlo on the benchmark.

TIGHT_MI, TIGHT_BATCH, TIGHT_REPS = 1.0, 64, 2000


@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def _optimal_estimates(key, rho, batch, reps, dtype):
  """Per batch at the optimal critic: NWJ(1 + log r), DV(log r), InfoNCE(log r), the Jensen term
  mean_i log(r_ii + B - 1) - logsumexp_j log r_ij, and NWJ on the first D/2 coordinates."""
  def one(k):
    x, y = mi.correlated_gaussian_sample(k, rho, D, batch, dtype)
    s = mi.optimal_scores(x, y, rho)
    h = mi.optimal_scores(x[:, :D // 2], y[:, :D // 2], rho)
    nce = mi.infonce(s)
    diag = jnp.diagonal(s)
    # InfoNCE - (I's per-batch estimate mean_i log r_ii - mean_i log((r_ii + B - 1)/B)): the
    # lower side of the bracket, through the library's InfoNCE.
    jensen = nce - jnp.mean(diag) + jnp.mean(
        jnp.logaddexp(diag, jnp.log(batch - 1.0).astype(dtype))) - jnp.log(batch * 1.0)
    # DV minus its control variate A - (U - 1) (mean exactly I): E = E[U - 1 - log U] ~ Var(U)/2.
    off = s[~np.eye(batch, dtype=bool)]
    u = jnp.mean(jnp.exp(off))
    cv = mi.dv(s) - (jnp.mean(diag) - (u - 1.0))
    return mi.nwj(s + 1.0), cv, nce, jensen, mi.nwj(h + 1.0), u - 1.0 - jnp.log(u)
  return jax.vmap(one)(jax.random.split(key, reps))


@functools.lru_cache(maxsize=8)
def optimal_draws(seed: int, x64: bool, value: float, batch: int, reps: int):
  """:func:`_optimal_estimates` at I = ``value`` nats, computed once per run and shared by the
  claims that use it (their own key, ``claim_key(seed, "mi.optimal")``), as float64 numpy."""
  dtype = jnp.float64 if x64 else jnp.float32
  rho = jnp.asarray(mi.rho_for_mi(jnp.asarray(value, dtype), D), dtype)
  out = _optimal_estimates(claim_key(seed, f"mi.optimal.{value}"), rho, batch, reps, dtype)
  return float(np.float64(np.asarray(rho))), tuple(np.asarray(a, np.float64) for a in out)


def _rho(value: float, cfg: Config):
  return jnp.asarray(mi.rho_for_mi(jnp.asarray(value, cfg.dtype), D), cfg.dtype)


def _var_mean_offdiag64(rho: float, d: int, b: int) -> float:
  """Var of the off-diagonal mean of r at the benchmark: ((1-rho^2)^-d + (1-rho^4)^-d - 2) /
  (B (B-1)) (Gaussian integrals; see mi.nwj_variance's derivation)."""
  return ((1 - rho ** 2) ** -d + (1 - rho ** 4) ** -d - 2) / (b * (b - 1))


def check_optimal_critic_tight(key, cfg: Config) -> Evidence:
  r"""At the optimal critic, :math:`\mathbb{E}[\hat I_{NWJ}(1 + \log r)] = I` exactly, and the
  library's DV minus its control variate :math:`\bar A - (\bar U - 1)` (mean exactly :math:`I`),
  :math:`\mathbb{E}[\bar U - 1 - \log \bar U] = \mathrm{Var}(\bar U)/2 + O(B^{-3})` (delta
  method): the paired difference has an SE small enough to see DV's bias itself."""
  r64, out = optimal_draws(cfg.seed, cfg.x64, TIGHT_MI, TIGHT_BATCH, TIGHT_REPS)
  i_true = mi64(r64, D)
  nwj, cv, oracle_cv = out[0], out[1], out[5]
  bias = 0.5 * _var_mean_offdiag64(r64, D, TIGHT_BATCH)
  a, b = stats.mean_and_se(nwj), stats.mean_and_se(cv)
  t = [abs(a.mean - i_true) / a.se, abs(b.mean - bias) / b.se]
  z = cfg.crit(TIGHT_REPS, split=2)
  # Mistakes: NWJ without e^-1 (E = I + 1 - e); DV with the mean of f for its log-mean-exp
  # (E[DV - cv] = d rho^2/(1 - rho^2) - I); DV's bias itself (a DV = A - log E U: 0). SEs: the
  # NWJ's, and the oracle's U - 1 - log U (no library in it).
  se_cv = stats.mean_and_se(oracle_cv).se
  dv_mean = D * r64 ** 2 / (1 - r64 ** 2) - i_true
  effect = min((math.e - 1) / a.se, abs(dv_mean - bias) / se_cv, bias / se_cv)
  return Evidence(max(t), 0.0, z, "==", cfg.z_origin(z, True, 2, TIGHT_REPS),
                  f"max |t| of E[NWJ at 1 + log r] = I ({a.mean:.4f} +- {a.se:.4f}, I = "
                  f"{i_true:.4f} by slogdet) and E[DV - (A - (U - 1))] = Var(U)/2 ({b.mean:.3e} +-"
                  f" {b.se:.1e} vs {bias:.3e}; the oracle's U - 1 - log U: "
                  f"{float(np.mean(oracle_cv)):.3e}), d = {D}, B = {TIGHT_BATCH}, {TIGHT_REPS} "
                  "batches", detects=cfg.detects(1.0, TIGHT_REPS, split=2), effect=effect,
                  effect_what="in SEs, the smallest of: NWJ without e^-1 (bias 1 - e), DV with "
                  "the mean of f for its log-mean-exp, DV's own bias Var(U)/2 (what a DV "
                  "without the log's curvature would miss)")


NCE_MI, NCE_BATCH, NCE_REPS = 2.0, 64, 1000


def check_infonce_bracket(key, cfg: Config) -> Evidence:
  rho = _rho(NCE_MI, cfg)
  i_true = mi64(float(np.float64(np.asarray(rho))), D)
  key, k_wrong = jax.random.split(key)
  out = _optimal_estimates(key, rho, NCE_BATCH, NCE_REPS, cfg.dtype)
  nce, jensen = (np.asarray(a, np.float64) for a in (out[2], out[3]))
  # Upper: E[InfoNCE] <= I. Lower (Jensen, E[sum_j r_ij | pair i] = r_ii + B - 1):
  # E[InfoNCE] >= I - E_p log((r + B - 1)/B), i.e. E[jensen] >= 0 per batch with
  # jensen = InfoNCE - mean_i (log r_ii - log((r_ii + B - 1)/B)).
  up, lo = stats.mean_and_se(nce - i_true), stats.mean_and_se(jensen)
  z = cfg.crit(NCE_REPS, two_sided=False, split=2)
  t = max(up.mean / up.se, -lo.mean / lo.se)
  # Mistakes: InfoNCE without + log B (the lower side falls by log B); the positive pair left
  # out of the denominator (overshoots I by Jensen; measured on 500 further batches).
  effect = min(math.log(NCE_BATCH) / lo.se, _excluded_overshoot(k_wrong, rho, cfg) / up.se)
  return Evidence(t, 0.0, z, "<=", cfg.z_origin(z, False, 2, NCE_REPS),
                  f"max one-sided t of E[InfoNCE] - I <= 0 ({up.mean:.4f} +- {up.se:.4f}) and "
                  f"E[InfoNCE] - (I - E_p log((r + B - 1)/B)) >= 0 ({lo.mean:.4f} +- "
                  f"{lo.se:.4f}) at the optimal critic log r, I = {i_true:.4f}, d = {D}, B = "
                  f"{NCE_BATCH} (log B = {math.log(NCE_BATCH):.3f}), {NCE_REPS} batches",
                  detects=cfg.detects(1.0, NCE_REPS, two_sided=False, split=2), effect=effect,
                  effect_what="in SEs: InfoNCE without + log B (the lower side by log B) or with "
                  "the positive pair left out of its denominator (overshoots I), the smaller")


@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def _excluded(key, rho, batch, reps, dtype):
  """The mistaken InfoNCE with the positive left out of its denominator, per batch (oracle for
  the effect size, written here from its definition)."""
  def one(k):
    x, y = mi.correlated_gaussian_sample(k, rho, D, batch, dtype)
    return _infonce_without_positive(mi.optimal_scores(x, y, rho))
  return jax.vmap(one)(jax.random.split(key, reps))


def _excluded_overshoot(key, rho, cfg) -> float:
  i_true = mi64(float(np.float64(np.asarray(rho))), D)
  w = np.asarray(_excluded(key, rho, NCE_BATCH, 500, cfg.dtype),
                 np.float64)
  m = stats.mean_and_se(w)
  return max(0.0, m.mean - i_true - 3 * m.se)  # a conservative (low) estimate of the overshoot


VAR_RHO, VAR_DIM, VAR_BATCH, VAR_REPS = 0.14, 1, 2, 8_000_000


@functools.partial(jax.jit, static_argnums=(2,))
def _nwj_draws(key, rho, dtype):
  """NWJ at 1 + log r on VAR_REPS batches of B = VAR_BATCH pairs (one draw of all the pairs)."""
  x, y = mi.correlated_gaussian_sample(key, rho, VAR_DIM, VAR_BATCH * VAR_REPS, dtype)
  x = x.reshape(VAR_REPS, VAR_BATCH, VAR_DIM)
  y = y.reshape(VAR_REPS, VAR_BATCH, VAR_DIM)
  return jax.vmap(lambda a, b: mi.nwj(mi.optimal_scores(a, b, rho) + 1.0))(x, y)


def check_nwj_variance(key, cfg: Config) -> Evidence:
  r"""The sample variance of the library's NWJ at its optimal critic against ``nwj_variance``.
  The design sees the swap covariance :math:`\mathrm{Cov}(r_{ij}, r_{ji})`, the smallest term
  (:math:`\approx d\rho^4/(B(B-1))`, a fraction :math:`\approx \rho^2/2` of the variance): B = 2,
  d = 1, :math:`\rho = 0.14 < 1/7` (so that :math:`\mathbb{E}_q r^8` is finite and the SE of a
  variance from its 4th moment is reliable) and 6e6 batches."""
  rho = jnp.asarray(VAR_RHO, cfg.dtype)
  r64 = float(np.float64(np.asarray(rho)))
  est = np.asarray(_nwj_draws(key, rho, cfg.dtype), np.float64)
  s2, se = float(np.var(est, ddof=1)), float(sweeps.variance_se(est))
  lib = float(mi.nwj_variance(rho, VAR_DIM, VAR_BATCH))
  b, d = VAR_BATCH, VAR_DIM
  e2i = (1 - r64 ** 2) ** -d
  swap = (1 - r64 ** 4) ** -d - 1
  joint = d * r64 ** 2 / b
  wrong = {"no swap covariance": swap / (b * (b - 1)),
           "e^I for e^(2I)": (e2i - math.sqrt(e2i)) / (b * (b - 1)),
           "Var_p log r = rho^2/(1-rho^2)": joint * r64 ** 2 / (1 - r64 ** 2)}
  name, effect = min(wrong.items(), key=lambda kv: kv[1])
  z = cfg.crit(VAR_REPS)
  return Evidence(s2, lib, z * se, "==", cfg.z_origin(z, n=VAR_REPS) + " (SE of a variance "
                  "from its 4th moment, sweeps.variance_se)",
                  f"sample variance of NWJ at 1 + log r over {VAR_REPS} batches of B = {b}, d = "
                  f"{d}, rho = {VAR_RHO} (I = {mi64(r64, d):.5f}) vs nwj_variance = d rho^2/B + "
                  f"((1-rho^2)^-d + (1-rho^4)^-d - 2)/(B(B-1)) = {lib:.6f} (joint term {joint:.6f},"
                  f" swap covariance {swap / (b * (b - 1)):.2e})",
                  detects=cfg.detects(se, VAR_REPS), effect=effect,
                  effect_what=f"the smallest error of three wrong formulas ({name})")


def nwj_variance64(rho: float, d: int, b: int) -> float:
  r"""float64 oracle of :math:`\mathrm{Var}(\hat I_{NWJ})` at :math:`f^* = 1 + \log r` on a
  ``b`` x ``b`` benchmark batch, by brute force over index pairs with no assumption about which
  entries are correlated: per coordinate :math:`z = (x_1..x_B, y_1..y_B) \sim N(0, S)` and
  :math:`\log r(x_i, y_j) = c_0 + z^\top Q_{ij} z` with :math:`Q_{ij}` built from the numerical
  inverse of the pair covariance :math:`[[1, \rho], [\rho, 1]]`; the moments are Gaussian
  integrals :math:`\mathbb{E}\,e^{z^\top M z} = \det(I - 2SM)^{-1/2}` (slogdet),
  :math:`\mathbb{E}[z^\top A z\, e^{z^\top M z}] = \det(I - 2SM)^{-1/2}\,\mathrm{tr}(A (S^{-1} -
  2M)^{-1})` and :math:`\mathrm{Var}(z^\top A z) = 2\,\mathrm{tr}(ASAS)`; coordinates are
  independent, so products of :math:`r` over them are powers and sums of :math:`\log r` are sums.
  :math:`\mathrm{Var} = \mathrm{Var}(\bar A) + \mathrm{Var}(\bar U) - 2\,\mathrm{Cov}(\bar A,
  \bar U)`, every one of the :math:`(B(B-1))^2` pairs of product entries summed."""
  n = 2 * b
  cov = np.eye(n)
  for i in range(b):
    cov[i, b + i] = cov[b + i, i] = rho
  pair = np.array([[1.0, rho], [rho, 1.0]])
  k = np.linalg.inv(pair) - np.eye(2)  # log r(x, y) = c0 - [x, y] k [x, y]^T / 2
  c0 = -0.5 * float(np.linalg.slogdet(pair)[1])

  def q(i, j):
    out = np.zeros((n, n))
    idx = (i, b + j)
    for a in range(2):
      for c in range(2):
        out[idx[a], idx[c]] -= 0.5 * k[a, c]
    return out

  def e_exp(m):
    sign, ld = np.linalg.slogdet(np.eye(n) - 2.0 * cov @ m)
    assert sign > 0
    return math.exp(-0.5 * ld)

  off = [(i, j) for i in range(b) for j in range(b) if i != j]
  qs = {p: q(*p) for p in off}
  er = {p: math.exp(c0) * e_exp(qs[p]) for p in off}  # E r_ij per coordinate (= 1)
  eu = sum(er[p] ** d for p in off) / len(off)
  eu2 = sum((math.exp(2 * c0) * e_exp(qs[p] + qs[t])) ** d for p in off for t in off)
  var_u = eu2 / len(off) ** 2 - eu ** 2
  qa = sum(q(i, i) for i in range(b)) / b
  ea1 = c0 + float(np.trace(qa @ cov))  # E of mean_i log r_ii, one coordinate
  var_a = d * 2.0 * float(np.trace(qa @ cov @ qa @ cov))
  inv_cov = np.linalg.inv(cov)
  eau = 0.0  # E[A U]: coordinate k of A with the product over coordinates of U
  for i in range(b):
    for p in off:
      tilted = np.linalg.inv(inv_cov - 2.0 * qs[p])
      e1 = math.exp(c0) * e_exp(qs[p]) * (c0 + float(np.trace(q(i, i) @ tilted)))
      eau += d * e1 * er[p] ** (d - 1)
  eau /= b * len(off)
  return var_a + var_u - 2.0 * (eau - d * ea1 * eu)


VARF_CASES = ((0.3, 1, 2), (-0.45, 3, 3), (0.6, 5, 5), (0.9, 2, 3), (VAR_RHO, VAR_DIM, VAR_BATCH),
              (0.12, D, 4))


@functools.partial(jax.jit, static_argnums=(1,))
def _nwj_variances(rhos, dtype):
  return [mi.nwj_variance(rhos[i], d, b) for i, (_, d, b) in enumerate(VARF_CASES)]


def _nwj_variance_wrong(rho, d, b):
  """Three wrong formulas (the effect): r_ij, r_ji uncorrelated; Var_p log r = rho^2/(1-rho^2)
  per coordinate; B^2 for the B(B-1) product entries."""
  r2 = rho * rho
  e2i, swap = (1 - r2) ** -d - 1, (1 - r2 * r2) ** -d - 1
  return {"no swap covariance": d * r2 / b + e2i / (b * (b - 1)),
          "Var_p log r = rho^2/(1-rho^2)": d * r2 / (1 - r2) / b + (e2i + swap) / (b * (b - 1)),
          "B^2 product entries": d * r2 / b + (e2i + swap) / b ** 2}


def check_nwj_variance_formula(key, cfg: Config) -> Evidence:
  rhos = np.asarray([c[0] for c in VARF_CASES], cfg.dtype)
  got = np.asarray(_nwj_variances(rhos, cfg.dtype), np.float64)
  r64 = rhos.astype(np.float64)
  ref = np.array([nwj_variance64(float(r), d, b) for r, (_, d, b) in zip(r64, VARF_CASES)])
  wrong = {}
  for r, (_, d, b), o in zip(r64, VARF_CASES, ref):
    for name, w in _nwj_variance_wrong(float(r), d, b).items():
      wrong[name] = max(wrong.get(name, 0.0), abs(w - o) / max(1.0, abs(o)))
  name, effect = min(wrong.items(), key=lambda kv: kv[1])
  return Evidence(max_rel_error(got, ref), 0.0, cfg.rtol, "==", cfg.dtype_origin(),
                  "max rel. error of nwj_variance vs a brute-force float64 oracle (every pair of "
                  "the B(B-1) product entries and every diagonal entry, Gaussian integrals by "
                  "slogdet; no closed form) at (rho, d, B) in "
                  f"{VARF_CASES}: library {np.round(got, 6)}, oracle {np.round(ref, 6)}",
                  effect=effect,
                  effect_what=f"the smallest over three wrong formulas of their largest error "
                  f"({name})")


SC_MI, SC_BATCH, SC_REPS = TIGHT_MI, TIGHT_BATCH, TIGHT_REPS  # shares optimal_draws


@functools.partial(jax.jit, static_argnums=(2, 3))
def _independent(key, rho_critic, reps, dtype):
  """Independent x, y (rho = 0) scored by the benchmark's optimal critic for ``rho_critic``:
  NWJ(1 + s), InfoNCE(s) per batch."""
  def one(k):
    x, y = mi.correlated_gaussian_sample(k, jnp.zeros((), dtype), D, SC_BATCH, dtype)
    s = mi.optimal_scores(x, y, rho_critic)
    return mi.nwj(s + 1.0), mi.infonce(s)
  return jax.vmap(one)(jax.random.split(key, reps))


def check_self_consistency(key, cfg: Config) -> Evidence:
  r64, out = optimal_draws(cfg.seed, cfg.x64, SC_MI, SC_BATCH, SC_REPS)
  full, half = out[0], out[4]
  # Data processing (Song & Ermon 2020): y -> its first d/2 coordinates keeps exactly half of I
  # (slogdet oracle: I(d/2) / I(d) = 1/2); NWJ is unbiased at each optimal critic, so
  # E[NWJ_half - NWJ_full / 2] = 0 (paired) and the ratio is <= 1.
  ratio_ref = mi64(r64, D // 2) / mi64(r64, D)
  dp = stats.mean_and_se(half - ratio_ref * full)
  # Independence: a critic for rho = 0.3 on independent data: E[NWJ] <= 0 and E[InfoNCE] <= 0.
  nwj0, nce0 = (np.asarray(a, np.float64) for a in _independent(key, jnp.asarray(0.3, cfg.dtype),
                                                                 SC_REPS, cfg.dtype))
  a, b = stats.mean_and_se(nwj0), stats.mean_and_se(nce0)
  z2 = cfg.crit(SC_REPS, split=3)
  z1 = cfg.crit(SC_REPS, two_sided=False, split=3)
  t = max(abs(dp.mean) / dp.se * z1 / z2, a.mean / a.se, b.mean / b.se)  # in units of z1
  ratio = float(np.mean(half) / np.mean(full))
  return Evidence(t, 0.0, z1, "<=", cfg.z_origin(z1, False, 3, SC_REPS) +
                  "; the two-sided data-processing t is rescaled by z1/z2",
                  f"data processing: E[NWJ(y[:d/2])] / E[NWJ(y)] = {ratio:.4f} (oracle "
                  f"{ratio_ref:.4f}; paired difference {dp.mean:.4f} +- {dp.se:.4f}); "
                  f"independence (rho = 0, critic for rho = 0.3): E[NWJ] = {a.mean:.4f} +- "
                  f"{a.se:.4f}, E[InfoNCE] = {b.mean:.4f} +- {b.se:.4f}; d = {D}, B = "
                  f"{SC_BATCH}, {SC_REPS} batches each",
                  detects=cfg.detects(1.0, SC_REPS, split=3), effect=(math.e - 1) / 2 / dp.se,
                  effect_what="in SEs: an estimator off by a constant c shows as c/2 in the "
                  "data-processing difference; NWJ without e^-1 has c = 1 - e")


BELOW_MI, BELOW_BATCH, BELOW_REPS = 2.0, 64, 1000
BELOW_CRITICS = ((0.5, 0.0), (1.0, -2.0), (1.5, 0.0))  # f = a log r + c (NWJ: 1 + f)


def _infonce_without_positive(s):
  """The mistake the claim must catch (written here from its definition): InfoNCE with the
  positive pair left out of its denominator,
  log(B - 1) + mean_i (s_ii - logsumexp_{j != i} s_ij)."""
  b = s.shape[0]
  off = jnp.where(jnp.eye(b, dtype=bool), -jnp.inf, s)
  return jnp.mean(jnp.diagonal(s) - jax.scipy.special.logsumexp(off, axis=1)) + jnp.log(b - 1.0)


@functools.partial(jax.jit, static_argnums=(2,))
def _suboptimal(key, rho, dtype):
  def one(k):
    x, y = mi.correlated_gaussian_sample(k, rho, D, BELOW_BATCH, dtype)
    s = mi.optimal_scores(x, y, rho)
    return jnp.stack([jnp.stack([mi.nwj(a * s + c + 1.0), mi.infonce(a * s + c),
                                 _infonce_without_positive(a * s + c)])
                      for a, c in BELOW_CRITICS])
  return jax.vmap(one)(jax.random.split(key, BELOW_REPS))


def check_bounds_below_mi(key, cfg: Config) -> Evidence:
  rho = _rho(BELOW_MI, cfg)
  i_true = mi64(float(np.float64(np.asarray(rho))), D)
  v = np.asarray(_suboptimal(key, rho, cfg.dtype), np.float64) - i_true  # [R, critics, 3]
  m = v.mean(0)
  se = v.std(0, ddof=1) / math.sqrt(BELOW_REPS)
  split = m[:, :2].size
  z = cfg.crit(BELOW_REPS, two_sided=False, split=split)
  t = float(np.max(m[:, :2] / se[:, :2]))
  effect = float(np.max(m[:, 2] / se[:, 2]))
  rows = "; ".join(f"f = {a} log r + {c}: NWJ - I = {m[i, 0]:.3f}, InfoNCE - I = {m[i, 1]:.3f}"
                   f" (without the positive in the denominator: {m[i, 2]:+.3f})"
                   for i, (a, c) in enumerate(BELOW_CRITICS))
  return Evidence(t, 0.0, z, "<=", cfg.z_origin(z, False, split, BELOW_REPS),
                  f"max one-sided t of E[bound] - I <= 0 over NWJ (at 1 + f) and InfoNCE at 3 "
                  f"suboptimal critics f, I = {i_true:.3f}, d = {D}, B = {BELOW_BATCH}, "
                  f"{BELOW_REPS} batches: {rows}",
                  detects=cfg.detects(1.0, BELOW_REPS, two_sided=False, split=split),
                  effect=effect,
                  effect_what="in SEs: the largest overshoot of I by InfoNCE with the positive "
                  "pair left out of its denominator, over the critics")


TRAINED_MI, TRAINED_STEPS, TRAINED_BATCH, TRAINED_REPS = 2.0, 200, 32, 3000


@functools.partial(jax.jit, static_argnames=("d", "steps", "batch", "hidden", "embed"))
def _reference_critic(key, rho, index, d, steps, batch, hidden, embed, learning_rate):
  """The oracle's training loop, written here from train_critic's documented design (optax Adam
  on a fresh benchmark batch per step, the same key splits and initialisation, the same program
  signature so that XLA compiles the same arithmetic), maximising ESTIMATORS[index] (library
  nwj/dv/infonce)."""
  net = mi.SeparableCritic(hidden, embed)
  objectives = [lambda s, f=f: f(s) for f in (mi.nwj, mi.dv, mi.infonce)]
  k_init, k_loop = jax.random.split(key)
  x0 = jnp.zeros((1, d), rho.dtype)
  params = net.init(k_init, x0, x0)
  opt = optax.adam(learning_rate)

  def step(carry, k):
    params, state = carry
    x, y = mi.correlated_gaussian_sample(k, rho, d, batch)
    val, g = jax.value_and_grad(
        lambda p: jax.lax.switch(index, objectives, net.apply(p, x, y)))(params)
    upd, state = opt.update(jax.tree_util.tree_map(jnp.negative, g), state, params)
    return (optax.apply_updates(params, upd), state), val

  (params, _), _ = jax.lax.scan(step, (params, opt.init(params)), jax.random.split(k_loop, steps))
  return params


@functools.partial(jax.jit, static_argnums=(2,))
def _trained_nwj(key, rho, dtype):
  """NWJ on fresh batches: train_critic's critic trained on NWJ minus the reference critic
  trained (same start, same batches) on InfoNCE (the measurement), and the reference critic
  trained on NWJ minus the same (the effect): ``[TRAINED_REPS, 2]``."""
  k_train, k_eval = jax.random.split(key)
  args = (TRAINED_STEPS, TRAINED_BATCH, 32, 16, 3e-3)
  lib, _ = mi.train_critic(k_train, rho, D, "nwj", *args)
  ref_nwj, ref_nce = (_reference_critic(k_train, rho, jnp.asarray(mi.ESTIMATORS.index(e), jnp.int32),
                                        D, *args) for e in ("nwj", "infonce"))
  net = mi.SeparableCritic(32, 16)

  def one(k):
    x, y = mi.correlated_gaussian_sample(k, rho, D, TRAINED_BATCH, dtype)
    v = [mi.nwj(net.apply(p, x, y)) for p in (lib, ref_nwj, ref_nce)]
    return jnp.stack([v[0] - v[2], v[1] - v[2]])
  return jax.vmap(one)(jax.random.split(k_eval, TRAINED_REPS))


def check_trained_critic(key, cfg: Config) -> Evidence:
  r"""train_critic trains on the estimator it is asked for: its separable critic trained on NWJ
  reaches more NWJ on fresh batches than a critic trained, from the same start on the same
  batches, on InfoNCE (which is blind to a critic's normalisation :math:`f + c(x)` that NWJ
  pins to :math:`\mathbb{E}_{p(x)p(y)} e^{f-1} = 1`). A paired one-sided t-test; a train_critic
  that trains InfoNCE whatever it is asked returns the InfoNCE critic (difference exactly 0). The
  effect is the same difference for a reference critic trained on NWJ (no train_critic in it)."""
  rho = _rho(TRAINED_MI, cfg)
  v = np.asarray(_trained_nwj(key, rho, cfg.dtype), np.float64)
  ts, ms = [], []
  for j in range(2):
    m = stats.mean_and_se(v[:, j])
    ms.append(m)
    ts.append(float(m.mean / m.se) if m.se > 0 else (0.0 if m.mean == 0 else math.inf))
  z = cfg.crit(TRAINED_REPS, two_sided=False)
  return Evidence(ts[0], z, 0.0, ">=",
                  f"rejects 'no better than the InfoNCE critic' when t >= {z:.2f} "
                  f"({cfg.z_origin(z, False, 1, TRAINED_REPS)})",
                  f"E[NWJ(train_critic on NWJ) - NWJ(reference on InfoNCE)] = {ms[0].mean:.4f} +- "
                  f"{ms[0].se:.4f} (t {ts[0]:.1f}); reference on NWJ: {ms[1].mean:.4f} +- "
                  f"{ms[1].se:.4f} (t {ts[1]:.1f}); separable flax critics, optax Adam, "
                  f"{TRAINED_STEPS} steps of B = {TRAINED_BATCH}, {TRAINED_REPS} fresh batches, "
                  f"I = {TRAINED_MI} nats, d = {D}",
                  detects=z + stats.z_for_rate(stats.FALSE_PASS_RATE, False), effect=ts[1],
                  effect_what="in SEs, the advantage on NWJ of the reference critic trained on "
                  "NWJ over the one trained on InfoNCE: what a train_critic that ignores "
                  "`estimator` loses")


@functools.partial(jax.jit, static_argnums=(1,))
def _critic_layout(key, dtype):
  """A randomly initialised SeparableCritic on x [4, d], y [4, d] (the matrix and every pair
  alone) and on x [3, d], y [5, d] (the shape)."""
  kp, kx, ky = jax.random.split(key, 3)
  net = mi.SeparableCritic(16, 8)
  x = jax.random.normal(kx, (5, D), dtype)
  y = jax.random.normal(ky, (5, D), dtype)
  params = net.init(kp, x[:1], y[:1])
  full = net.apply(params, x[:4], y[:4])
  pairs = jax.vmap(lambda a: jax.vmap(lambda b: net.apply(params, a[None], b[None])[0, 0])(y[:4]))(
      x[:4])
  return full, pairs, net.apply(params, x[:3], y)


def check_critic_layout(key, cfg: Config) -> Evidence:
  full, pairs, rect = (np.asarray(a, np.float64) for a in _critic_layout(key, cfg.dtype))
  shape_ok = rect.shape == (3, 5)
  err = max_rel_error(full, pairs) + (0.0 if shape_ok else 1.0)  # + 1 for a wrong shape
  return Evidence(err, 0.0, cfg.rtol, "==", cfg.dtype_origin(),
                  "max rel. error of SeparableCritic's score matrix on x, y [4, d] vs the critic "
                  "applied to each pair (x_i, y_j) alone (the definition scores[i, j] = f(x_i, "
                  f"y_j)); on x [3, d], y [5, d] it returns shape {rect.shape} (needs (3, 5); 1 is added "
                  "to the error otherwise)",
                  effect=max_rel_error(pairs.T, pairs),  # from the pairs alone
                  effect_what="the transposed matrix f(x_j, y_i) (h @ g.T), which the symmetric "
                  "benchmark trains as well as the right one")


OBJ_MI, OBJ_STEPS, OBJ_BATCH, OBJ_REPS = 2.0, 256, 32, 256


@functools.partial(jax.jit, static_argnums=(2,))
def _objective_draws(key, rho, dtype):
  """The per-batch estimates of the pair differences NWJ - InfoNCE, DV - InfoNCE and InfoNCE
  itself at one fixed critic, two ways: ``curve`` of train_critic with learning rate 0 (the
  critic stays at its initialisation, so ``curve`` holds OBJ_STEPS draws of the requested
  estimator; the three estimators share the key, hence the initialisation and the batches), and
  the library's nwj, dv, infonce of that critic on OBJ_REPS fresh batches."""
  k_train, k_eval = jax.random.split(key)
  params, curves = jax.vmap(lambda i: mi.train_critic(
      k_train, rho, D, i, OBJ_STEPS, OBJ_BATCH, 32, 16, 0.0))(jnp.arange(len(mi.ESTIMATORS)))
  p0 = jax.tree_util.tree_map(lambda a: a[0], params)
  moved = jnp.max(jnp.stack([jnp.max(jnp.abs(a - a[:1]))
                             for a in jax.tree_util.tree_leaves(params)]))
  net = mi.SeparableCritic(32, 16)

  def one(k):
    x, y = mi.correlated_gaussian_sample(k, rho, D, OBJ_BATCH, dtype)
    s = net.apply(p0, x, y)
    return jnp.stack([mi.nwj(s), mi.dv(s), mi.infonce(s)])
  return curves, jax.vmap(one)(jax.random.split(k_eval, OBJ_REPS)), moved


def check_train_critic_objective(key, cfg: Config) -> Evidence:
  rho = _rho(OBJ_MI, cfg)
  curves, ev, moved = _objective_draws(key, rho, cfg.dtype)
  order = list(mi.ESTIMATORS)
  c = np.asarray(curves, np.float64)  # [3, steps], in ESTIMATORS order
  e = np.asarray(ev, np.float64)[:, [order.index("nwj"), order.index("dv"),
                                     order.index("infonce")]]  # [reps, (nwj, dv, infonce)]
  nce_c, nce_e = c[order.index("infonce")], e[:, 2]
  ts, rows, gap = [], [], {}
  for j, name in enumerate(("nwj", "dv", "infonce")):
    cd = c[order.index(name)] - (nce_c if name != "infonce" else 0.0)
    ed = e[:, j] - (nce_e if name != "infonce" else 0.0)
    a, b = stats.mean_and_se(cd), stats.mean_and_se(ed)
    se = math.hypot(a.se, b.se)
    ts.append(abs(a.mean - b.mean) / se)
    gap[name] = abs(b.mean) / se
    rows.append(f"{name}{' - infonce' if name != 'infonce' else ''}: curve {a.mean:.4f} +- "
                f"{a.se:.4f}, library {b.mean:.4f} +- {b.se:.4f}")
  n = min(OBJ_STEPS, OBJ_REPS)
  z = cfg.crit(n, split=3)
  return Evidence(max(ts) + (0.0 if float(moved) == 0.0 else math.inf), 0.0, z, "==",
                  cfg.z_origin(z, True, 3, n) + " (two independent means)",
                  "train_critic(estimator, learning_rate = 0) returns per step the requested "
                  f"estimator of its (fixed) initial critic: its {OBJ_STEPS} curve values vs the "
                  f"library's estimators of that critic on {OBJ_REPS} fresh batches, as paired "
                  f"differences from InfoNCE (I = {OBJ_MI} nats, d = {D}, B = {OBJ_BATCH}): "
                  + "; ".join(rows) + f"; the three runs' parameters differ by {float(moved):g}",
                  detects=cfg.detects(1.0, n, split=3), effect=min(gap["nwj"], gap["dv"]),
                  effect_what="in SEs: a train_critic that optimises InfoNCE whatever estimator "
                  "is asked for (a late-binding closure over the estimator names) or swaps two "
                  "of them: the curve's difference from InfoNCE would be 0 instead of the "
                  "library's (the smaller of NWJ's and DV's)")



COV_RHO, COV_DIM, COV_N = 0.6, 6, 20_000


@functools.partial(jax.jit, static_argnums=(2,))
def _benchmark_pairs(key, rho, dtype):
  return mi.correlated_gaussian_sample(key, rho, COV_DIM, COV_N, dtype)


def check_sample_covariance(key, cfg: Config) -> Evidence:
  r"""The sampler against its definition: :math:`(x, y)` is Gaussian (a linear map of Gaussian
  noise), so its mean 0 and covariance :math:`[[I, \rho I], [\rho I, I]]` are all there is to
  check; every mean and every covariance entry gets a z-test with the oracle SE
  :math:`\sqrt{(S_{aa} S_{bb} + S_{ab}^2)/n}` of a product of zero-mean Gaussians."""
  rho = jnp.asarray(COV_RHO, cfg.dtype)
  r64 = float(np.float64(np.asarray(rho)))
  x, y = _benchmark_pairs(key, rho, cfg.dtype)
  z = np.concatenate([np.asarray(x, np.float64), np.asarray(y, np.float64)], 1)  # [n, 2d]
  n, m = z.shape
  eye = np.eye(COV_DIM)
  cov = np.block([[eye, r64 * eye], [r64 * eye, eye]])
  emp = z.T @ z / n
  se_cov = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov ** 2) / n)
  iu = np.triu_indices(m)
  t_cov = np.abs(emp - cov)[iu] / se_cov[iu]
  t_mean = np.abs(z.mean(0)) * math.sqrt(n)
  split = t_cov.size + m
  zc = cfg.z(split=split)
  worst = int(np.argmax(t_cov))
  # Mistakes: y = rho x + (1 - rho^2) eps (Var y = rho^2 + (1 - rho^2)^2), one noise shared by
  # the coordinates of y (Cov(y_k, y_l) = 1 - rho^2), y = rho x + sqrt(1 - rho) eps.
  se_var_y, se_yy = math.sqrt(2.0 / n), math.sqrt(1.0 / n)
  effect = min(abs(r64 ** 2 + (1 - r64 ** 2) ** 2 - 1) / se_var_y,
               (1 - r64 ** 2) / se_yy, abs(r64 ** 2 + 1 - r64 - 1) / se_var_y)
  return Evidence(float(max(t_cov.max(), t_mean.max())), 0.0, zc, "<=",
                  cfg.z_origin(zc, True, split) + " per entry (the SE is the oracle's)",
                  f"max |z| over the {m} means and {t_cov.size} covariance entries of "
                  f"correlated_gaussian_sample(rho = {COV_RHO}, d = {COV_DIM}, n = {COV_N}) vs "
                  f"mean 0 and [[I, rho I], [rho I, I]]: means {t_mean.max():.2f}, covariance "
                  f"{t_cov.max():.2f} (entry {tuple(int(a[worst]) for a in iu)}: "
                  f"{emp[iu][worst]:.4f} vs {cov[iu][worst]:.4f})",
                  detects=cfg.detects(1.0, None, split=split), effect=effect,
                  effect_what="in SEs, the smallest of three samplers' worst entry: y = rho x + "
                  "(1 - rho^2) eps, one noise shared by y's coordinates, sqrt(1 - rho) for "
                  "sqrt(1 - rho^2)")


CLAIMS = [
    Claim("mi.sample_covariance", "MI", "theorem",
          "the benchmark's sampler has mean 0 and covariance [[I, rho I], [rho I, I]] (every "
          "entry z-tested)", check_sample_covariance, stochastic=True,
          mistakes=("mi_sample_no_sqrt", "mi_sample_shared_noise")),
    Claim("mi.gaussian_benchmark", "MI", "theorem",
          "the benchmark's I = -(d/2) log(1 - rho^2), its inverse, and the optimal critic "
          "log p(y|x)/p(y) match Gaussian log-determinants and log-densities",
          check_gaussian_benchmark,
          mistakes=("mi_gaussian_mi_one_minus_rho", "mi_optimal_scores_no_marginal",
                    "mi_gaussian_mi_log_not_log1p", "mi_rho_for_mi_exp_not_expm1")),
    Claim("mi.score_estimators", "MI", "theorem",
          "InfoNCE, NWJ and DV from a score matrix match their formulas (float64 oracle), with "
          "scores of 1e4 in float32", check_score_estimators,
          mistakes=("mi_infonce_no_log_b", "mi_dv_mean_not_log_mean_exp")),
    Claim("mi.infonce_le_log_batch", "MI", "theorem",
          "InfoNCE <= log B for every critic, saturated and adversarial ones included",
          check_infonce_le_log_batch, mistakes=("mi_infonce_without_positive",)),
    Claim("mi.optimal_critic_tight", "MI", "theorem",
          "at the optimal critic E[NWJ] = I exactly and E[DV - (A - (U - 1))] = Var(U)/2 (DV's "
          "bias, delta method)", check_optimal_critic_tight, stochastic=True, shares="mi.optimal",
          mistakes=("mi_nwj_no_e_minus_one", "mi_dv_mean_not_log_mean_exp")),
    Claim("mi.infonce_bracket", "MI", "theorem",
          "at the optimal critic I - E_p log((r + B - 1)/B) <= E[InfoNCE] <= I",
          check_infonce_bracket, stochastic=True, shares="mi.optimal",
          mistakes=("mi_infonce_no_log_b", "mi_infonce_without_positive")),
    Claim("mi.bounds_below_mi", "MI", "theorem",
          "NWJ and InfoNCE lie below I on average at suboptimal critics",
          check_bounds_below_mi, stochastic=True, mistakes=("mi_infonce_without_positive",)),
    Claim("mi.nwj_variance", "MI", "theorem",
          "Var(NWJ) at its optimal critic = d rho^2/B + ((1-rho^2)^-d + (1-rho^4)^-d - 2)/(B(B-1))",
          check_nwj_variance, stochastic=True,
          mistakes=("mi_nwj_variance_no_swap", "mi_nwj_variance_e_i")),
    Claim("mi.nwj_variance_formula", "MI", "theorem",
          "nwj_variance matches a brute-force Gaussian-integral oracle over every pair of score "
          "entries (rho up to 0.9, B from 2)", check_nwj_variance_formula,
          mistakes=("mi_nwj_variance_no_swap", "mi_nwj_variance_joint_term")),
    Claim("mi.self_consistency", "MI", "theorem",
          "Song & Ermon's self-consistency: dropping half of y halves the NWJ estimate, and "
          "independent x, y give E[NWJ], E[InfoNCE] <= 0", check_self_consistency,
          stochastic=True, shares="mi.optimal", mistakes=("mi_nwj_no_e_minus_one",)),
    Claim("mi.critic_layout", "MI", "theorem",
          "SeparableCritic's score matrix holds f(x_i, y_j) at [i, j] (each pair scored alone)",
          check_critic_layout, mistakes=("mi_critic_transposed",)),
    Claim("mi.train_critic_objective", "MI", "theorem",
          "train_critic optimises the estimator it is asked for: with learning rate 0 its curve "
          "draws that estimator of the initial critic", check_train_critic_objective,
          stochastic=True, mistakes=("mi_train_critic_ignores_estimator",)),
    Claim("mi.trained_critic", "MI", "theorem",
          "train_critic trains on the estimator asked for: its NWJ critic beats an InfoNCE "
          "critic on NWJ (fresh batches, paired t)", check_trained_critic,
          stochastic=True, mistakes=("mi_train_critic_ignores_estimator", "mi_critic_minimises")),
]
