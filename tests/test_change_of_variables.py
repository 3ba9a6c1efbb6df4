"""Q1 library tests: oracles are scipy.stats.multivariate_normal and autodiff-free closed forms."""
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl.testing import parameterized
from hypothesis import given, settings, strategies as st
from scipy import stats as sps

from gdm_jax import change_of_variables as cov
from conftest import RTOL


def _instance(k, dtype, seed=0):
  rng = np.random.default_rng(seed)  # test data only; the library never uses np.random
  mu = rng.normal(size=k).astype(dtype)
  sigma = np.exp(0.5 * rng.normal(size=k)).astype(dtype)
  s = (np.eye(k) + rng.normal(size=(k, k)) / (2 * math.sqrt(k))).astype(dtype)
  z0 = rng.normal(size=(6, k)).astype(dtype)
  return mu, sigma, s, z0


class DiagAffineTest(chex.TestCase):
  """Eq. (1) for a diagonal affine map against scipy, with and without ``jit`` (chex variants)."""

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.named_parameters(
      (f"k{k}_{name}", k, dt) for k in (1, 3, 16)
      for name, dt in (("f32", np.float32), ("f64", np.float64)))
  def test_diag_affine_matches_scipy(self, k, dtype):
    mu, sigma, _, z0 = _instance(k, dtype)
    g = cov.affine(mu, sigma)
    x, lq = self.variant(lambda z: cov.pushforward_log_prob(g, cov.standard_normal_log_prob, z))(
        z0)
    chex.assert_shape(x, z0.shape)
    chex.assert_shape(lq, (6,))
    chex.assert_type(lq, dtype)
    ref = sps.multivariate_normal(mu.astype(np.float64), np.diag(sigma.astype(np.float64) ** 2)
                                  ).logpdf(np.asarray(x, np.float64))
    np.testing.assert_allclose(lq, np.atleast_1d(ref), rtol=RTOL[dtype], atol=RTOL[dtype])


@pytest.mark.parametrize("k", [2, 7])
def test_full_affine_matches_scipy_and_closed_form(k, dtype):
  mu, _, s, z0 = _instance(k, dtype, seed=1)
  g = cov.affine(mu, s)
  x, lq = cov.pushforward_log_prob(g, cov.standard_normal_log_prob, z0)
  s64 = s.astype(np.float64)
  ref = sps.multivariate_normal(mu.astype(np.float64), s64 @ s64.T).logpdf(
      np.asarray(x, np.float64))
  np.testing.assert_allclose(lq, ref, rtol=RTOL[dtype], atol=RTOL[dtype])
  closed = cov.gaussian_log_prob(x, jnp.asarray(mu), jnp.asarray(s64 @ s64.T, dtype))
  np.testing.assert_allclose(closed, ref, rtol=RTOL[dtype], atol=RTOL[dtype])


def test_negative_determinant_is_fine():
  s = np.array([[0.0, 1.0], [1.0, 0.0]])  # det = -1: |det| is what Eq. (1) needs
  _, lq = cov.pushforward_log_prob(cov.affine(np.zeros(2), s), cov.standard_normal_log_prob,
                                   np.array([0.3, -0.2]))
  np.testing.assert_allclose(lq, sps.multivariate_normal(np.zeros(2), np.eye(2)).logpdf(
      [-0.2, 0.3]), rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.floats(-3, 3), st.floats(0.1, 4.0), st.floats(-5, 5))
def test_sinh_pushforward_matches_analytic_density(a, b, x):
  # Analytic density of X = a + b sinh(Z): phi(asinh(u)) / (b sqrt(1 + u^2)), u = (x - a)/b.
  u = (x - a) / b
  ref = sps.norm.logpdf(np.arcsinh(u)) - np.log(b) - 0.5 * np.log1p(u * u)
  _, lq = cov.pushforward_log_prob(lambda z: a + b * jnp.sinh(z), cov.standard_normal_log_prob,
                                   jnp.array([np.arcsinh(u)]))
  np.testing.assert_allclose(lq, ref, rtol=1e-10, atol=1e-10)


