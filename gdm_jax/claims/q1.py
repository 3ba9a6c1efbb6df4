r"""Q1 claims: Equation (1) for affine and nonlinear bijections, and the written normalisers."""
from __future__ import annotations

import math
import warnings
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from gdm_jax import change_of_variables as cov
from gdm_jax import stats
from gdm_jax.claims.core import FULL_OPT, Claim, Config, Evidence, max_rel_error, worst
from gdm_jax.claims.oracles import gaussian_logpdf64

KS = (1, 2, 5, 16, 64)
_LOG_2PI = math.log(2 * math.pi)


# ---------------------------------------------------------------------------------------------
# Problem instances (deterministic given a key).

def _diag_instance(key, k, dtype):
  k1, k2, k3 = jax.random.split(key, 3)
  mu = jax.random.normal(k1, (k,), dtype)
  sigma = jnp.exp(0.5 * jax.random.normal(k2, (k,), dtype))
  z0 = jax.random.normal(k3, (8, k), dtype)
  return mu, sigma, z0


def _full_instance(key, k, dtype):
  k1, k2, k3 = jax.random.split(key, 3)
  mu = jax.random.normal(k1, (k,), dtype)
  # A well-conditioned, non-symmetric, non-triangular S; for odd K its first column is negated,
  # so det S < 0 there (a log|det| that drops the absolute value gives NaN).
  s = jnp.eye(k, dtype=dtype) + jax.random.normal(k2, (k, k), dtype) / (2.0 * math.sqrt(k))
  if k % 2:
    s = s.at[:, 0].multiply(-1.0)
  z0 = jax.random.normal(k3, (8, k), dtype)
  return mu, s, z0


@partial(jax.jit, static_argnums=(1, 2))
def _affine_cases(key, dtype, full):
  """For every K in KS: (mu, scale, x, log q(x) by Eq. (1)), one compiled program for all K."""
  out = {}
  for k in KS:
    mu, scale, z0 = (_full_instance if full else _diag_instance)(jax.random.fold_in(key, k), k,
                                                                 dtype)
    g = cov.affine(mu, scale)  # the public map (shape checks only: the values are traced)
    x, lq = cov.pushforward_log_prob(g, cov.standard_normal_log_prob, z0)
    sigma = scale @ scale.T if full else jnp.diag(scale ** 2)
    out[k] = (mu, scale, x, lq, cov.gaussian_log_prob(x, mu, sigma))
  return out


def _check_affine(key, cfg: Config, full: bool) -> Evidence:
  errs, logdet = {}, {}
  for k, (mu, scale, x, lq, lq_closed) in _affine_cases(key, cfg.dtype, full).items():
    s64 = np.asarray(scale, np.float64)
    sigma = s64 @ s64.T if full else np.diag(s64 ** 2)
    ref = gaussian_logpdf64(x, mu, sigma)
    errs[k] = max(max_rel_error(lq, np.atleast_1d(ref)), max_rel_error(lq_closed, ref))
    logdet[k] = abs(0.5 * np.linalg.slogdet(sigma)[1]) / max(1.0, float(np.max(np.abs(ref))))
  what = "N(mu, S S^T)" if full else "N(mu, diag(sigma^2))"
  return Evidence(worst(errs.values()), 0.0, cfg.rtol, "==", cfg.dtype_origin(),
                  f"max rel. error of Eq. (1) through the map affine(mu, scale) returns, and of "
                  f"gaussian_log_prob, vs the float64 closed-form {what} log-density over K in {KS}"
                  + ("; det S < 0 for odd K" if full else ""), errs,
                  effect=max(logdet.values()),
                  effect_what="the log|det J| term (relative), largest over K")


def check_diag_affine_density(key, cfg: Config) -> Evidence:
  return _check_affine(key, cfg, full=False)


def check_full_affine_density(key, cfg: Config) -> Evidence:
  return _check_affine(key, cfg, full=True)


