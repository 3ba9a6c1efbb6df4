"""gdm_jax.mi against independent oracles: scipy's logsumexp for the estimators, scipy's
multivariate normal for the critic's log ratio, numpy log-determinants for I, and Monte Carlo for
the closed-form variance."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats as sps
from scipy.special import logsumexp

from gdm_jax import mi, sweeps

F64 = jnp.float64


def _oracle(s):
  s = np.asarray(s, np.float64)
  b = s.shape[0]
  diag, off = np.diagonal(s), s[~np.eye(b, dtype=bool)]
  return (np.mean(diag - logsumexp(s, axis=1)) + math.log(b),
          np.mean(diag) - np.mean(np.exp(off - 1.0)),
          np.mean(diag) - (logsumexp(off) - math.log(off.size)))


def test_estimators_match_scipy_oracle():
  s = 2.0 * jax.random.normal(jax.random.key(0), (7, 7), F64)
  got = (mi.infonce(s), mi.nwj(s), mi.dv(s))
  np.testing.assert_allclose(np.asarray(got, np.float64), _oracle(s), rtol=1e-12)
  # float32 with scores of 1e4: InfoNCE and DV stay finite and exact (log space)
  big = np.full((5, 5), -1e4, np.float32) + 2e4 * np.eye(5, dtype=np.float32)
  ref = _oracle(big)
  np.testing.assert_allclose([float(mi.infonce(big)), float(mi.dv(big))], [ref[0], ref[2]],
                             rtol=2e-6)


def test_infonce_never_exceeds_log_b():
  b = 16
  for i, scale in enumerate((0.1, 10.0, 1e4)):
    s = scale * jax.random.normal(jax.random.key(i), (b, b), jnp.float32)
    for critic in (s, s + 1e4 * jnp.eye(b), jnp.full((b, b), 7.0)):
      assert float(mi.infonce(critic)) <= float(np.float32(math.log(b)))


def test_optimal_scores_match_scipy_multivariate_normal():
  kx, ky = jax.random.split(jax.random.key(2))
  x = jax.random.normal(kx, (3, 2), F64)
  y = jax.random.normal(ky, (4, 2), F64)
  rho = 0.7
  joint = sps.multivariate_normal(np.zeros(4), np.block([[np.eye(2), rho * np.eye(2)],
                                                         [rho * np.eye(2), np.eye(2)]]))
  marg = sps.multivariate_normal(np.zeros(2), np.eye(2))
  ref = np.array([[joint.logpdf(np.concatenate([xi, yj])) - marg.logpdf(xi) - marg.logpdf(yj)
                   for yj in np.asarray(y)] for xi in np.asarray(x)])
  np.testing.assert_allclose(np.asarray(mi.optimal_scores(x, y, rho)), ref, rtol=1e-12)


def test_gaussian_mi_matches_log_determinants_and_inverts():
  for d in (1, 4, 20):
    for rho in (-0.8, 0.1, 0.6, 0.99):
      eye = np.eye(d)
      ref = -0.5 * np.linalg.slogdet(np.block([[eye, rho * eye], [rho * eye, eye]]))[1]
      assert abs(float(mi.gaussian_mi(jnp.asarray(rho, F64), d)) - ref) < 1e-12 * max(1, ref)
      assert abs(float(mi.rho_for_mi(jnp.asarray(ref, F64), d)) - abs(rho)) < 1e-10


def test_sample_has_the_benchmark_covariance():
  x, y = mi.correlated_gaussian_sample(jax.random.key(3), 0.6, 3, 40_000, F64)
  cov = np.cov(np.concatenate([x, y], 1).T)
  ref = np.block([[np.eye(3), 0.6 * np.eye(3)], [0.6 * np.eye(3), np.eye(3)]])
  # SE of a covariance entry of unit-variance normals <= sqrt(2 / n) = 0.0071
  assert np.max(np.abs(cov - ref)) < 6 * math.sqrt(2 / 40_000)


def test_nwj_variance_matches_monte_carlo():
  rho, d, b, reps = 0.12, 3, 3, 100_000

  @jax.jit
  def one(k):
    x, y = mi.correlated_gaussian_sample(k, rho, d, b, F64)
    return mi.nwj(mi.optimal_scores(x, y, rho) + 1.0)

  est = np.asarray(jax.vmap(one)(jax.random.split(jax.random.key(4), reps)))
  var, se = est.var(ddof=1), sweeps.variance_se(est)
  assert abs(var - float(mi.nwj_variance(rho, d, b))) < 5 * se
  # (at rho = 0.12 the swap covariance is 1% of the variance, below 5 SE: the formula is checked
  # term by term in test_nwj_variance_brute_force_oracle); the mean is I (NWJ unbiased at f*):
  assert abs(float(mi.gaussian_mi(rho, d)) - est.mean()) < 5 * est.std() / math.sqrt(reps)


def test_trained_critic_improves_infonce():
  rho = mi.rho_for_mi(jnp.asarray(1.0, F64), 4)
  params, curve = mi.train_critic(jax.random.key(5), rho, 4, "infonce", steps=100, batch=16,
                                  hidden=8, embed=4, learning_rate=5e-3)
  curve = np.asarray(curve)
  assert curve.shape == (100,) and np.all(curve <= math.log(16) + 1e-12)
  assert curve[-30:].mean() > curve[:30].mean() + 0.2  # it learns (I = 1 nat)
  x, y = mi.correlated_gaussian_sample(jax.random.key(6), rho, 4, 16, F64)
  assert mi.SeparableCritic(8, 4).apply(params, x, y).shape == (16, 16)


@pytest.mark.parametrize("call, match", [
    (lambda: mi.infonce(np.zeros((3, 4))), "square"),
    (lambda: mi.nwj(np.zeros((1, 1))), "B >= 2"),
    (lambda: mi.dv(np.array([[0.0, np.nan], [1.0, 2.0]])), "NaN"),
    (lambda: mi.infonce(np.zeros(4)), "square"),
    (lambda: mi.gaussian_mi(1.0, 3), "rho"),
    (lambda: mi.gaussian_mi(0.5, 0), "d"),
    (lambda: mi.rho_for_mi(-1.0, 3), "mi"),
    (lambda: mi.correlated_gaussian_sample(jax.random.key(0), -1.2, 2, 3), "rho"),
    (lambda: mi.optimal_scores(np.zeros((2, 3)), np.zeros((2, 4)), 0.5), "y"),
    (lambda: mi.nwj_variance(0.5, 3, 1), "batch"),
    (lambda: mi.train_critic(jax.random.key(0), 0.5, 3, "mine"), "estimator"),
    (lambda: mi.train_critic(jax.random.key(0), 0.5, 3, 5), "estimator"),
])
def test_bad_input(call, match):
  with pytest.raises(ValueError, match=match):
    call()


def test_nwj_variance_brute_force_oracle():
  """The claims' brute-force oracle (mi.nwj_variance_formula) against numpy sampling of NWJ at
  1 + log r (log r from the bivariate normal density, not from the library), and the library's
  closed form against the oracle where the swap covariance matters (rho = 0.6)."""
  from gdm_jax.claims.mi import nwj_variance64
  rho, b, n = 0.2, 3, 200_000
  rng = np.random.default_rng(0)
  x = rng.standard_normal((n, b))
  y = rho * x + math.sqrt(1 - rho * rho) * rng.standard_normal((n, b))
  xi, yj = x[:, :, None], y[:, None, :]
  log_r = (-0.5 * (xi * xi - 2 * rho * xi * yj + yj * yj) / (1 - rho * rho)
           - 0.5 * math.log(1 - rho * rho) + 0.5 * (xi * xi + yj * yj))
  off = ~np.eye(b, dtype=bool)
  est = 1.0 + np.einsum("nii->n", log_r) / b - np.exp(log_r[:, off]).mean(1)
  se = float(sweeps.variance_se(est))
  assert abs(np.var(est, ddof=1) - nwj_variance64(rho, 1, b)) < 5 * se
  for r, d, bb in ((0.6, 2, 3), (-0.45, 3, 2)):
    assert math.isclose(float(mi.nwj_variance(jnp.asarray(r, F64), d, bb)),
                        nwj_variance64(r, d, bb), rel_tol=1e-12)


def test_train_critic_with_zero_learning_rate_draws_the_requested_estimator():
  """learning rate 0 keeps the initial critic (the basis of mi.train_critic_objective): the three
  estimators' runs end at the same parameters, and their curves differ (the argument is used)."""
  out = {e: mi.train_critic(jax.random.key(3), 0.5, 2, e, steps=20, batch=8, hidden=4, embed=2,
                            learning_rate=0.0) for e in mi.ESTIMATORS}
  leaves = {e: jax.tree_util.tree_leaves(out[e][0]) for e in mi.ESTIMATORS}
  for e in mi.ESTIMATORS:
    assert all(np.array_equal(a, b) for a, b in zip(leaves[e], leaves["infonce"]))
  curves = [np.asarray(out[e][1]) for e in mi.ESTIMATORS]
  assert min(np.max(np.abs(a - b)) for i, a in enumerate(curves) for b in curves[i + 1:]) > 1e-3
