"""amortized.py: closed-form ELBO vs Monte Carlo, fitted optima vs closed forms, gap algebra."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gdm_jax import amortized as am, bounds, models, stats


@pytest.fixture(scope="module")
def setup():
  m = models.random_linear_gaussian(jax.random.key(0), 2, 5, 0.5, jnp.float64)
  x, _ = m.sample(jax.random.key(1), 8)
  return m, x


def test_closed_form_elbo_matches_monte_carlo(setup):
  m, x = setup
  qm, qs = jnp.array([0.3, -0.2]), jnp.array([0.5, 0.8])
  lw = bounds.linear_gaussian_log_weights(jax.random.key(2), m, x[0], qm, qs, 200_000)
  est = stats.mean_and_se(np.asarray(lw))
  z = stats.z_for_rate(1e-4)
  assert abs(est.mean - float(am.closed_form_elbo(m, x[0], qm, qs))) <= z * est.se


def test_elbo_gap_is_kl_to_posterior(setup):
  m, x = setup
  qm, qs = jnp.array([0.3, -0.2]), jnp.array([0.5, 0.8])
  gap = m.log_marginal(x[0]) - am.closed_form_elbo(m, x[0], qm, qs)
  np.testing.assert_allclose(gap, am.kl_to_posterior(m, x[0], qm, qs), rtol=1e-10)


def test_per_instance_fit_reaches_closed_form(setup):
  m, x = setup
  fit = jax.jit(am.fit_per_instance, static_argnums=2)(m, x, 40)
  mean, std = am.mean_field_optimum(m, x)
  np.testing.assert_allclose(fit.mean, mean, rtol=1e-6, atol=1e-8)
  np.testing.assert_allclose(fit.std, std, rtol=1e-6)


def test_encoder_shapes_and_param_counts():
  enc = am.Encoder(2, mean_rank=1)
  p = enc.init(jax.random.key(0), jnp.zeros((1, 5)))
  mean, std = enc.apply(p, jnp.ones((3, 5)))
  assert mean.shape == std.shape == (3, 2) and bool(jnp.all(std > 0))
  # rank-1 mean: 5x1 (no bias) + 1x2 + 2; log-std: 5x2 + 2
  assert am.param_count(p) == 5 + 2 + 2 + 10 + 2


def test_same_per_iteration_erratum_refutes_the_written_and_holds_for_the_corrected():
  """Q2.3(b) in the seed's frame (one q_i per per-instance iteration): the written 'same number
  of parameters per iteration' (ratio 1) is refuted; the corrected |phi| / 2d = D + 1 holds."""
  from gdm_jax.claims import q2
  c = q2.cost_counts(False)
  written = q2.same_per_iteration_evidence(c, 1.0)
  corrected = q2.same_per_iteration_evidence(c, float(q2.DATA + 1))
  assert not written.holds and written.problem() is None
  assert corrected.holds and corrected.problem() is None