def test_log_abs_det_matches_numpy():
  s = np.random.default_rng(3).normal(size=(5, 5))
  got = cov.log_abs_det_jacobian(lambda z: jnp.tanh(z) + jnp.asarray(s) @ z, jnp.zeros(5))
  np.testing.assert_allclose(got, np.linalg.slogdet(s + np.eye(5))[1], rtol=1e-12)


def test_gaussian_log_prob_does_not_retrace():
  # The library's own jit (built at import): chex.assert_max_traces must wrap a function before it
  # is jitted, so it could only count a test-made copy; the jit cache of the real one is read.
  cov._gaussian_log_prob.clear_cache()
  m, c = jnp.zeros(3), jnp.eye(3)
  cov.gaussian_log_prob(jnp.ones((4, 3)), m, c)
  cov.gaussian_log_prob(2 * jnp.ones((4, 3)), m + 1, c * 2)
  assert cov._gaussian_log_prob._cache_size() == 1


def test_bisect_inverse_recovers_monotone_map():
  f = lambda u: u + 0.5 * jnp.tanh(u)
  z = jnp.linspace(-5, 5, 11)
  np.testing.assert_allclose(cov.bisect_inverse(f, f(z), -50.0, 50.0), z, atol=1e-12)


@pytest.mark.parametrize("call, name", [
    (lambda: cov.affine(np.zeros(2), np.array([1.0, 0.0])), "scale"),
    (lambda: cov.affine(np.zeros(2), np.array([1.0, -2.0])), "scale"),
    (lambda: cov.affine(np.zeros(2), np.array([[1.0, 2.0], [2.0, 4.0]])), "scale"),
    (lambda: cov.affine(np.zeros(2), np.ones((2, 3))), "scale"),
    (lambda: cov.affine(np.zeros(3), np.ones(2)), "scale"),
    (lambda: cov.affine(np.array([0.0, np.nan]), np.ones(2)), "mu"),
    (lambda: cov.affine(np.zeros(2), np.array([1.0, np.nan])), "scale"),
    (lambda: cov.gaussian_log_prob(np.zeros(3), np.zeros(2), np.eye(2)), "x"),
    (lambda: cov.gaussian_log_prob(np.zeros(2), np.zeros(2), -np.eye(2)), "cov"),
    (lambda: cov.gaussian_log_prob(np.zeros(2), np.zeros(2), np.eye(3)), "cov"),
    (lambda: cov.pushforward_log_prob(lambda z: z, cov.standard_normal_log_prob,
                                      np.array([np.nan, 0.0])), "z0"),
    # A per-dimension base density returned [3, 2] instead of [3]; a g that sums loses the [K].
    (lambda: cov.pushforward_log_prob(lambda z: z, jax.scipy.stats.norm.logpdf, np.zeros((3, 2))),
     "base_log_prob"),
    (lambda: cov.pushforward_log_prob(lambda z: jnp.sum(z), cov.standard_normal_log_prob,
                                      np.zeros(2)), "g"),
])
def test_bad_input_names_the_argument(call, name):
  with pytest.raises(ValueError, match=f"`{name}`"):
    call()


@pytest.mark.parametrize("k", [1, 2, 16, 64])
def test_verify_gaussian_oracle_matches_scipy(k):
  # q1's verify claims compare with this float64 closed form instead of importing scipy.stats.
  from gdm_jax.claims.oracles import gaussian_logpdf64
  mu, _, s, z0 = _instance(k, np.float64, seed=k)
  sigma = s @ s.T
  x = mu + z0 @ s.T
  ref = sps.multivariate_normal(mu, sigma).logpdf(x)
  np.testing.assert_allclose(gaussian_logpdf64(x, mu, sigma), np.atleast_1d(ref), rtol=1e-12)