@partial(jax.jit, static_argnums=(1, 2, 3), compiler_options=FULL_OPT)
def _affine_samples(key, n, k, dtype):
  k1, k2 = jax.random.split(key)
  mu, s, _ = _full_instance(k1, k, dtype)  # odd K = 5: det S < 0
  z0 = jax.random.normal(k2, (n, k), dtype)
  return mu, s, cov.affine(mu, s)(z0)


def check_affine_moments(key, cfg: Config) -> Evidence:
  k = 5
  n = 20_000 if cfg.quick else 200_000
  mu, s, x = _affine_samples(key, n, k, cfg.dtype)
  x = np.asarray(x, np.float64)
  mu64, s64 = np.asarray(mu, np.float64), np.asarray(s, np.float64)
  sigma = s64 @ s64.T
  d = x - mu64
  # Unbiased per-sample estimators (centred at the known mean): x_i and d_i d_j.
  iu = np.triu_indices(k)
  prods = (d[:, :, None] * d[:, None, :])[:, iu[0], iu[1]]
  est = np.concatenate([x, prods], axis=1)
  target = np.concatenate([mu64, sigma[iu]])
  m = stats.mean_and_se(est, axis=0)
  zs = np.abs(m.mean - target) / m.se
  n_tests = est.shape[1]
  z = cfg.z(two_sided=True, split=n_tests)
  # In z-score units the test detects |z| = z_alpha + z_beta; the transposed map S^T z0 (a plausible
  # mistake) moves the covariance to S^T S, this many standard errors away:
  wrong = np.concatenate([mu64, (s64.T @ s64)[iu]])
  transposed = float(np.max(np.abs(wrong - target) / m.se))
  return Evidence(float(zs.max()), 0.0, z, "==", cfg.z_origin(z, True, n_tests),
                  f"max |z-score| of {n_tests} moment estimates (mean and upper triangle of "
                  f"S S^T), n={n}, samples through the map affine(mu, S) returns, det S < 0",
                  detects=z + stats.z_for_rate(stats.FALSE_PASS_RATE, False), effect=transposed,
                  effect_what="|S^T S - S S^T| in standard errors (the transposed map)")


# ---------------------------------------------------------------------------------------------
# Nonlinear bijections and quadrature.

_A, _B = 0.3, 0.8  # 1-D: g(z) = A + B sinh(z)


@jax.jit
def _sinh_log_prob(x):
  z0 = jnp.arcsinh((x - _A) / _B)  # closed-form inverse, used only to locate z0
  _, lq = cov.pushforward_log_prob(lambda z: _A + _B * jnp.sinh(z), cov.standard_normal_log_prob,
                                   z0[..., None])
  return lq


def check_nonlinear_1d(key, cfg: Config) -> Evidence:
  from scipy import integrate
  del key
  dtype = np.dtype(cfg.dtype)  # a 0-d numpy input: one dispatch per quad node, no eager ops
  f = lambda x: math.exp(float(_sinh_log_prob(np.asarray(x, dtype))))
  with warnings.catch_warnings():  # quad's roundoff warning for float32 integrands
    warnings.simplefilter("ignore", integrate.IntegrationWarning)
    val, abserr = integrate.quad(f, -np.inf, np.inf, epsabs=1e-13, epsrel=1e-12, limit=200)
  return Evidence(val, 1.0, cfg.rtol, "==", cfg.dtype_origin(),
                  f"scipy.integrate.quad of exp(Eq. 1) for g(z)={_A}+{_B} sinh(z); quad error "
                  f"estimate {abserr:.1e}", effect=abs(_B * math.exp(0.5) - 1.0),
                  effect_what="|E g'(Z) - 1| = |b e^(1/2) - 1|: the integral without the Jacobian")


_M = (0.2, -0.4)  # Python floats: weakly typed, so the dtype follows the input
_S = (0.9, 1.1)
_C = 0.7


