r"""Q7 claims: the Jensen-Shannon divergence for disjoint and overlapping supports."""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm
from scipy.special import ndtr

from gdm_jax import divergences as dv
from gdm_jax.claims import oracles
from gdm_jax.claims.core import Claim, Config, Evidence, max_rel_error, worst

LOG2 = math.log(2.0)


def _uniform(a, b):
  return lambda x: jnp.where((x >= a) & (x <= b), -jnp.log(b - a), -jnp.inf)


def _truncnorm(m, s, a, b):
  z = float(ndtr((b - m) / s) - ndtr((a - m) / s))  # scipy: module constants start no jax
  return lambda x: jnp.where((x >= a) & (x <= b), norm.logpdf(x, m, s) - math.log(z), -jnp.inf)


def _sampler_uniform(a, b):
  return lambda key, n: jax.random.uniform(key, (n,), minval=a, maxval=b)


def _sampler_truncnorm(m, s, a, b):
  return lambda key, n: jax.random.truncated_normal(key, (a - m) / s, (b - m) / s, (n,)) * s + m


DISJOINT = {
    "U(0,1) vs U(2,3)": (_uniform(0, 1), _sampler_uniform(0, 1), _uniform(2, 3),
                         _sampler_uniform(2, 3), (0, 1, 2, 3)),
    "U(0,1) vs U(1,2) (touching)": (_uniform(0, 1), _sampler_uniform(0, 1), _uniform(1, 2),
                                    _sampler_uniform(1, 2), (0, 1, 2)),
    "N(0,1) on [-3,0] vs N(1,0.5^2) on [0.2,3]": (
        _truncnorm(0, 1, -3, 0), _sampler_truncnorm(0, 1, -3, 0), _truncnorm(1, 0.5, 0.2, 3),
        _sampler_truncnorm(1, 0.5, 0.2, 3), (-3, 0, 0.2, 3)),
}


def _np_uniform(a, b):
  return lambda x: np.where((x >= a) & (x <= b), -math.log(b - a), -np.inf)


def _np_truncnorm(m, s, a, b):
  z = float(ndtr((b - m) / s) - ndtr((a - m) / s))
  return lambda x: np.where((x >= a) & (x <= b),
                            oracles.normal_logpdf64(x, m, s) - math.log(z), -np.inf)


#: float64 numpy twins of DISJOINT's log-densities, for the scipy-quad oracle.
DISJOINT64 = {"U(0,1) vs U(2,3)": (_np_uniform(0, 1), _np_uniform(2, 3)),
              "U(0,1) vs U(1,2) (touching)": (_np_uniform(0, 1), _np_uniform(1, 2)),
              "N(0,1) on [-3,0] vs N(1,0.5^2) on [0.2,3]": (_np_truncnorm(0, 1, -3, 0),
                                                           _np_truncnorm(1, 0.5, 0.2, 3))}


def jsd_by_quad(log_p, log_q, breaks):
  """scipy.integrate.quad of the JSD's definition (float64 numpy log-densities), split at the
  support's breakpoints."""
  return oracles.jsd_quad64(log_p, log_q, breaks, min(breaks) - 1.0, max(breaks) + 1.0)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _mc(key, n, dtype):
  """The Monte Carlo JSD estimate from ``n`` samples of each side, for every DISJOINT pair."""
  out = []
  for i, (lp, sp, lq, sq, _) in enumerate(DISJOINT.values()):
    k1, k2 = jax.random.split(jax.random.fold_in(key, i))
    xp, xq = sp(k1, n).astype(dtype), sq(k2, n).astype(dtype)
    out.append(dv.jsd_monte_carlo(lp(xp), lq(xp), lp(xq), lq(xq)))
  return out


def check_disjoint(key, cfg: Config) -> Evidence:
  errs = {}
  mcs = _mc(key, 2000, cfg.dtype)
  for (name, (*_, breaks)), mc in zip(DISJOINT.items(), mcs):
    quad = jsd_by_quad(*DISJOINT64[name], breaks)
    errs[name] = max(abs(quad - LOG2), abs(float(mc) - LOG2))
  return Evidence(worst(errs.values()), 0.0, cfg.rtol, "==", cfg.dtype_origin(),
                  "max |JSD - log 2| over pairs, by scipy quad of the definition and by the library's "
                  "Monte Carlo estimator (every term is exactly log 2): " +
                  "; ".join(f"{k}: {v:.1e}" for k, v in errs.items()), errs,
                  effect=LOG2 / 2, effect_what="log 2 - JSD(U(0,1), U(0.5,1.5)): half-overlapping "
                  "supports")


