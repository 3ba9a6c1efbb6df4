"""gdm_jax.testing: each assertion's false-failure rate and power, measured by simulation."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats as sps

from gdm_jax import stats, testing

RATE = 0.05   # loose rates so that 2000 repetitions resolve them


def _fail_fraction(assertion, true_mean, n, reps=2000, seed=0, **kw):
  rng = np.random.default_rng(seed)
  fails = 0
  for x in rng.normal(true_mean, 2.0, size=(reps, n)):
    try:
      assertion(x, **kw)
    except AssertionError:
      fails += 1
  return fails / reps


@pytest.mark.parametrize("n", [20, 400])   # t quantiles below 100 samples, z above
@pytest.mark.parametrize("which", ["le", "close"])
def test_false_failure_rate_and_power(n, which):
  f = {"le": lambda x, **k: testing.assert_mean_le(x, 0.0, **k),
       "close": lambda x, **k: testing.assert_mean_close(x, 0.0, **k)}[which]
  two = which == "close"
  ff = _fail_fraction(f, 0.0, n, false_fail_rate=RATE)
  lo, hi = stats.binomial_ci(round(ff * 2000), 2000, 0.999)
  assert lo <= RATE <= hi + 0.01  # the designed rate is met (the CLT is exact for normal data)
  # Power: at the stated detectable discrepancy the test fails with probability 0.99.
  delta = testing.min_detectable(2.0, n, RATE, two_sided=two)
  power = _fail_fraction(f, delta, n, seed=1, false_fail_rate=RATE)
  assert power >= 0.975


def test_min_samples_and_min_detectable_agree():
  n = testing.min_samples(0.1, 2.0, 1e-6)
  assert testing.min_detectable(2.0, n, 1e-6) <= 0.1 * (1 + 1e-9) or n < 100


def test_assertion_message_and_evidence():
  x = np.random.default_rng(2).normal(1.0, 1.0, 1000)
  with pytest.raises(AssertionError, match="is not <= 0"):
    testing.assert_mean_le(x, 0.0)
  ev = testing.assert_mean_ge(x, 0.0)
  assert ev.detects > 0 and ev.holds


def test_a_wrong_bound_is_caught():
  # A user's check of L_K <= log p(x) with a planted mistake: logsumexp - log(K - 1) (too high).
  from gdm_jax import bounds, models
  m = models.random_linear_gaussian(jax.random.key(0), 2, 4, 0.7, jnp.float64)
  x = m.sample(jax.random.key(1), 1)[0][0]
  pm, pc = m.posterior(x)
  prop = bounds.diag_gaussian_proposal(pm + 0.3, 1.5 * jnp.sqrt(jnp.diag(pc)))
  k = 8
  def log_w(kk):
    z, lq = prop(kk, k)
    return m.log_joint(x, z) - lq
  lw = jax.vmap(log_w)(jax.random.split(jax.random.key(2), 4000))
  good = bounds.iwae_bound(lw)
  testing.assert_mean_le(good, float(m.log_marginal(x)))
  wrong = jax.scipy.special.logsumexp(lw, -1) - math.log(k - 1)
  with pytest.raises(AssertionError):
    testing.assert_mean_le(wrong, float(m.log_marginal(x)))


def test_dkwm_interval():
  rng = np.random.default_rng(3)
  u = rng.uniform(size=5000)
  testing.assert_mean_in_interval_dkwm(u, 0.0, 1.0, 0.5, 0.5)
  with pytest.raises(AssertionError):
    testing.assert_mean_in_interval_dkwm(u, 0.0, 1.0, 0.6, 0.7)
  # DKWM's epsilon against scipy's Kolmogorov-Smirnov tail (DKWM is the conservative bound).
  eps = testing.dkwm_epsilon(1000, 0.01)
  assert sps.kstwo.sf(eps, 1000) <= 0.01


def test_assert_normalised():
  norm_lp = lambda x: jnp.sum(jax.scipy.stats.norm.logpdf(x), -1)
  testing.assert_normalised(norm_lp, bounds=[(-12, 12)])
  testing.assert_normalised(norm_lp, bounds=[(-10, 10), (-10, 10)])
  with pytest.raises(AssertionError):
    testing.assert_normalised(lambda x: norm_lp(x) - 0.01, bounds=[(-10, 10), (-10, 10)])
  with pytest.raises(AssertionError):
    testing.assert_normalised(lambda x: norm_lp(x) + 0.01, bounds=[(-12, 12)])
  d = 5
  prop = (lambda k, n: 1.5 * jax.random.normal(k, (n, d)),
          lambda x: jnp.sum(jax.scipy.stats.norm.logpdf(x, 0, 1.5), -1))
  testing.assert_normalised(norm_lp, proposal=prop, n=20000)
  with pytest.raises(AssertionError):
    testing.assert_normalised(lambda x: norm_lp(x) + 0.1, proposal=prop, n=20000)


def test_dkwm_refuses_a_reversed_interval():
  u = np.random.default_rng(4).uniform(size=100)
  with pytest.raises(ValueError, match="`expected_low` must be <= `expected_high`"):
    testing.assert_mean_in_interval_dkwm(u, 0.0, 1.0, 0.6, 0.4)   # passed: no gap to an empty set


_REV = lambda x: jnp.cumsum(x[::-1])[::-1]    # y_i = sum_{j >= i} x_j: leaks its own and later
_CAUSAL = lambda x: jnp.cumsum(x) - x         # y_i = sum_{j < i} x_j: causal and complete


@pytest.mark.parametrize("wrap", [
    lambda y: jnp.round(y * 1000).astype(jnp.int32),   # integer outputs: a Jacobian of zeros
    lambda y: jnp.round(y * 1000),                     # rounded: zero derivative almost everywhere
    jax.lax.stop_gradient,                             # zero derivative by construction
])
def test_autoregressive_sees_outputs_without_a_gradient(wrap):
  # Each passed: the Jacobian alone read "no dependence". The oracle is the construction: output
  # i sees positions i..3, so 10 leaks; the causal version sees exactly j < i (and its float
  # rounding noise, cumsum(x)_i - x_i moving by an ulp with x_i, is no leak).
  with pytest.raises(AssertionError, match="10 leak"):
    testing.assert_autoregressive(lambda x: wrap(_REV(x)), (4,))
  dep = testing.assert_autoregressive(lambda x: wrap(_CAUSAL(x)), (4,), complete=True)
  assert np.array_equal(dep, np.tril(np.ones((4, 4), bool), -1))


def test_autoregressive_sees_boolean_outputs():
  # A sign is seen only where a redraw flips it: some of the 10 leaks, never a false one.
  with pytest.raises(AssertionError, match="leak"):
    testing.assert_autoregressive(lambda x: _REV(x) > 0, (4,))
  dep = testing.assert_autoregressive(lambda x: _CAUSAL(x) > 0, (4,), num_draws=8)
  assert not np.any(dep & ~np.tril(np.ones((4, 4), bool), -1))


def test_normalised_refuses_a_mesh_coarser_than_the_discrepancy():
  # exp(0.5) x N(0, I) integrates to e^0.5 = 1.65; a 5 x 5 mesh measured 4.20 and passed with
  # its error estimate 12.6 added to the tolerance.
  norm_lp = lambda x: jnp.sum(jax.scipy.stats.norm.logpdf(x), -1)
  box = [(-8, 8), (-8, 8)]
  with pytest.raises(ValueError, match="`rtol`.*Raise `grid`"):
    testing.assert_normalised(lambda x: norm_lp(x) + 0.5, bounds=box, grid=5)
  with pytest.raises(AssertionError, match="integrates to 1.6487"):
    testing.assert_normalised(lambda x: norm_lp(x) + 0.5, bounds=box)
  ev = testing.assert_normalised(norm_lp, bounds=box)
  # The oracle: the box holds erf(8 / sqrt 2)^2 of the mass (scipy).
  assert abs(ev.measured - (sps.norm.cdf(8) - sps.norm.cdf(-8)) ** 2) <= ev.tolerance
  assert ev.detects <= 3 * 1e-4   # rtol + 2 x the error estimate, the estimate below rtol
  with pytest.raises(ValueError, match="`grid` must be an odd int"):
    testing.assert_normalised(norm_lp, bounds=box, grid=800)


@pytest.mark.parametrize("call, name", [
    (lambda: testing.assert_mean_le([1.0], 0.0), "samples"),
    (lambda: testing.assert_mean_le([1.0, np.nan], 0.0), "samples"),
    (lambda: testing.assert_mean_le([1.0, 2.0], 0.0, false_fail_rate=0.0), "false_fail_rate"),
    (lambda: testing.min_detectable(1.0, 1), "n"),
    (lambda: testing.assert_mean_in_interval_dkwm([0.5, 2.0], 0, 1, 0, 1), "samples"),
    (lambda: testing.assert_normalised(lambda x: x), "bounds"),
    (lambda: testing.assert_normalised(lambda x: x, bounds=[(-1, 1), (-1, 1)], grid=5),
     "log_prob"),                                         # [n, 2] -> [n, 2], not [n]
    (lambda: testing.assert_normalised(
        lambda x: jnp.zeros(x.shape[0]), proposal=(lambda k, n: jnp.zeros((n, 3)),
                                                   lambda x: jnp.zeros((x.shape[0], 1))), n=10),
     "proposal"),
    (lambda: testing.assert_normalised(lambda x: x, bounds=[(-1, 1)], rtol=0.0), "rtol"),
])
def test_bad_input(call, name):
  with pytest.raises(ValueError, match=f"`{name}`"):
    call()
