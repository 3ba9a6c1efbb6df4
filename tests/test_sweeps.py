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


def test_experiment_script_runs(tmp_path):
  proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "q7_jsd.py"), "--quick",
                         "--out", str(tmp_path)], capture_output=True, text=True)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert (tmp_path / "q7_parallel_lines.png").stat().st_size > 1000
  assert "theta" in (tmp_path / "q7_parallel_lines.md").read_text()


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
  # The variance's standard error against the spread of independent sweeps' variances.
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
