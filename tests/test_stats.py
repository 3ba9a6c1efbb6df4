"""stats.py against scipy.stats."""
import numpy as np
import pytest
from scipy import stats as sps

from gdm_jax import stats


def test_z_for_rate():
  assert stats.z_for_rate(0.05) == pytest.approx(sps.norm.ppf(0.975), rel=1e-12)
  assert stats.z_for_rate(0.05, two_sided=False) == pytest.approx(sps.norm.ppf(0.95), rel=1e-12)
  assert stats.z_for_rate(1e-6 / 30) == pytest.approx(sps.norm.isf(1e-6 / 60), rel=1e-10)


def test_mean_and_se():
  x = np.random.default_rng(0).normal(size=500)
  m = stats.mean_and_se(x)
  assert m.mean == pytest.approx(x.mean()) and m.se == pytest.approx(sps.sem(x)) and m.n == 500


def test_binomial_ci_matches_scipy():
  lo, hi = stats.binomial_ci(3, 50)
  ci = sps.binomtest(3, 50).proportion_ci(0.95, method="exact")
  assert (lo, hi) == pytest.approx((ci.low, ci.high), rel=1e-9)
  assert stats.binomial_ci(0, 10)[0] == 0.0 and stats.binomial_ci(10, 10)[1] == 1.0


def test_samples_for_resolution():
  n = stats.samples_for_resolution(sd=2.0, delta=0.1, z=3.0)
  assert 3.0 * 2.0 / np.sqrt(n) <= 0.1 < 3.0 * 2.0 / np.sqrt(n - 1)


@pytest.mark.parametrize("call, name", [
    (lambda: stats.z_for_rate(0.0), "rate"),
    (lambda: stats.z_for_rate(1.5), "rate"),
    (lambda: stats.bonferroni(1e-6, 0), "n_tests"),
    (lambda: stats.mean_and_se(np.ones(1)), "x"),
])
def test_bad_input(call, name):
  with pytest.raises(ValueError, match=f"`{name}`"):
    call()