OVERLAPS = (0.25, 0.5, 0.9)
N_STRATA, M_STRATA = 1000, 200  # midpoints of equal cells of p's and q's supports (N != M): every
                                # breakpoint a, 1 falls on a cell edge of both


@functools.partial(jax.jit, static_argnums=(0, 1))
def _stratified_jsd(overlaps, dtype):
  """jsd_monte_carlo (with its SE) and its per-sample terms on the midpoints of N_STRATA and
  M_STRATA equal cells of the two uniforms' supports: exact for these piecewise-constant
  integrands."""
  u = (jnp.arange(N_STRATA, dtype=dtype) + 0.5) / N_STRATA
  v = (jnp.arange(M_STRATA, dtype=dtype) + 0.5) / M_STRATA
  out = []
  for a in overlaps:
    lp = lambda x: jnp.where((x >= 0) & (x <= 1), 0.0, -jnp.inf)
    lq = lambda x, a=a: jnp.where((x >= a) & (x <= 1 + a), 0.0, -jnp.inf)
    xp, xq = u, a + v
    args = (lp(xp), lq(xp), lp(xq), lq(xq))
    out.append((dv.jsd_monte_carlo(*args, with_se=True), dv.jsd_monte_carlo_terms(*args)))
  # A lopsided pair, U(0,1) vs U(0.5, 2.5): the two sides' terms have different means.
  lp = lambda x: jnp.where((x >= 0) & (x <= 1), 0.0, -jnp.inf)
  lq = lambda x: jnp.where((x >= 0.5) & (x <= 2.5), -jnp.log(2.0), -jnp.inf)
  xp, xq = u, 0.5 + 2.0 * v
  out.append(dv.jsd_monte_carlo(lp(xp), lq(xp), lp(xq), lq(xq)))
  return out


def check_overlap(key, cfg: Config) -> Evidence:
  del key
  *res, lopsided = _stratified_jsd(OVERLAPS, cfg.dtype)
  # JSD(U(0,1) || U(0.5,2.5)) = (KL(p||m) + KL(q||m))/2 with m = 3/4 on the overlap:
  # KL(p||m) = log(2)/2 + log(4/3)/2, KL(q||m) = log(2/3)/4 + 3 log(2)/4.
  lop_ref = 0.5 * (0.5 * LOG2 + 0.5 * math.log(4 / 3) + 0.25 * math.log(2 / 3) + 0.75 * LOG2)
  errs = {"U(0,1) vs U(0.5,2.5)": abs(float(lopsided) - lop_ref)}
  for a, ((est, se), (tp, tq)) in zip(OVERLAPS, res):
    tp, tq = np.asarray(tp, np.float64), np.asarray(tq, np.float64)
    se_ref = 0.5 * math.sqrt(tp.var(ddof=1) / tp.size + tq.var(ddof=1) / tq.size)
    errs[f"U(0,1) vs U({a},{1 + a})"] = abs(float(est) - a * LOG2)
    errs[f"SE formula, a={a}"] = abs(float(se) - se_ref) / max(1.0, se_ref)
  quad = {a: jsd_by_quad(_np_uniform(0, 1), _np_uniform(a, 1 + a), (0, a, 1, 1 + a))
          for a in OVERLAPS}
  return Evidence(worst(errs.values()), 0.0, cfg.rtol, "==", cfg.dtype_origin(),
                  "max |JSD(U(0,1), U(a,1+a)) - a log 2| (closed form) over a in "
                  f"{OVERLAPS}, by the library's estimator on stratified points ({N_STRATA} of p, "
                  f"{M_STRATA} of q), and its SE vs the float64 formula; scipy quad of the "
                  "definition: " + ", ".join(f"a={a}: {v:.6f}" for a, v in quad.items()), errs,
                  effect=(1 - max(OVERLAPS)) * LOG2,
                  effect_what="log 2 - JSD at the smallest overlap (a = 0.9)")


GAUSS_MEANS = (0.5, 2.0, 4.0)
GAUSS_SCALES = (1.0, 1.0, 1.0, 3.0)   # the last pair, N(0,1) vs N(1, 3^2), is lopsided
GAUSS_MS = GAUSS_MEANS + (1.0,)


@functools.partial(jax.jit, static_argnums=(1,))
def _gauss_jsd(grid, means, scales=None):
  """JSD(N(0,1) || N(m,s^2)) by the library's trapezoid quadrature for each (m, s)."""
  scales = scales or (1.0,) * len(means)
  return [dv.jsd_quadrature(norm.logpdf(grid, 0, 1), norm.logpdf(grid, m, sc), grid)
          for m, sc in zip(means, scales)]


