"""models.py: exact answers checked against scipy (Gaussian algebra) and scipy quadrature."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats as sps

from gdm_jax import models
from conftest import RTOL


@pytest.fixture(scope="module")
def lg():
  return models.random_linear_gaussian(jax.random.key(0), 3, 7, 0.6, jnp.float64)


def test_log_marginal_matches_scipy(lg):
  x, _ = lg.sample(jax.random.key(1), 5)
  W, b = np.asarray(lg.W), np.asarray(lg.b)
  ref = sps.multivariate_normal(b, W @ W.T + 0.36 * np.eye(7)).logpdf(np.asarray(x))
  np.testing.assert_allclose(lg.log_marginal(x), ref, rtol=1e-12)


def test_posterior_is_bayes_rule(lg):
  # log p(z|x) = log p(x,z) - log p(x) must be the Gaussian posterior's density at any z.
  x, _ = lg.sample(jax.random.key(2), 1)
  z = jax.random.normal(jax.random.key(3), (4, 3), jnp.float64)
  mean, cov = lg.posterior(x[0])
  ref = sps.multivariate_normal(np.asarray(mean), np.asarray(cov)).logpdf(np.asarray(z))
  np.testing.assert_allclose(lg.log_joint(x[0], z) - lg.log_marginal(x[0]), ref, rtol=1e-10)


def test_float32_matches_float64():
  m32 = models.random_linear_gaussian(jax.random.key(0), 2, 5, 0.5, jnp.float32)
  m64 = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), m32)
  x = jnp.ones((3, 5), jnp.float32)
  assert m32.log_marginal(x).dtype == jnp.float32
  np.testing.assert_allclose(m32.log_marginal(x), m64.log_marginal(x.astype(jnp.float64)),
                             rtol=RTOL[np.float32])


def test_vmap_over_models_and_points(lg):
  xs, _ = lg.sample(jax.random.key(4), 6)
  per_point = jax.vmap(lg.log_marginal)(xs)
  np.testing.assert_allclose(per_point, lg.log_marginal(xs), rtol=1e-12)


def test_nonlinear_quadrature_matches_scipy_quad():
  nm = models.NonlinearModel.create(jax.random.key(5), data_dim=3, dtype=jnp.float64)
  x, _ = nm.sample(jax.random.key(6), 1)
  f = lambda z: float(jnp.exp(nm.log_joint(x[0], jnp.array([z]))))
  ref = np.log(integrate.quad(f, -12, 12, epsabs=0, epsrel=1e-12, limit=500)[0])
  np.testing.assert_allclose(nm.log_marginal(x[0]), ref, rtol=1e-6)


def test_second_moment_ratio_matches_quadrature():
  # 1-D: int p^2/q by scipy quad vs the closed form.
  mp, sp_, mq, sq = 0.3, 0.8, -0.1, 1.1
  f = lambda z: sps.norm.pdf(z, mp, sp_) ** 2 / sps.norm.pdf(z, mq, sq)
  ref = np.log(integrate.quad(f, -30, 30, epsabs=0, epsrel=1e-12)[0])
  got = models.log_second_moment_ratio(jnp.array([mp]), jnp.array([[sp_ ** 2]]),
                                       jnp.array([mq]), jnp.array([[sq ** 2]]))
  np.testing.assert_allclose(got, ref, rtol=1e-9)
  bad = models.log_second_moment_ratio(jnp.array([0.0]), jnp.array([[1.0]]), jnp.array([0.0]),
                                       jnp.array([[0.4]]))
  assert np.isnan(bad)  # 2/1 - 1/0.4 < 0: infinite second moment


def test_kl_gaussians_matches_diag_and_mc():
  m1, s1 = jnp.array([0.2, -0.5]), jnp.array([0.7, 1.3])
  m2, s2 = jnp.array([0.0, 0.1]), jnp.array([1.0, 0.9])
  full = models.kl_gaussians(m1, jnp.diag(s1 ** 2), m2, jnp.diag(s2 ** 2))
  diag = models.kl_diag_gaussians(m1, s1, m2, s2)
  np.testing.assert_allclose(full, diag, rtol=1e-12)
  # Independent oracle: scipy's entropy of 1-D normals summed via quadrature.
  ref = 0.0
  for a, sa, c, sc in zip(m1, s1, m2, s2):
    p, q = sps.norm(float(a), float(sa)), sps.norm(float(c), float(sc))
    ref += integrate.quad(lambda z: p.pdf(z) * (p.logpdf(z) - q.logpdf(z)), -20, 20)[0]
  np.testing.assert_allclose(diag, ref, rtol=1e-8)


@pytest.mark.parametrize("call, name", [
    (lambda: models.LinearGaussian.create(np.ones((3, 2)), np.zeros(3), 0.0), "noise_std"),
    (lambda: models.LinearGaussian.create(np.ones((3, 2)), np.zeros(3), -1.0), "noise_std"),
    (lambda: models.LinearGaussian.create(np.ones((3, 2)), np.zeros(4), 1.0), "b"),
    (lambda: models.LinearGaussian.create(np.ones(3), np.zeros(3), 1.0), "W"),
    (lambda: models.LinearGaussian.create(np.full((3, 2), np.nan), np.zeros(3), 1.0), "W"),
])
def test_bad_input(call, name):
  with pytest.raises(ValueError, match=f"`{name}`"):
    call()


def test_gram_log_likelihood_equals_dense(lg):
  x, _ = lg.sample(jax.random.key(7), 1)
  z = jax.random.normal(jax.random.key(8), (50, 3), jnp.float64)
  np.testing.assert_allclose(lg.log_likelihood_gram(x[0], z), lg.log_likelihood(x[0], z),
                             rtol=1e-11)
