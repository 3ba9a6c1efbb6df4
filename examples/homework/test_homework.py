"""Homework 1's statistical tests, with the gdm-jax pytest plugin (its ``conftest.py`` names it).

``pytest examples/homework`` runs each test once at ``--gdm-seed`` (default 0);
``pytest --gdm-vary-seed 50 examples/homework`` reruns the ``stochastic`` ones at 50 seeds and
reports each one's observed failure rate with its 95% interval against the rate it declares.
"""
import math

import pytest

import solutions
from gdm_jax import testing

X, M, S = 1.0, 0.2, 0.4


def closed_form_elbo(x, m, s):
  r"""log p(x) - KL(q || p(z|x)), p(x) = N(0, 2), p(z|x) = N(x/2, 1/2), q = N(m, s^2), written
  here from the definitions (not with ``solutions.kl_normal``)."""
  log_px = -0.25 * x * x - 0.5 * math.log(2 * math.pi * 2.0)
  pm, pv = x / 2.0, 0.5
  kl = 0.5 * (math.log(pv / s ** 2) + (s ** 2 + (m - pm) ** 2) / pv - 1.0)
  return log_px - kl


def test_kl_of_a_distribution_to_itself_is_zero():
  assert abs(float(solutions.kl_normal(0.3, 1.7, 0.3, 1.7))) < 1e-6


@pytest.mark.stochastic(rate=0.05)
def test_elbo_draws_have_the_closed_form_mean(gdm_key):
  draws = solutions.elbo_samples(gdm_key, X, M, S, 256)
  testing.assert_mean_close(draws, closed_form_elbo(X, M, S), false_fail_rate=0.05)


@pytest.mark.stochastic(rate=1e-3)
def test_elbo_is_below_the_evidence(gdm_key):
  draws = solutions.elbo_samples(gdm_key, X, M, S, 256)
  log_px = -0.25 * X * X - 0.5 * math.log(4 * math.pi)
  testing.assert_mean_le(draws, log_px, false_fail_rate=1e-3)