def _planar2d(z):
  """Nonlinear triangular bijection R^2 -> R^2 (non-diagonal Jacobian)."""
  z1, z2 = z[..., 0], z[..., 1]
  x1 = _M[0] + _S[0] * (z1 + 0.5 * jnp.tanh(z1))
  x2 = _M[1] + _S[1] * (z2 + 0.5 * jnp.tanh(z2)) + _C * jnp.tanh(z1)
  return jnp.stack([x1, x2], axis=-1)


def _inverse2d(x):
  h = lambda u: u + 0.5 * jnp.tanh(u)
  z1 = cov.bisect_inverse(h, (x[..., 0] - _M[0]) / _S[0], -60.0, 60.0)
  z2 = cov.bisect_inverse(h, (x[..., 1] - _M[1] - _C * jnp.tanh(z1)) / _S[1], -60.0, 60.0)
  return jnp.stack([z1, z2], axis=-1)


@partial(jax.jit, compiler_options=FULL_OPT)
def _grid_log_prob_2d(xy):
  z0 = _inverse2d(xy)
  _, lq = cov.pushforward_log_prob(_planar2d, cov.standard_normal_log_prob, z0)
  return lq


def grid_integral_2d(log_prob, dtype, half_width=20.0, n=801, with_error=False, signed=False):
  """Trapezoid rule on [-L, L]^2 (spectrally accurate for smooth, fast-decaying densities).

  ``with_error=True`` also returns |I_h - I_2h|, the change when every other node is dropped: an
  error estimate at no extra density evaluations (``n`` must be odd). ``signed=True``: the
  function returns ``(sign, log|q|)`` (as ``slogdet``), for a written "density" that can be
  negative."""
  t = np.linspace(-half_width, half_width, n)
  xx, yy = np.meshgrid(t, t, indexing="ij")
  pts = np.stack([xx.ravel(), yy.ravel()], -1).astype(dtype)
  if signed:
    sign, log_abs = (np.asarray(a, np.float64) for a in log_prob(pts))
    dens = (sign * np.exp(log_abs)).reshape(n, n)
  else:
    dens = np.exp(np.asarray(log_prob(pts), np.float64)).reshape(n, n)
  trap = lambda d, u: float(np.trapezoid(np.trapezoid(d, u, axis=1), u))
  val = trap(dens, t)
  if not with_error:
    return val
  if n % 2 == 0:
    raise ValueError(f"`n` must be odd for the halving error estimate; got {n}.")
  return val, abs(val - trap(dens[::2, ::2], t[::2]))


def check_nonlinear_2d(key, cfg: Config) -> Evidence:
  del key
  val, err = grid_integral_2d(_grid_log_prob_2d, cfg.dtype, half_width=14.0, n=281,
                              with_error=True)
  t, w = np.polynomial.hermite_e.hermegauss(80)
  e_sech2 = float(np.sum(w / np.cosh(t) ** 2) / np.sum(w))
  no_jac = _S[0] * _S[1] * (1 + 0.5 * e_sech2) ** 2  # E det J(Z), the integral without 1/|det J|
  return Evidence(val, 1.0, cfg.rtol, "==", cfg.dtype_origin(),
                  "trapezoid quadrature on [-14,14]^2 (281^2 nodes, h = 0.1) of exp(Eq. 1) for a "
                  f"nonlinear triangular map; inverse by bisection; |I_h - I_2h| = {err:.1e}",
                  effect=abs(no_jac - 1.0),
                  effect_what="|E det J(Z) - 1| (Gauss-Hermite): the integral without the Jacobian")


# ---------------------------------------------------------------------------------------------
# The written answers' normalisers (errata).

def written_base_log_prob(z):
  r"""Answer 1: :math:`q(z_0) = \frac{1}{\sqrt{2\pi}}\exp(-\frac12 z_0^\top z_0)` for any K."""
  return -0.5 * jnp.sum(z * z, -1) - 0.5 * _LOG_2PI


