r"""The verification's own statistics, checked against the standard library: the z of a false-
failure rate (by bisection on ``math.erfc``), the Bonferroni split the run uses, a mean's standard
error, and the stated power of a mean test. A slip here would move every Monte Carlo tolerance
without changing a single verdict at one seed, so it is verified like the mathematics."""
from __future__ import annotations

import math

import numpy as np

from gdm_jax import stats
from gdm_jax.claims.core import Claim, Config, Evidence, worst


def _upper_tail_z(tail: float) -> float:
  """z with P(Z > z) = tail, by bisection on the complementary error function (stdlib)."""
  lo, hi = -40.0, 40.0
  for _ in range(200):
    mid = 0.5 * (lo + hi)
    if 0.5 * math.erfc(mid / math.sqrt(2.0)) > tail:
      lo = mid
    else:
      hi = mid
  return 0.5 * (lo + hi)


def check_statistics(key, cfg: Config) -> Evidence:
  del key
  from gdm_jax.claims import REGISTRY
  errs, slips = {}, {}
  n_mc = sum(c.stochastic for c in REGISTRY)
  rate = cfg.family_rate / n_mc
  errs["Bonferroni rate"] = abs(cfg.rate - rate) / rate
  slips["no split"] = abs(cfg.family_rate - rate) / rate
  for r in (rate, rate / 14, 0.05):
    z2, z1 = _upper_tail_z(r / 2), _upper_tail_z(r)
    errs[f"z two-sided {r:.1e}"] = abs(stats.z_for_rate(r) - z2) / z2
    errs[f"z one-sided {r:.1e}"] = abs(stats.z_for_rate(r, two_sided=False) - z1) / z1
    slips.setdefault("one-sided z", abs(z1 - z2) / z2)
  x = np.sin(np.arange(1, 101) * 0.7) + 0.01 * np.arange(100)   # a fixed sample, n = 100
  m = stats.mean_and_se(x)
  sd = math.sqrt(sum((v - sum(x) / 100) ** 2 for v in x) / 99)
  errs["standard error"] = abs(m.se - sd / 10) / (sd / 10)
  slips["SE as the std"] = 9.0
  # Power: at delta = detectable(se, rate) the one-sided rejection probability is 0.99.
  d = stats.detectable(1.0, rate, two_sided=True)
  power = 0.5 * math.erfc((_upper_tail_z(rate / 2) - d) / math.sqrt(2.0))
  errs["power at detects"] = abs(power - (1 - stats.FALSE_PASS_RATE))
  name = max(errs, key=errs.get)
  return Evidence(worst(errs.values()), 0.0, 1e-9, "==", "float64 rounding of the bisection (1e-9)",
                  f"stats vs stdlib erfc: {n_mc} Monte Carlo claims, per-claim rate {rate:.2e}; "
                  f"worst: {name}", errs, effect=min(slips.values()),
                  effect_what="the smallest slip: " + min(slips, key=slips.get))


CLAIMS = [
    Claim("design.statistics", "V", "theorem",
          "the run's z values, Bonferroni split, standard errors and stated power match erfc",
          check_statistics,
          mistakes=("z_one_sided", "bonferroni_no_split", "se_is_std")),
]
