"""sweeps.py (the generic sweeps for any estimator) with closed-form oracles; each experiment's
own helpers are tested in tests/test_experiment_<name>.py."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gdm_jax import stats, sweeps


def test_loglog_slope_recovers_power_law():
  k = np.array([1, 10, 100, 1000])
  assert abs(sweeps.loglog_slope(k, 3.0 / k) + 1.0) < 1e-12


def test_variance_se_matches_normal_theory():
  x = np.asarray(jax.random.normal(jax.random.key(3), (40, 2000)), np.float64)
  se = sweeps.variance_se(x, axis=1)
  # Normal data: SE(s^2) = sigma^2 sqrt(2 / (n - 1)) = 0.0316 (up to the 4th moment's noise).
  np.testing.assert_allclose(se.mean(), np.sqrt(2 / 1999), rtol=0.03)
  # ... and it covers the spread of s^2 across the 40 independent rows.
  np.testing.assert_allclose(x.var(1, ddof=1).std(ddof=1), np.sqrt(2 / 1999), rtol=0.35)


def test_estimator_sweep_slopes_match_the_asymptotic_laws():
  # log w ~ N(0, s^2): Var L_K ~ c2 / K and bias ~ c2 / (2K), both slope -1 for large K.
  s = 0.5
  est = lambda k, K: jax.scipy.special.logsumexp(s * jax.random.normal(k, (K,))) - jnp.log(K)
  sw = sweeps.estimator_sweep(jax.random.key(0), est, [16, 32, 64, 128, 256], 4000,
                              reference=s * s / 2)
  assert sw.var_slope.lo <= -1.0 <= sw.var_slope.hi
  assert sw.bias_slope is None or sw.bias_slope.lo <= -1.0 <= sw.bias_slope.hi
  c2 = np.expm1(s * s)
  np.testing.assert_allclose(sw.var * sw.ks, c2, rtol=0.15)   # the law's constant
  # Sanity bounds only: variance_se itself is checked against normal theory and against the
  # spread of 40 independent variances in test_variance_se_matches_normal_theory.
  assert np.all(sw.var_se > 0) and np.all(sw.var_se < sw.var)


def test_estimator_sweep_refuses_bad_estimators():
  with pytest.raises(ValueError, match="`estimator`"):
    sweeps.estimator_sweep(jax.random.key(0), lambda k, K: jnp.full((2,), jnp.nan), [1], 8)
  with pytest.raises(ValueError, match="`estimator`"):
    sweeps.estimator_sweep(jax.random.key(0), lambda k, K: jnp.log(-1.0 + 0 * K), [1], 8)


def test_grad_snr_sweep_has_slope_one_half_for_a_mean():
  # g = mean of K draws of N(1, 1): SNR = sqrt(K) exactly in expectation.
  g = lambda k, K: {"w": jnp.mean(1.0 + jax.random.normal(k, (K, 3)), 0)}
  sw = sweeps.grad_snr_sweep(jax.random.key(1), g, [1, 4, 16, 64], 2000)
  (sl,) = sw.slopes.values()
  assert sl.lo <= 0.5 <= sl.hi
  np.testing.assert_allclose(list(sw.snr.values())[0], np.sqrt(sw.ks), rtol=0.1)
  assert list(sw.constant.values())[0].tolist() == [0, 0, 0, 0]


def test_grad_snr_sweep_is_not_at_the_floor_on_a_zero_mean_gradient():
  # g_p = mean of K draws of N(0, 1) for P = 1000 entries: the true SNR is 0 at every K. The mean
  # of |mean| / sd sits at the floor sqrt(2 / (pi R)); the debiased SNR^2 is within its SE of 0.
  # Its jackknife SE has blocks - 1 = 19 degrees of freedom: a t bound, false-failure rate 1e-2
  # split over the 2 K (about 3.2 SE). Then SNR <= sqrt(3.2 SE(SNR^2)) ~ 0.46 x the floor.
  # Beside the noise: a constant entry and a sparse one in "w", a constant nonzero leaf "c" and a
  # zero leaf "z".
  P, R, ks, rate = 1000, 400, [1, 16], 1e-2

  def g(k, K):
    noise = jnp.mean(jax.random.normal(k, (K, P)), 0)
    rare = (jax.random.uniform(jax.random.fold_in(k, 1), (1,)) < 1.5 / R).astype(noise.dtype)
    return {"w": jnp.concatenate([noise, jnp.ones(1), rare]), "c": jnp.full(2, 0.5),
            "z": jnp.zeros(3)}

  sw = sweeps.grad_snr_sweep(jax.random.key(5), g, ks, R)
  t = stats.t_for_rate(rate / len(ks), 19)
  w = "['w']"
  assert np.all(np.abs(sw.snr2[w]) <= t * sw.snr2_se[w])
  floor = np.sqrt(2 / (np.pi * R))
  assert np.all(sw.snr[w] < floor / 2)
  assert sw.constant[w].tolist() == [1, 1] and sw.entries[w] == P + 2
  # The rare entry is sparse where its nonzero draws lie in one jackknife block (20 blocks).
  blocks = np.array_split(np.arange(R), 20)
  want = []
  for i, K in enumerate(ks):
    keys = sweeps.replicate_keys(jax.random.fold_in(jax.random.key(5), i), R)
    hits = np.flatnonzero(np.asarray(jax.vmap(lambda kk: g(kk, K)["w"][-1])(keys)))
    want.append(int(hits.size > 0 and any(set(hits) <= set(b) for b in blocks)))
  assert sw.sparse[w].tolist() == want and sum(want) >= 1
  # Constant leaves: reported as such, never NaN, and in no slope.
  assert sw.constant["['c']"].tolist() == [2, 2] and sw.entries["['c']"] == 2
  assert np.all(np.isinf(sw.snr["['c']"])) and np.all(sw.snr["['z']"] == 0)
  for field in (sw.snr, sw.snr_se, sw.snr2, sw.snr2_se):
    assert not any(np.isnan(a).any() for a in field.values())
  assert sw.slopes["['c']"] is None and sw.slopes["['z']"] is None


def test_grad_snr_sweep_refuses_non_finite_gradients():
  with pytest.raises(ValueError, match="`grad_estimator`"):
    sweeps.grad_snr_sweep(jax.random.key(0), lambda k, K: {"w": jnp.full(2, jnp.nan)}, [1], 8)
  with pytest.raises(ValueError, match="`ks`"):
    sweeps.grad_snr_sweep(jax.random.key(0), lambda k, K: jax.random.normal(k, (2,)), [], 8)


def test_snr_rms_matches_the_true_rms_snr_within_its_se():
  # Oracle: g ~ N(mu_p, 1) per parameter, so the RMS SNR is sqrt(mean mu_p^2) exactly.
  mu = np.array([0.05, 0.0, 0.1])
  g = mu + np.asarray(jax.random.normal(jax.random.key(4), (20000, 3), jnp.float64))
  snr, se = sweeps.snr_rms(g)
  true = float(np.sqrt(np.mean(mu ** 2)))
  assert abs(snr - true) <= 5 * se and se < 0.2 * true
  with pytest.raises(ValueError, match="`g`"):
    sweeps.snr_rms(np.ones((3, 2)))
  with pytest.raises(ValueError, match="`g` has 1 constant column"):  # 0/0, not NaN
    sweeps.snr_rms(np.concatenate([g, np.ones((20000, 1))], 1))


def test_fit_loglog_without_inflation_keeps_the_errors_se():
  ks = np.array([1.0, 4.0, 16.0])
  y = np.array([1.0, 2.2, 3.8])  # scatters about a line far more than se = 0.01 y explains
  a = sweeps.fit_loglog(ks, y, 0.01 * y)
  b = sweeps.fit_loglog(ks, y, 0.01 * y, inflate=False)
  assert a.inflated and not b.inflated and b.se < a.se and a.slope == b.slope
  u = np.log(ks)
  assert b.se == pytest.approx(0.01 / np.sqrt(np.sum((u - u.mean()) ** 2)))
