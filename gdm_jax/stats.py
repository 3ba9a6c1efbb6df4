r"""Monte Carlo statistics with a designed false-failure rate.

A Monte Carlo claim is an experiment (TFP's ``statistical_testing`` design): choose the
false-failure rate :math:`\alpha`, derive :math:`z = \Phi^{-1}(1 - \alpha/2)` (two-sided) or
:math:`\Phi^{-1}(1 - \alpha)` (one-sided), and accept when :math:`|\hat\mu - \mu_0| \le z\,SE`.
A run's family-wise rate is split across its stochastic claims by Bonferroni:
:math:`\alpha_i = \alpha_{family} / n`.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy import special

#: Family-wise false-failure rate of one ``gdm-jax verify`` run, by design.
FAMILY_RATE = 1e-6


class MeanSE(NamedTuple):
  mean: float  # sample mean
  se: float    # standard error of the mean, std / sqrt(n)
  n: int       # number of samples


def mean_and_se(x, axis: int = 0) -> MeanSE:
  r"""Sample mean and its standard error :math:`s / \sqrt{n}` (``ddof=1``) along ``axis``."""
  x = np.asarray(x, dtype=np.float64)
  n = x.shape[axis]
  if n < 2:
    raise ValueError(f"`x` needs at least 2 samples along axis {axis} for a standard error; "
                     f"got {n}.")
  return MeanSE(np.mean(x, axis=axis), np.std(x, axis=axis, ddof=1) / math.sqrt(n), n)


def z_for_rate(rate: float, two_sided: bool = True) -> float:
  r"""The z with :math:`P(|Z| > z) = rate` (two-sided) or :math:`P(Z > z) = rate`."""
  if not 0.0 < rate < 1.0:
    raise ValueError(f"`rate` must lie in (0, 1); got {rate}.")
  tail = rate / 2.0 if two_sided else rate
  return float(-special.ndtri(tail))


def bonferroni(family_rate: float, n_tests: int) -> float:
  """Per-test rate so that ``n_tests`` tests together fail falsely with rate <= family_rate."""
  if n_tests < 1:
    raise ValueError(f"`n_tests` must be >= 1; got {n_tests}.")
  return family_rate / n_tests


def samples_for_resolution(sd: float, delta: float, z: float) -> int:
  r"""Samples n so that :math:`z\,sd/\sqrt{n} \le \delta`: detect a discrepancy of ``delta``."""
  return int(math.ceil((z * sd / delta) ** 2))


def binomial_ci(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
  """Clopper-Pearson interval for a binomial proportion."""
  a = 1.0 - level
  # Beta quantiles: beta.ppf(q, a, b) is the inverse regularised incomplete beta betaincinv.
  lo = 0.0 if successes == 0 else float(special.betaincinv(successes, trials - successes + 1,
                                                           a / 2))
  hi = 1.0 if successes == trials else float(special.betaincinv(successes + 1,
                                                                trials - successes, 1 - a / 2))
  return lo, hi