def check_overlap_below(key, cfg: Config) -> Evidence:
  grid = np.linspace(-15.0, 25.0, 8001).astype(cfg.dtype)
  vals = [float(v) for v in _gauss_jsd(grid, GAUSS_MS, GAUSS_SCALES)]
  ref = [oracles.jsd_quad64(lambda x: oracles.normal_logpdf64(x, 0, 1),
                            lambda x, m=m, sc=sc: oracles.normal_logpdf64(x, m, sc), (0.0, m),
                            -15.0, 25.0) for m, sc in zip(GAUSS_MS, GAUSS_SCALES)]
  err = max_rel_error(vals, ref)
  return Evidence(err, 0.0, cfg.rtol, "==", cfg.dtype_origin(),
                  "max rel. |jsd_quadrature - scipy quad of the definition| for N(0,1) vs N(m,1), "
                  f"m in {GAUSS_MEANS}, and N(0,1) vs N(1,3^2): " +
                  ", ".join(f"{v:.5f}" for v in vals) +
                  f" (all below log 2 = {LOG2:.5f})",
                  effect=min((LOG2 - r) / max(1.0, r) for r in ref[:3]),
                  effect_what="the smallest distance log 2 - JSD (m = 4): a JSD stuck at log 2 is "
                  "refuted")


KL_N = 501   # grid of [0, 1] with both ends as nodes
_C = 2.0 / 3.0  # p(x) = c (1 + x) on [0, 1]: p(0) = 2/3, p(1) = 4/3


@functools.partial(jax.jit, static_argnums=(0,))
def _kl_linear(n, dtype_probe):
  """KL(p || q) by kl_quadrature for p(x) = c(1 + x), q = U(0, 1) on an n-node grid of [0, 1]."""
  x = jnp.linspace(0.0, 1.0, n, dtype=dtype_probe.dtype)
  return dv.kl_quadrature(jnp.log(_C * (1.0 + x)), jnp.zeros_like(x), x)


#: A second case on an uneven grid (sinh-spaced, dense where the mass is) with a q that is not
#: uniform: p = N(0, 1), q = N(1, 2^2) (its log q enters, unlike U(0, 1)'s log q = 0).
KL_UNEVEN = 3.0 * np.sinh(np.linspace(-2.2, 2.4, 1501))
KL_Q = (1.0, 2.0)


@functools.partial(jax.jit, static_argnums=(1,))
def _kl_gauss(grid, dtype_name):
  x = jnp.asarray(grid, dtype_name)
  lp = -0.5 * x * x - 0.5 * math.log(2 * math.pi)
  m, s = KL_Q
  lq = -0.5 * ((x - m) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)
  return dv.kl_quadrature(lp, lq, x)


def check_kl_ends(key, cfg: Config) -> Evidence:
  r"""Two cases. (1) Closed form :math:`\int_0^1 c(1+x)\log(c(1+x))\,dx = c(\tfrac32\log c +
  2\log 2 - \tfrac34)`, p with mass at both ends of the grid, q = U(0, 1); the trapezoid rule's
  error is :math:`\tfrac{h^2}{12}(f'(1) - f'(0)) + O(h^4)` with :math:`f' = c\log(c(1+x)) + c`
  (Euler-Maclaurin), so the reference carries that term and the tolerance the next one
  (:math:`h^4/720\,\max|f^{(3)}|`, :math:`|f^{(3)}| = c/(1+x)^2 \le c`). (2) p = N(0, 1),
  q = N(1, 2^2) on an uneven (sinh-spaced) grid: the reference is scipy's trapezoid rule of the
  float64 integrand on the same nodes (the closed-form KL is shown beside it)."""
  from scipy import integrate
  del key
  got = float(_kl_linear(KL_N, jnp.zeros((), cfg.dtype)))
  h = 1.0 / (KL_N - 1)
  exact = _C * (1.5 * math.log(_C) + 2 * math.log(2.0) - 0.75)
  em = h * h / 12 * _C * math.log(2.0)   # f'(1) - f'(0) = c log 2
  h4 = h ** 4 / 720 * _C
  ref = exact + em
  err1 = max(0.0, abs(got - ref) - h4) / max(1.0, abs(ref))
  x = np.asarray(KL_UNEVEN.astype(cfg.dtype), np.float64)  # the nodes the library sees
  m, sd = KL_Q
  lp, lq = oracles.normal_logpdf64(x, 0.0, 1.0), oracles.normal_logpdf64(x, m, sd)
  ref2 = float(integrate.trapezoid(np.exp(lp) * (lp - lq), x))
  closed = math.log(sd) + (1.0 + m * m) / (2 * sd * sd) - 0.5
  got2 = float(_kl_gauss(KL_UNEVEN, cfg.dtype_name))
  err2 = abs(got2 - ref2) / max(1.0, abs(ref2))
  riemann = h / 2 * (_C * math.log(_C) + 2 * _C * math.log(2 * _C))
  return Evidence(max(err1, err2), 0.0, cfg.rtol, "==",
                  cfg.dtype_origin() + " (case 1 less the Euler-Maclaurin h^4 term)",
                  f"(1) KL(p || q) by divergences.kl_quadrature for p(x) = (2/3)(1 + x), q = U(0,1) "
                  f"on a grid of {KL_N} nodes with mass at both ends: {got:.8f} vs the closed form "
                  f"{exact:.8f} + h^2/12 (f'(1) - f'(0)) = {em:.2e}; (2) p = N(0,1), q = N({m}, "
                  f"{sd}^2) on {KL_UNEVEN.size} sinh-spaced nodes of [{KL_UNEVEN[0]:.1f}, "
                  f"{KL_UNEVEN[-1]:.1f}] (spacing {np.diff(KL_UNEVEN).min():.3f} to "
                  f"{np.diff(KL_UNEVEN).max():.3f}): {got2:.8f} vs scipy trapezoid {ref2:.8f} "
                  f"(closed form {closed:.8f})",
                  effect=abs(riemann) / max(1.0, abs(ref)),
                  effect_what="h (f(0) + f(1)) / 2: end weights h for h/2 (a Riemann sum), "
                              "relative")


