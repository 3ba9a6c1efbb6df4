r"""Q7 claims: the Jensen-Shannon divergence for disjoint and overlapping supports."""
from __future__ import annotations

import functools
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm
from scipy.special import ndtr

from gdm_jax import divergences as dv
from gdm_jax.claims.core import Claim, Config, Evidence

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


def jsd_by_quad(log_p, log_q, breaks, dtype=np.float64):
  """scipy.integrate.quad of the JSD integrand, split at the support's breakpoints."""
  from scipy import integrate  # imported where used (import time of the CLI)
  lo, hi = min(breaks) - 1.0, max(breaks) + 1.0
  f = jax.jit(lambda x: 0.5 * dv._xlogy_exp(log_p(x), dv.log_mixture(log_p(x), log_q(x))) +
              0.5 * dv._xlogy_exp(log_q(x), dv.log_mixture(log_p(x), log_q(x))))
  g = lambda x: float(f(np.asarray(x, dtype)))  # 0-d numpy input: one dispatch per node
  pts = sorted(set([lo, *breaks, hi]))
  with warnings.catch_warnings():  # quad warns that 1e-13 is beyond float32 integrands' roundoff
    warnings.simplefilter("ignore", integrate.IntegrationWarning)
    return sum(integrate.quad(g, a, b, epsabs=1e-13, epsrel=1e-12, limit=200)[0]
               for a, b in zip(pts[:-1], pts[1:]))


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
  for (name, (lp, _, lq, _, breaks)), mc in zip(DISJOINT.items(), mcs):
    quad = jsd_by_quad(lp, lq, breaks)
    errs[name] = max(abs(quad - LOG2), abs(float(mc) - LOG2))
  return Evidence(max(errs.values()) + LOG2, LOG2, cfg.rtol, "==", cfg.dtype_origin(),
                  "log 2 + max |JSD - log 2| over pairs, by scipy quad and by the Monte Carlo "
                  "estimator (every term is exactly log 2): " +
                  "; ".join(f"{k}: {v:.1e}" for k, v in errs.items()), errs)


@functools.partial(jax.jit, static_argnums=(1,))
def _gauss_jsd(grid, means):
  """JSD(N(0,1) || N(m,1)) by trapezoid quadrature for each m in ``means``."""
  return [dv.jsd_quadrature(norm.logpdf(grid, 0, 1), norm.logpdf(grid, m, 1), grid)
          for m in means]


def check_overlap(key, cfg: Config) -> Evidence:
  vals = {}
  for a in (0.25, 0.5, 0.9):
    vals[f"U(0,1) vs U({a},{1 + a})"] = (jsd_by_quad(_uniform(0, 1), _uniform(a, 1 + a),
                                                     (0, a, 1, 1 + a)), a * LOG2)
  errs = {k: abs(v - r) for k, (v, r) in vals.items()}
  gauss = float(_gauss_jsd(np.linspace(-15.0, 20.0, 7001).astype(cfg.dtype), (3.0,))[0])
  worst = max(errs.values())
  return Evidence(worst, 0.0, cfg.rtol, "==", cfg.dtype_origin(),
                  "max |JSD(U(0,1), U(a,1+a)) - a log 2| (closed form for partial overlap) over "
                  f"a in (0.25, 0.5, 0.9); JSD(N(0,1), N(3,1)) = {gauss:.4f} < log 2 = {LOG2:.4f}")


def check_overlap_below(key, cfg: Config) -> Evidence:
  vals = [float(v) for v in _gauss_jsd(np.linspace(-15.0, 25.0, 8001).astype(cfg.dtype),
                                        (0.5, 2.0, 4.0))]
  vals.append(jsd_by_quad(_uniform(0, 1), _uniform(0.9, 1.9), (0, 0.9, 1, 1.9)))
  return Evidence(max(vals), LOG2, 0.0, "<=", "strict: maximum must stay below log 2",
                  f"JSD for overlapping supports: N(0,1) vs N(m,1), m=0.5,2,4: "
                  f"{', '.join(f'{v:.4f}' for v in vals[:3])}; U(0,1) vs U(0.9,1.9): {vals[3]:.4f}")


def parallel_lines(theta, n: int = 512):
  r"""Arjovsky et al. (2017), example 1: :math:`P_0 = (0, Z)`, :math:`P_\theta = (\theta, Z)`,
  :math:`Z \sim U[0, 1]`. Returns (JSD, W1) estimated from samples, both differentiable in
  ``theta``. The y coordinates (Z on both lines) cancel in both quantities and are not drawn,
  so the estimates are exact. Densities are taken with respect to the line measure:
  :math:`\log p_\theta(x, y) = 0` on the line :math:`x = \theta`, :math:`-\infty` off it."""
  x0 = jnp.zeros((n,))
  x1 = theta + jnp.zeros((n,))  # reparameterised samples of P_theta
  line = lambda x, at: jnp.where(x == at, 0.0, -jnp.inf)
  jsd = dv.jsd_monte_carlo(line(x1, theta), line(x1, 0.0), line(x0, theta), line(x0, 0.0))
  # W1: same y marginals, so the optimal coupling moves along x only: W1 = W1 of the x parts.
  w1 = dv.wasserstein1_1d(x1, x0)
  return jsd, w1


THETAS = (-1.0, 0.3, 2.0)


@jax.jit
def _parallel_lines_cases(thetas):
  """(JSD, W1, dJSD/dtheta, dW1/dtheta) at each theta (autodiff)."""
  def one(t):
    jsd, w1 = parallel_lines(t)
    g_jsd = jax.grad(lambda u: parallel_lines(u)[0])(t)
    g_w1 = jax.grad(lambda u: parallel_lines(u)[1])(t)
    return jsd, w1, g_jsd, g_w1
  return jax.vmap(one)(thetas)


def check_parallel_lines(key, cfg: Config) -> Evidence:
  del key  # deterministic: the lines' y coordinates cancel
  jsd, w1, g_jsd, g_w1 = (np.asarray(a, np.float64) for a in _parallel_lines_cases(
      np.asarray(THETAS, cfg.dtype)))
  errs = {th: max(abs(jsd[i] - LOG2), abs(g_jsd[i]), abs(w1[i] - abs(th)),
                  abs(g_w1[i] - math.copysign(1.0, th))) for i, th in enumerate(THETAS)}
  return Evidence(max(errs.values()), 0.0, cfg.rtol, "==", cfg.dtype_origin(),
                  "max over theta in (-1, 0.3, 2) of |JSD - log 2|, |dJSD/dtheta|, |W1 - |theta||, "
                  "|dW1/dtheta - sign theta| (autodiff)", errs)


CLAIMS = [
    Claim("q7.disjoint_is_log2", "Q7", "theorem",
          "JSD(p||q) = log 2 for disjoint supports (uniforms, truncated Gaussians)",
          check_disjoint),
    Claim("q7.partial_overlap", "Q7", "theorem",
          "JSD(U(0,1) || U(a,1+a)) = a log 2: overlap lowers JSD below log 2", check_overlap),
    Claim("q7.overlap_below_log2", "Q7", "theorem", "JSD < log 2 when supports overlap",
          check_overlap_below),
    Claim("q7.parallel_lines", "Q7", "theorem",
          "parallel lines: JSD = log 2, dJSD/dtheta = 0 for theta != 0, while W1 = |theta|",
          check_parallel_lines),
]