def written_diag_log_prob(x, mu, sigma):
  r"""Answer 1.1: :math:`\frac{1}{\sqrt{2\pi}|\mathrm{diag}(\sigma^2)|}\exp(\ldots)`."""
  r = (x - mu) / sigma
  return -0.5 * jnp.sum(r * r, -1) - 0.5 * _LOG_2PI - jnp.sum(jnp.log(sigma ** 2))


def written_full_log_prob(x, mu, s):
  r"""Answer 1.2 (final line): :math:`\frac{1}{\sqrt{2\pi}|S S^\top|}\exp(\ldots)`."""
  r = jnp.linalg.solve(s, (x - mu).T).T
  return -0.5 * jnp.sum(r * r, -1) - 0.5 * _LOG_2PI - jnp.linalg.slogdet(s @ s.T)[1]


@partial(jax.jit, static_argnums=(0,))
def _apply_written(written, cases):
  """The written log-density at each case's x: ``{K: (mu, scale, x)} -> {K: log q(x)}``."""
  return {k: written(x, mu, scale) for k, (mu, scale, x) in cases.items()}


def _normaliser_errors(key, cfg, written, full):
  """Error of the written log-density, in nats, for K >= 2 (instances of the theorem claims)."""
  # The theorem claims' compiled program draws the instances (shared within a process).
  cases = {k: c[:3] for k, c in _affine_cases(key, cfg.dtype, full).items() if k >= 2}
  errs = {}
  for k, lw in _apply_written(written, cases).items():
    mu, scale, x = cases[k]
    x64 = np.asarray(x, np.float64)
    s64 = np.asarray(scale, np.float64)
    sigma = s64 @ s64.T if full else np.diag(s64 ** 2)
    truth = gaussian_logpdf64(x64, mu, sigma)
    errs[k] = float(np.max(np.abs(np.asarray(lw, np.float64) - truth)))
  return errs


@jax.jit
def _written_base_at(z):
  return written_base_log_prob(z)


def check_written_base(key, cfg: Config) -> Evidence:
  del key
  val, err = grid_integral_2d(_written_base_at, cfg.dtype, half_width=12.0, n=241,
                              with_error=True)
  return Evidence(val, 1.0, cfg.rtol, "==", cfg.dtype_origin(),
                  "integral over R^2 (trapezoid, h = 0.1, |I_h - I_2h| = "
                  f"{err:.1e}) of the written q(z0) = (2 pi)^(-1/2) exp(-z0'z0/2); "
                  f"it is (2 pi)^((K-1)/2) = {math.sqrt(2 * math.pi):.4f} at K=2",
                  effect=abs(val - 1.0), effect_what="the written density's error")


def _check_written(key, cfg: Config, written, mu, scale, full: bool, what: str) -> Evidence:
  """The written density's integral over R^2 (K=2), and its log-density error for K = 2..64."""
  mu, scale = np.asarray(mu, cfg.dtype), np.asarray(scale, cfg.dtype)
  val, err = grid_integral_2d(lambda x: _apply_written(written, {2: (mu, scale, x)})[2],
                              cfg.dtype, half_width=14.0, n=281, with_error=True)
  errs = _normaliser_errors(key, cfg, written, full=full)
  detail = (f"integral over R^2 (trapezoid, h = 0.1, |I_h - I_2h| = {err:.1e}) of the written "
            f"density ({what}); |error| of the written log-density in nats: " +
            ", ".join(f"K={k}: {e:.3g}" for k, e in errs.items()))
  return Evidence(val, 1.0, cfg.rtol, "==", cfg.dtype_origin(), detail, errs,
                  effect=abs(val - 1.0), effect_what="the written density's error")


def check_written_diag(key, cfg: Config) -> Evidence:
  return _check_written(key, cfg, written_diag_log_prob, [0.3, -0.2], [0.7, 1.6], False,
                        "sigma=(0.7,1.6)")


def check_written_full(key, cfg: Config) -> Evidence:
  return _check_written(key, cfg, written_full_log_prob, [0.1, 0.5], [[1.2, 0.4], [-0.3, 0.8]],
                        True, "det S = 1.08")