SIGMA = 0.02   # the lines blurred by N(0, SIGMA^2) in x (identical uniform y parts cancel)
THETAS = (-1.0, 0.0, 0.01, 0.05, 0.3, 2.0)
LINE_GRID = np.linspace(-1.5, 2.5, 20001)


def parallel_lines(theta, eps, grid):
  r"""Arjovsky et al. (2017), example 1, with the lines blurred in x: :math:`P_0 = N(0, \sigma^2)
  \times U[0, 1]`, :math:`P_\theta = N(\theta, \sigma^2) \times U[0,1]`. The y parts are identical
  and cancel in both quantities. Returns (JSD by the library's quadrature on ``grid``, W1 by the
  library's 1-D estimator on reparameterised samples ``x0 = sigma eps`` and ``x_theta = theta +
  sigma eps[::-1]``, a reordered copy, so the exact W1 is |theta| and an estimator that does not
  sort is wrong), both differentiable in ``theta``."""
  jsd = dv.jsd_quadrature(norm.logpdf(grid, 0.0, SIGMA), norm.logpdf(grid, theta, SIGMA), grid)
  w1 = dv.wasserstein1_1d(theta + SIGMA * eps[::-1], SIGMA * eps)
  return jsd, w1


@jax.jit
def _w1_scaled(thetas, eps):
  """W1 between sigma eps and theta + 2 sigma eps[::-1] (unequal scales): a pair on which the
  sorted differences are not all equal."""
  return jax.vmap(lambda t: dv.wasserstein1_1d(t + 2 * SIGMA * eps[::-1], SIGMA * eps))(thetas)


@jax.jit
def _parallel_lines_cases(thetas, eps, grid):
  """(JSD, W1, dJSD/dtheta, dW1/dtheta) at each theta (autodiff)."""
  def one(t):
    (jsd, w1), (g_jsd, g_w1) = jax.jvp(lambda u: parallel_lines(u, eps, grid), (t,),
                                       (jnp.ones_like(t),))
    return jsd, w1, g_jsd, g_w1
  return jax.vmap(one)(thetas)


def _jsd_gauss64(theta) -> float:
  return oracles.jsd_quad64(lambda x: oracles.normal_logpdf64(x, 0, SIGMA),
                            lambda x: oracles.normal_logpdf64(x, theta, SIGMA),
                            (0.0, theta), min(0.0, theta) - 1.0, max(0.0, theta) + 1.0)


