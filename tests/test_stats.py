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


@pytest.mark.parametrize("rate, dof, two", [(0.05, 10, True), (1e-7, 31, False), (0.01, 3, True)])
def test_t_for_rate_matches_scipy(rate, dof, two):
  q = 1 - rate / 2 if two else 1 - rate
  assert stats.t_for_rate(rate, dof, two) == pytest.approx(sps.t.ppf(q, dof), rel=1e-9)


def test_critical_value_switches_from_t_to_z_at_100():
  assert stats.critical_value(1e-3, 32) == pytest.approx(sps.t.isf(5e-4, 31), rel=1e-9)
  assert stats.critical_value(1e-3, 100) == pytest.approx(sps.norm.isf(5e-4), rel=1e-12)


@pytest.mark.parametrize("two_sided", [True, False])
@pytest.mark.parametrize("n", [None, 20])
def test_detectable_has_the_stated_power(two_sided, n):
  # Power of the test |mean - ref| <= c SE at a true discrepancy delta, by scipy's distributions:
  # P(reject) = P(T > c - delta/SE) (+ the negligible other tail when two-sided).
  rate, se = 1e-4, 0.3
  delta = stats.detectable(se, rate, n, two_sided)
  dist = sps.norm if n is None else sps.t(n - 1)
  c = dist.isf(rate / 2 if two_sided else rate)
  power = dist.sf(c - delta / se)
  assert power == pytest.approx(1 - stats.FALSE_PASS_RATE, abs=1e-9)


def test_min_samples_inverts_detectable():
  n = stats.min_samples(0.05, 2.0, 1e-6)
  assert stats.detectable(2.0 / np.sqrt(n), 1e-6) <= 0.05 < stats.detectable(2.0 / np.sqrt(n - 1),
                                                                              1e-6)


def test_bonferroni_splits_the_rate():
  assert stats.bonferroni(1e-6, 4) == pytest.approx(2.5e-7)


def test_binomial_ci_coverage_against_scipy_binomial():
  # Clopper-Pearson is conservative: coverage >= 95% at every p (exact binomial sums by scipy).
  n = 40
  for p in (0.01, 0.1, 0.5):
    cover = sum(sps.binom.pmf(k, n, p) for k in range(n + 1)
                if stats.binomial_ci(k, n)[0] <= p <= stats.binomial_ci(k, n)[1])
    assert cover >= 0.95


@pytest.mark.parametrize("call, name", [
    (lambda: stats.binomial_ci(5, 3), "successes"),
    (lambda: stats.binomial_ci(1, 0), "trials"),
    (lambda: stats.bonferroni(-1, 3), "family_rate"),
    (lambda: stats.t_for_rate(0.1, 0), "dof"),
    (lambda: stats.min_samples(0.0, 1.0, 1e-3), "discrepancy"),
    (lambda: stats.detectable(-1.0, 0.05), "se"),          # gave -4.29: a negative power
    (lambda: stats.detectable(-1e-300, 0.05, 20), "se"),
])
def test_more_bad_input(call, name):
  with pytest.raises(ValueError, match=f"`{name}`"):
    call()


def test_detectable_at_zero_and_nan_se():
  assert stats.detectable(0.0, 0.05) == 0.0
  assert np.isnan(stats.detectable(float("nan"), 0.05))   # left to the verdict logic (an error)


def test_sources_hold_no_control_characters():
  # Docstrings written through a tool that read "\\alpha" as BEL + "lpha": the raw strings held
  # control characters (c_<BEL>lpha, <CR>ceil, T_<LF>u) that render as garbage.
  import pathlib
  import re
  root = pathlib.Path(stats.__file__).parent
  bad = {str(p.relative_to(root)): sorted(set(re.findall(r"[\x00-\x08\x0b-\x1f\x7f]",
                                                         p.read_text())))
         for p in root.rglob("*.py")}
  assert not {k: v for k, v in bad.items() if v}
  assert "T_\\nu" in pathlib.Path(stats.__file__).read_text()