# Answer 1.2, step by step: |det dg/dz0|^-1 = |S|^-1 "where |.| represents determinant", then
# 1/(sqrt(2 pi)|S|) = 1/(sqrt(2 pi)|S S^T|). Two errors, two claims: the first drops the absolute
# value (wrong only when det S < 0, where it flips the sign of the density), the second squares
# the determinant (wrong whenever |det S| != 1, a factor |det S|). One instance with det S = -2
# would show both at once, but its one number (-1/2) could not say which step is wrong, nor
# how much each contributes.

_S_NEG = ((1.2, 0.4), (0.3, -0.8))  # det S = -1.08
_S_TWO = ((1.5, 0.5), (-1.0, 1.0))  # det S = 2


@jax.jit
def _signed_det_density(x, mu, s):
  r"""Eq. (1) with :math:`\det J` in place of :math:`|\det J|` (Answer 1.2's first step), on
  the correct base :math:`\mathcal{N}(0, I_2)`: ``(sign det J, log q(x))`` with ``log q`` the
  library's Eq. (1), so the written density is ``sign det J * exp(log q)``."""
  g = cov.affine(mu, s)
  z0 = jnp.linalg.solve(s, (x - mu).T).T
  _, lq = cov.pushforward_log_prob(g, cov.standard_normal_log_prob, z0)
  sign = jnp.sign(jnp.linalg.det(jax.jacfwd(g)(z0[0])))  # the determinant itself, not |.|
  return jnp.broadcast_to(sign, lq.shape), lq


def check_written_det_sign(key, cfg: Config) -> Evidence:
  del key
  mu, s = np.asarray([0.1, 0.5], cfg.dtype), np.asarray(_S_NEG, cfg.dtype)
  val, err = grid_integral_2d(lambda x: _signed_det_density(x, mu, s), cfg.dtype,
                              half_width=14.0, n=281, with_error=True, signed=True)
  det = float(np.linalg.det(np.asarray(_S_NEG, np.float64)))
  return Evidence(val, 1.0, cfg.rtol, "==", cfg.dtype_origin(),
                  f"integral over R^2 (trapezoid, h = 0.1, |I_h - I_2h| = {err:.1e}) of "
                  f"N(0, I_2)(z0) / det(dg/dz0), g = mu + S z0, det S = {det:.2f} (Eq. (1) of the "
                  "library, its |det J| replaced by det J); with the written base "
                  f"(2 pi)^(-1/2) as well it is sqrt(2 pi)/det S = "
                  f"{math.sqrt(2 * math.pi) / det:.3f}",
                  effect=2.0, effect_what="|sign(det S) - 1|: the density's integral flips to -1")


@jax.jit
def _written_lines(x, mu, s):
  r"""Answer 1.2's last two lines, :math:`\frac{1}{\sqrt{2\pi}|S|}\exp(\ldots)` and
  :math:`\frac{1}{\sqrt{2\pi}|SS^\top|}\exp(\ldots)`, as log-densities."""
  line2 = written_full_log_prob(x, mu, s)
  return line2 + jnp.linalg.slogdet(s @ s.T)[1] - jnp.linalg.slogdet(s)[1], line2


def check_written_det_step(key, cfg: Config) -> Evidence:
  del key
  mu, s = np.asarray([0.1, 0.5], cfg.dtype), np.asarray(_S_TWO, cfg.dtype)
  i1, e1 = grid_integral_2d(lambda x: _written_lines(x, mu, s)[0], cfg.dtype, half_width=14.0,
                            n=281, with_error=True)
  i2, e2 = grid_integral_2d(lambda x: _written_lines(x, mu, s)[1], cfg.dtype, half_width=14.0,
                            n=281, with_error=True)
  det = float(np.linalg.det(np.asarray(_S_TWO, np.float64)))
  return Evidence(i1 / i2, 1.0, cfg.rtol, "==", cfg.dtype_origin(),
                  f"ratio of the integrals over R^2 (trapezoid, h = 0.1, |I_h - I_2h| <= "
                  f"{max(e1, e2):.1e}) of the written 1/(sqrt(2 pi)|S|) exp(...) ({i1:.4f}) and "
                  f"1/(sqrt(2 pi)|S S^T|) exp(...) ({i2:.4f}), det S = {det:g}: the step "
                  "'=' between them multiplies the density by 1/|det S|",
                  effect=abs(abs(det) - 1.0),
                  effect_what="||det S| - 1|: the factor the step drops (float64 numpy det)")


