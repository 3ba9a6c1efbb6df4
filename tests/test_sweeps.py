"""sweeps.py on shrunken configurations (the experiments' logic), with closed-form oracles."""
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gdm_jax import models, stats, sweeps

ROOT = Path(__file__).resolve().parents[1]


def test_lk_sweep_brackets_log_marginal():
  m = models.random_linear_gaussian(jax.random.key(0), 2, 3, 0.7)
  x = m.sample(jax.random.key(1), 1)[0][0]
  pm, pc = m.posterior(x)
  s = sweeps.lk_sweep(jax.random.key(2), m, x, pm + 0.3, 1.2 * jnp.sqrt(jnp.diagonal(pc)),
                      [1, 16], 400)
  z = stats.z_for_rate(1e-4, two_sided=False)
  assert np.all(s.mean <= s.log_px + z * s.se)  # L_K <= log p(x)
  assert s.mean[1] > s.mean[0] and s.var[1] < s.var[0]


def test_loglog_slope_recovers_power_law():
  k = np.array([1, 10, 100, 1000])
  assert abs(sweeps.loglog_slope(k, 3.0 / k) + 1.0) < 1e-12


def test_bound_variance_means_match_kl():
  bv = sweeps.bound_variance(jax.random.key(0), [1.0], n=128, replicates=400)
  z = stats.z_for_rate(1e-4)
  for mean, var in ((bv.r1_mean[0], bv.r1_var[0]), (bv.r2_mean[0], bv.r2_var[0])):
    # R1 at its optimal critic is unbiased for KL; R2's batch estimate is biased upward by at
    # most O(1/n) (log of a mean), so allow the z*SE band plus Var/(2n) from the delta method.
    assert abs(mean - bv.kl[0]) <= z * np.sqrt(var / 400) + np.expm1(2 * bv.kl[0]) / (2 * 128)


def test_blind_spot_vs_depth_shrinks_but_never_closes():
  rows = sweeps.blind_spot_vs_depth(size=6, max_layers=3)
  unseen = [r[1] for r in rows]
  assert unseen[0] >= unseen[1] >= unseen[2] > 0


def test_parallel_lines_curve():
  th, jsd, grad, w1 = sweeps.parallel_lines_curve([0.0, 0.5], sigma=0.02)
  np.testing.assert_allclose(jsd, [0.0, np.log(2)], atol=1e-6)
  assert abs(grad[1]) < 1e-5 and np.allclose(w1, [0.0, 0.5])


def _jsd_quad(theta, sigma):
  """JSD(N(0, s^2) || N(theta, s^2)) by scipy quad of the definition (the oracle)."""
  from scipy import integrate, stats as ss
  def f(x):
    p, q = ss.norm.pdf(x, 0, sigma), ss.norm.pdf(x, theta, sigma)
    m = 0.5 * (p + q)
    return 0.5 * (p * np.log(p / m) if p > 0 else 0.0) + 0.5 * (q * np.log(q / m) if q > 0 else 0.0)
  lo, hi = min(0.0, theta) - 12 * sigma, max(0.0, theta) + 12 * sigma
  return integrate.quad(f, lo, hi, points=[0.0, theta / 2, theta], limit=400, epsabs=1e-13)[0]


def test_parallel_lines_gradient_near_zero_is_real_not_a_grid_artefact():
  # The +-1.2 at theta = +-0.1 that quick plots showed is the true derivative at 5 sigma (a coarse
  # theta grid made it look like a spike); the peak, ~11.7 at 1.65 sigma, needs finer thetas.
  sigma, h = 0.02, 1e-4
  th = np.array([0.033, 0.1, -0.1])
  _, jsd, grad, _ = sweeps.parallel_lines_curve(th, sigma=sigma)
  want = [(_jsd_quad(t + h, sigma) - _jsd_quad(t - h, sigma)) / (2 * h) for t in th]
  np.testing.assert_allclose(grad, want, rtol=2e-3)
  np.testing.assert_allclose(jsd[1], _jsd_quad(0.1, sigma), rtol=1e-5)
  assert 11 < grad[0] < 12.5 and abs(grad[1] - 1.1845) < 0.01


def test_parallel_lines_curve_refuses_an_unresolved_sigma():
  with pytest.raises(ValueError, match="not resolved"):
    sweeps.parallel_lines_curve([0.1], sigma=0.005)
  with pytest.raises(ValueError, match="beyond the grid"):
    sweeps.parallel_lines_curve([5.9], sigma=0.02)


