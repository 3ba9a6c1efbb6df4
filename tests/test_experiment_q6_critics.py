"""gdm_jax.experiments.q6_critics's helper: R1 and R2 at their optimal critics versus the KL."""
import jax
import numpy as np
import pytest

from gdm_jax import stats
from gdm_jax.experiments import q6_critics


def test_bound_variance_means_match_kl():
  bv = q6_critics.bound_variance(jax.random.key(0), [1.0], n=128, replicates=400)
  z = stats.z_for_rate(1e-4)
  for mean, var in ((bv.r1_mean[0], bv.r1_var[0]), (bv.r2_mean[0], bv.r2_var[0])):
    # R1 at its optimal critic is unbiased for KL; R2's batch estimate is biased upward by at
    # most O(1/n) (log of a mean), so allow the z*SE band plus Var/(2n) from the delta method.
    assert abs(mean - bv.kl[0]) <= z * np.sqrt(var / 400) + np.expm1(2 * bv.kl[0]) / (2 * 128)


def test_bound_variance_reports_its_spread():
  bv = q6_critics.bound_variance(jax.random.key(0), [1.0], n=64, replicates=200)
  assert bv.r1_var_se.shape == (1,) and 0 < bv.r1_var_se[0] < bv.r1_var[0]


@pytest.mark.parametrize("kw, name", [
    ({"n": 0}, "n"),                      # named `t_p`, from inside kl_bounds
    ({"replicates": 1}, "replicates"),
    ({"gaps": [float("nan")]}, "gaps"),
    ({"gaps": []}, "gaps"),
])
def test_bound_variance_names_its_bad_argument(kw, name):
  args = {"gaps": [1.0], **kw}
  with pytest.raises(ValueError, match=f"`{name}`"):
    q6_critics.bound_variance(jax.random.key(0), **args)