#: Why the errata name no library mistake (``Claim.oracle_only``): each integrates a written
#: formula, transcribed in this module, with the claim's own trapezoid rule.
_WRITTEN = ("an erratum: integrates the written formula (transcribed in this module) by the "
            "claim's own trapezoid rule; no library function is involved")
_WRITTEN_SIGN = ("an erratum: the written step (det J for |det J|) times the library's Eq. (1), "
                 "integrated by the claim's own rule; Eq. (1) itself is q1.full_affine_density's")

CLAIMS = [
    Claim("q1.diag_affine_density", "Q1.1", "theorem",
          "Eq. (1) with g = mu + sigma * z0 gives N(mu, diag(sigma^2)), K = 1..64",
          check_diag_affine_density, shares="q1.diag",
          mistakes=("drop_logdet", "affine_variance")),
    Claim("q1.full_affine_density", "Q1.2", "theorem",
          "Eq. (1) with g = mu + S z0 gives N(mu, S S^T), K = 1..64", check_full_affine_density,
          shares="q1.full",
          mistakes=("drop_logdet", "affine_transposed", "gaussian_cholesky_transposed")),
    Claim("q1.affine_moments", "Q1.2", "theorem",
          "samples of mu + S Z0 have mean mu and covariance S S^T", check_affine_moments,
          stochastic=True,
          mistakes=("affine_transposed",)),
    Claim("q1.nonlinear_1d", "Q1", "theorem",
          "Eq. (1) for g(z) = a + b sinh(z) is a density: integrates to 1 (quadrature)",
          check_nonlinear_1d,
          mistakes=("drop_logdet", "pushforward_plus_logdet")),
    Claim("q1.nonlinear_2d", "Q1", "theorem",
          "Eq. (1) for a nonlinear triangular bijection of R^2 integrates to 1 (quadrature)",
          check_nonlinear_2d,
          mistakes=("drop_logdet", "bisect_comparison_flipped")),
    Claim("q1.written_base_normaliser", "Q1.1", "erratum",
          "Answer 1: N(0, I_K) has density (2 pi)^(-1/2) exp(-z'z/2) (integrates to 1 at K=2)",
          check_written_base,
          oracle_only=_WRITTEN),
    Claim("q1.written_diag_normaliser", "Q1.1", "erratum",
          "Answer 1.1: q(g(z0)) = exp(...)/(sqrt(2 pi) |diag(sigma^2)|) (integrates to 1)",
          check_written_diag, shares="q1.diag",
          oracle_only=_WRITTEN),
    Claim("q1.written_full_normaliser", "Q1.2", "erratum",
          "Answer 1.2: q(g(z0)) = exp(...)/(sqrt(2 pi) |S S^T|) (integrates to 1)",
          check_written_full, shares="q1.full",
          oracle_only=_WRITTEN),
    Claim("q1.written_det_sign", "Q1.2", "erratum",
          "Answer 1.2: |det dg/dz0|^-1 = |S|^-1 with |.| the determinant (a density for every S; "
          "det S < 0 here)", check_written_det_sign,
          oracle_only=_WRITTEN_SIGN),
    Claim("q1.written_det_step", "Q1.2", "erratum",
          "Answer 1.2: 1/(sqrt(2 pi)|S|) exp(...) = 1/(sqrt(2 pi)|S S^T|) exp(...) "
          "(det S = 2 here)",
          check_written_det_step,
          oracle_only=_WRITTEN),
]
