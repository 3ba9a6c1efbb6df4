"""The claims' float64 oracles (gdm_jax/claims/oracles.py) against scipy and direct integration."""
import math

import numpy as np
import pytest
from scipy import integrate, stats as sps

from gdm_jax.claims import oracles

RNG = np.random.default_rng(0)


def test_gaussian_logpdf64_matches_scipy():
  a = RNG.normal(size=(3, 3))
  sigma = a @ a.T + 0.5 * np.eye(3)
  mu, x = RNG.normal(size=3), RNG.normal(size=(5, 3))
  np.testing.assert_allclose(oracles.gaussian_logpdf64(x, mu, sigma),
                             sps.multivariate_normal(mu, sigma).logpdf(x), rtol=1e-12)


def test_linear_gaussian64_is_bayes_rule():
  W, b, s, x = RNG.normal(size=(4, 2)), RNG.normal(size=4), 0.7, RNG.normal(size=4)
  pm, pc, log_px = oracles.linear_gaussian64(W, b, s, x)
  # Precision form of the same posterior, and log p(x) = log p(x|z) + log p(z) - log p(z|x).
  prec = np.eye(2) + W.T @ W / s ** 2
  np.testing.assert_allclose(pc, np.linalg.inv(prec), rtol=1e-12)
  np.testing.assert_allclose(pm, np.linalg.solve(prec, W.T @ (x - b)) / s ** 2, rtol=1e-12)
  z = RNG.normal(size=2)
  bayes = (sps.multivariate_normal(W @ z + b, s ** 2 * np.eye(4)).logpdf(x)
           + sps.multivariate_normal(np.zeros(2), np.eye(2)).logpdf(z)
           - sps.multivariate_normal(pm, pc).logpdf(z))
  assert log_px == pytest.approx(bayes, rel=1e-12)


def test_weight_moments_by_quadrature():
  m_p, c_p = np.array([0.3]), np.array([[0.5]])
  m_q, c_q = np.array([0.0]), np.array([[0.8]])
  p, q = sps.norm(0.3, math.sqrt(0.5)), sps.norm(0.0, math.sqrt(0.8))
  for a in (2.0, 3.0):
    val = integrate.quad(lambda z: math.exp(a * p.logpdf(z) - (a - 1) * q.logpdf(z)), -30, 30,
                         epsabs=1e-14)[0]
    assert math.exp(oracles.log_weight_moment64(a, m_p, c_p, m_q, c_q)) == pytest.approx(
        val, rel=1e-10)
  assert oracles.log_weight_moment64(2.0, m_p, np.array([[2.0]]), m_q, np.array([[0.8]])) == \
      math.inf


def test_gap_expansion_against_lognormal_simulation():
  # log w ~ N(0, s^2): c2 = e^{s^2} - 1, c3 = (e^{s^2} + 2) c2^2; the gap at K = 50 by simulation.
  s, k = 0.3, 50
  c2 = math.expm1(s * s)
  c3 = (math.exp(s * s) + 2) * c2 ** 2
  lw = s * RNG.normal(size=(200_000, k))
  gap = s * s / 2 - np.mean(oracles.lme64(lw))
  se = np.std(oracles.lme64(lw)) / math.sqrt(lw.shape[0])
  assert abs(gap - oracles.lk_gap_expansion(c2, c3, k)) < 5 * se + c2 ** 3 / k ** 3


def test_kl_gaussians64_by_monte_carlo_free_identity():
  # KL(N(m, C) || N(m, C)) = 0 and the 1-D closed form.
  assert oracles.kl_gaussians64([0.0], [[1.0]], [0.0], [[1.0]]) == pytest.approx(0.0, abs=1e-15)
  m1, s1, m2, s2 = 0.2, 0.7, -0.4, 1.3
  ref = math.log(s2 / s1) + (s1 ** 2 + (m1 - m2) ** 2) / (2 * s2 ** 2) - 0.5
  assert oracles.kl_gaussians64([m1], [[s1 ** 2]], [m2], [[s2 ** 2]]) == pytest.approx(ref,
                                                                                      rel=1e-12)


def test_jsd_quad64_closed_forms():
  u = lambda a, b: (lambda x: np.where((x >= a) & (x <= b), -math.log(b - a), -np.inf))
  assert oracles.jsd_quad64(u(0, 1), u(0.25, 1.25), (0, 0.25, 1, 1.25), -1, 2) == pytest.approx(
      0.25 * math.log(2), rel=1e-10)
  assert oracles.jsd_quad64(u(0, 1), u(2, 3), (0, 1, 2, 3), -1, 4) == pytest.approx(
      math.log(2), rel=1e-10)


def test_mixture_logpdf64():
  x = np.linspace(-3, 3, 7)
  ref = np.log(0.4 * sps.norm(-1, 0.6).pdf(x) + 0.6 * sps.norm(1.5, 0.5).pdf(x))
  np.testing.assert_allclose(oracles.mixture_logpdf64(x, ((0.4, 0.6), (-1, 1.5), (0.6, 0.5))),
                             ref, rtol=1e-12)
