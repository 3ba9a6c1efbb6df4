r"""Independent oracles for the claims: float64 numpy closed forms, written from the definitions.

Nothing here calls the math modules under test; ``tests/test_oracles.py`` checks these against
scipy (which verify does not import: ``scipy.stats`` alone takes over a second).
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import logsumexp

_LOG_2PI = math.log(2 * math.pi)


def gaussian_logpdf64(x, mu, sigma) -> np.ndarray:
  r""":math:`\log \mathcal{N}(x; \mu, \Sigma)` in float64 from the covariance. ``x [N, K]``."""
  x, mu, sigma = (np.asarray(a, np.float64) for a in (x, mu, sigma))
  chol = np.linalg.cholesky(sigma)
  r = np.linalg.solve(chol, (np.atleast_2d(x) - mu).T)
  return (-0.5 * np.sum(r * r, axis=0) - np.sum(np.log(np.diag(chol)))
          - 0.5 * mu.shape[-1] * _LOG_2PI)


def linear_gaussian64(W, b, s, x):
  r"""Posterior and evidence of :math:`z \sim N(0, I)`, :math:`x|z \sim N(Wz + b, s^2 I)` from
  Bayes' rule for Gaussians (dense ``D x D`` algebra, no Woodbury): returns
  ``(post_mean [d], post_cov [d, d], log p(x))``."""
  W, b, x = (np.asarray(a, np.float64) for a in (W, b, x))
  s2 = float(s) ** 2
  d = W.shape[1]
  c = W @ W.T + s2 * np.eye(W.shape[0])
  log_px = float(gaussian_logpdf64(x[None], b, c)[0])
  gain = W.T @ np.linalg.inv(c)                 # Cov(z, x) Cov(x)^-1
  post_mean = gain @ (x - b)
  post_cov = np.eye(d) - gain @ W
  return post_mean, 0.5 * (post_cov + post_cov.T), log_px


def kl_gaussians64(m1, c1, m2, c2) -> float:
  r""":math:`D_{KL}(N(m_1, C_1) \| N(m_2, C_2))` by the textbook formula (dense inverse)."""
  m1, c1, m2, c2 = (np.asarray(v, np.float64) for v in (m1, c1, m2, c2))
  p2 = np.linalg.inv(c2)
  dm = m2 - m1
  return float(0.5 * (np.trace(p2 @ c1) + dm @ p2 @ dm - m1.shape[0]
                      + np.linalg.slogdet(c2)[1] - np.linalg.slogdet(c1)[1]))


def log_weight_moment64(a: float, m_p, c_p, m_q, c_q) -> float:
  r""":math:`\log \int p^a q^{1-a}\,dz` for Gaussians p, q: with ``p`` the posterior and ``q`` the
  proposal this is :math:`\log \mathbb{E}_q[(w/p(x))^a]`, the a-th moment of the normalised
  importance weight. The log-integrand is the quadratic :math:`-\tfrac12 z^\top A z + b^\top z +
  c`, :math:`A = a P_p - (a-1) P_q`, :math:`b = a P_p m_p - (a-1) P_q m_q`; infinite when
  :math:`A` is not positive definite."""
  m_p, c_p, m_q, c_q = (np.asarray(v, np.float64) for v in (m_p, c_p, m_q, c_q))
  d = m_p.shape[0]
  pp, pq = np.linalg.inv(c_p), np.linalg.inv(c_q)
  A = a * pp - (a - 1) * pq
  if np.min(np.linalg.eigvalsh(0.5 * (A + A.T))) <= 0:
    return math.inf
  bb = a * pp @ m_p - (a - 1) * pq @ m_q
  c = (a * (-0.5 * m_p @ pp @ m_p - 0.5 * np.linalg.slogdet(2 * np.pi * c_p)[1])
       - (a - 1) * (-0.5 * m_q @ pq @ m_q - 0.5 * np.linalg.slogdet(2 * np.pi * c_q)[1]))
  return float(c + 0.5 * bb @ np.linalg.solve(A, bb) + 0.5 * d * _LOG_2PI
               - 0.5 * np.linalg.slogdet(A)[1])


def weight_central_moments64(m_p, c_p, m_q, c_q) -> tuple[float, float]:
  r"""``(c2, c3)``: the second and third central moments of :math:`W = w / p(x)` under q
  (:math:`\mathbb{E} W = 1`): :math:`c_2 = M_2 - 1`, :math:`c_3 = M_3 - 3 M_2 + 2`."""
  m2 = math.exp(log_weight_moment64(2.0, m_p, c_p, m_q, c_q))
  m3 = math.exp(log_weight_moment64(3.0, m_p, c_p, m_q, c_q))
  return m2 - 1.0, m3 - 3.0 * m2 + 2.0


def lk_gap_expansion(c2: float, c3: float, k: int) -> float:
  r""":math:`\log p(x) - \mathcal{L}_K = \frac{c_2}{2K} - \frac{c_3/3 - 3c_2^2/4}{K^2}
  + O(K^{-3})` (the delta method on :math:`\log \bar W_K`, :math:`\bar W_K` the mean of K
  normalised weights; Maddison et al. 2017, Nowozin 2018)."""
  return c2 / (2 * k) - (c3 / 3 - 0.75 * c2 ** 2) / k ** 2


def lme64(log_w, axis=-1) -> np.ndarray:
  """log-mean-exp in float64 by scipy (the reference for ``iwae_bound``)."""
  log_w = np.asarray(log_w, np.float64)
  return logsumexp(log_w, axis=axis) - math.log(log_w.shape[axis])


def normal_logpdf64(x, mean, sd) -> np.ndarray:
  """log N(x; mean, sd^2) elementwise in float64."""
  x = np.asarray(x, np.float64)
  return -0.5 * ((x - mean) / sd) ** 2 - math.log(sd) - 0.5 * _LOG_2PI


def mixture_logpdf64(x, mixture) -> np.ndarray:
  """log-density of a 1-D Gaussian mixture ``(weights, means, sds)`` in float64."""
  w, mu, sd = mixture
  comps = np.stack([math.log(wi) + normal_logpdf64(x, m, s) for wi, m, s in zip(w, mu, sd)])
  return logsumexp(comps, axis=0)


def jsd_quad64(log_p, log_q, breaks, lo, hi) -> float:
  r""":math:`D_{JS}(p\|q) = \tfrac12\int p\log\frac{2p}{p+q} + \tfrac12\int q\log\frac{2q}{p+q}`
  by ``scipy.integrate.quad`` on ``[lo, hi]`` split at ``breaks``, from float64 numpy
  log-densities (``-inf`` off the support), :math:`0 \log 0 = 0`."""
  from scipy import integrate

  def f(x):
    lp, lq = float(log_p(np.asarray([x]))[0]), float(log_q(np.asarray([x]))[0])
    lm = np.logaddexp(lp, lq) - math.log(2)
    out = 0.0
    for la in (lp, lq):
      if la > -np.inf:
        out += 0.5 * math.exp(la) * (la - lm)
    return out

  pts = sorted(set([lo, *[b for b in breaks if lo < b < hi], hi]))
  return float(sum(integrate.quad(f, a, b, epsabs=1e-13, epsrel=1e-12, limit=200)[0]
                   for a, b in zip(pts[:-1], pts[1:])))