def test_variance_se_matches_normal_theory():
  x = np.asarray(jax.random.normal(jax.random.key(3), (40, 2000)), np.float64)
  se = sweeps.variance_se(x, axis=1)
  # Normal data: SE(s^2) = sigma^2 sqrt(2 / (n - 1)) = 0.0316 (up to the 4th moment's noise).
  np.testing.assert_allclose(se.mean(), np.sqrt(2 / 1999), rtol=0.03)
  # ... and it covers the spread of s^2 across the 40 independent rows.
  np.testing.assert_allclose(x.var(1, ddof=1).std(ddof=1), np.sqrt(2 / 1999), rtol=0.35)


def test_bound_variance_and_serving_cost_report_their_spread():
  bv = sweeps.bound_variance(jax.random.key(0), [1.0], n=64, replicates=200)
  assert bv.r1_var_se.shape == (1,) and 0 < bv.r1_var_se[0] < bv.r1_var[0]
  from gdm_jax import amortized as am
  m = models.random_linear_gaussian(jax.random.key(0), 2, 3, 0.7)
  enc = am.Encoder(2)
  x = m.sample(jax.random.key(1), 4)[0]
  params = enc.init(jax.random.key(2), x)
  (row,) = sweeps.serving_cost(jax.random.key(3), m, enc, params, [4], steps=3, repeats=3)
  assert row.amortised_range[0] <= row.amortised_seconds <= row.amortised_range[1]
  assert row.instance_range[0] <= row.instance_seconds <= row.instance_range[1]


def test_experiment_script_runs(tmp_path):
  proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "q7_jsd.py"), "--quick",
                         "--out", str(tmp_path)], capture_output=True, text=True)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert (tmp_path / "q7_parallel_lines.png").stat().st_size > 1000
  assert "theta" in (tmp_path / "q7_parallel_lines.md").read_text()
  # Quick mode samples theta finely near 0, where the gradient lives (not 0.1 apart).
  import csv
  with open(tmp_path / "q7_parallel_lines.csv") as f:
    thetas = sorted(float(r[0]) for r in list(csv.reader(f))[1:])
  assert sum(0 < t < 0.1 for t in thetas) >= 3


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


@pytest.mark.parametrize("kw, name", [
    ({"n": 0}, "n"),                      # named `t_p`, from inside kl_bounds
    ({"replicates": 1}, "replicates"),
    ({"gaps": [float("nan")]}, "gaps"),
    ({"gaps": []}, "gaps"),
])
def test_bound_variance_names_its_bad_argument(kw, name):
  args = {"gaps": [1.0], **kw}
  with pytest.raises(ValueError, match=f"`{name}`"):
    sweeps.bound_variance(jax.random.key(0), **args)


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
  # Beside the noise: one constant entry in "w", a constant nonzero leaf "c" and a zero leaf "z".
  P, R, ks, rate = 1000, 400, [1, 16], 1e-2

  def g(k, K):
    noise = jnp.mean(jax.random.normal(k, (K, P)), 0)
    return {"w": jnp.concatenate([noise, jnp.ones(1)]), "c": jnp.full(2, 0.5), "z": jnp.zeros(3)}

  sw = sweeps.grad_snr_sweep(jax.random.key(5), g, ks, R)
  t = stats.t_for_rate(rate / len(ks), 19)
  w = "['w']"
  assert np.all(np.abs(sw.snr2[w]) <= t * sw.snr2_se[w])
  floor = np.sqrt(2 / (np.pi * R))
  assert np.all(sw.snr[w] < floor / 2)
  assert sw.constant[w].tolist() == [1, 1] and sw.entries[w] == P + 1
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



def test_snr_sweep_decoder_snr_rises_and_encoder_falls():
  # Rainforth et al. (2018): with K the decoder gradient's SNR grows and the IWAE encoder's falls.
  m = models.random_linear_gaussian(jax.random.key(7), 2, 4, 0.7)
  x = m.sample(jax.random.key(8), 1)[0][0]
  pm, pc = m.posterior(x)
  s = sweeps.snr_sweep(jax.random.key(9), m, x, pm + 0.3, jnp.log(jnp.sqrt(jnp.diag(pc))),
                       [1, 64], 400)
  assert isinstance(s, sweeps.SnrSweep)
  assert s.decoder_iwae[1] > s.decoder_iwae[0] and s.encoder_iwae[1] < s.encoder_iwae[0]


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