def check_parallel_lines(key, cfg: Config) -> Evidence:
  eps = np.asarray(jax.random.normal(key, (512,), cfg.dtype))
  jsd, w1, g_jsd, g_w1 = (np.asarray(a, np.float64) for a in _parallel_lines_cases(
      np.asarray(THETAS, cfg.dtype), eps, LINE_GRID.astype(cfg.dtype)))
  h = 1e-4
  errs, unsorted, fd_err = {}, {}, 0.0
  e64 = eps.astype(np.float64)
  for i, th in enumerate(THETAS):
    ref = _jsd_gauss64(th)
    dref = (_jsd_gauss64(th + h) - _jsd_gauss64(th - h)) / (2 * h)  # central difference
    dref2 = (_jsd_gauss64(th + 2 * h) - _jsd_gauss64(th - 2 * h)) / (4 * h)
    fd = abs(dref2 - dref)  # ~3 x the central difference's O(h^2) error: its error estimate
    fd_err = max(fd_err, fd)
    sign = math.copysign(1.0, th) if th != 0 else None
    tol = cfg.rtol
    # Each error over its own tolerance: rtol x max(1, |ref|), and for the derivative also the
    # central difference's error estimate.
    errs[th] = max(abs(jsd[i] - ref) / (tol * max(1.0, ref)),
                   abs(g_jsd[i] - dref) / (tol * max(1.0, abs(dref)) + fd),
                   abs(w1[i] - abs(th)) / (tol * max(1.0, abs(th))),
                   abs(g_w1[i] - sign) / tol if sign is not None else 0.0)
    unsorted[th] = abs(np.mean(np.abs(th + SIGMA * e64[::-1] - SIGMA * e64)) - abs(th)) / (
        tol * max(1.0, abs(th)))
  w1s = np.asarray(_w1_scaled(np.asarray(THETAS, cfg.dtype), eps), np.float64)
  for i, th in enumerate(THETAS):  # oracle: numpy's sort of the same samples
    ref = float(np.mean(np.abs(np.sort(th + 2 * SIGMA * e64[::-1]) - np.sort(SIGMA * e64))))
    errs[th] = max(errs[th], abs(w1s[i] - ref) / (cfg.rtol * max(1.0, ref)))
  far = [i for i, th in enumerate(THETAS) if abs(th) >= 0.3]
  return Evidence(worst(errs.values()), 0.0, 1.0, "==",
                  cfg.dtype_origin() + f" per term; + the central difference's error estimate "
                  f"|D(2h) - D(h)| <= {fd_err:.1e} for dJSD",
                  f"max over theta in {THETAS} of |JSD - quad|, |dJSD/dtheta - central difference "
                  "of quad|, |W1 - |theta||, |dW1/dtheta - sign theta| (autodiff, sigma = "
                  "; W1 at unequal scales vs numpy's sort, "
                  f"{SIGMA}), each over its tolerance; for |theta| >= 0.3: JSD = "
                  f"{', '.join(f'{jsd[i]:.6f}' for i in far)}, dJSD = "
                  f"{', '.join(f'{g_jsd[i]:.1e}' for i in far)}, dW1 = "
                  f"{', '.join(f'{g_w1[i]:.3f}' for i in far)}", errs,
                  effect=min(v for th, v in unsorted.items() if abs(th) < 0.3 and v > 0),
                  effect_what="the smallest error of W1 without sorting (theta < 0.3), in "
                  "tolerances")

CLAIMS = [
    Claim("q7.kl_quadrature_ends", "Q7", "theorem",
          "KL(p||q) by the trapezoid rule equals the closed form with mass at the grid's ends "
          "(p = (2/3)(1 + x), q = U(0,1)) and scipy's on an uneven grid (N(0,1) vs N(1,2^2))", check_kl_ends,
          mistakes=("trapezoid_riemann", "kl_quadrature_swapped", "kl_quadrature_drops_q_weight",
                    "kl_quadrature_cross_term_sign", "trapezoid_even_spacing")),
    Claim("q7.disjoint_is_log2", "Q7", "theorem",
          "JSD(p||q) = log 2 for disjoint supports (uniforms, truncated Gaussians)",
          check_disjoint,
          mistakes=("log_mixture_no_half", "jsd_without_half")),
    Claim("q7.partial_overlap", "Q7", "theorem",
          "JSD(U(0,1) || U(a,1+a)) = a log 2: overlap lowers JSD below log 2", check_overlap,
          mistakes=("jsd_mc_pooled", "log_mixture_no_half")),
    Claim("q7.overlap_below_log2", "Q7", "theorem", "JSD < log 2 when supports overlap",
          check_overlap_below,
          mistakes=("jsd_quadrature_one_side", "log_mixture_no_half")),
    Claim("q7.parallel_lines", "Q7", "theorem",
          "parallel lines (blurred): JSD -> log 2 with zero gradient away from 0, W1 = |theta| with gradient sign(theta)",
          check_parallel_lines,
          mistakes=("wasserstein_unsorted", "w1_abs_outside")),
]
