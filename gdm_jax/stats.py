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
#: False-pass rate at which a claim states its power: ``detects`` is the smallest discrepancy it
#: detects with probability >= 1 - FALSE_PASS_RATE (TFP's ``false_pass_rate``).
FALSE_PASS_RATE = 0.01
#: Below this many samples a mean's standard error is judged with Student's t, not the normal.
T_BELOW = 100


class MeanSE(NamedTuple):
  mean: float  # sample mean
  se: float    # standard error of the mean, std / sqrt(n)
  n: int       # number of samples


def real_array(name: str, x) -> np.ndarray:
  """``x`` as a float64 numpy array under the package's dtype rules
  (:func:`gdm_jax.validation.real`, without importing jax): integers promoted; bool, float16,
  bfloat16, complex and non-numbers refused with a ``ValueError`` naming ``name``. Values are not
  inspected (NaN and infinities pass)."""
  try:
    a = np.asarray(x)
  except Exception as e:  # pragma: no cover - exotic objects
    raise ValueError(f"`{name}` must be an array of real numbers; got {type(x).__name__}.") from e
  if a.dtype == np.bool_:
    raise ValueError(f"`{name}` has dtype bool; a mask is not a number here. Pass real numbers "
                     f"(`{name}.astype(float)` if you mean 0 and 1).")
  if a.dtype.name in ("float16", "bfloat16"):
    raise ValueError(f"`{name}` has dtype {a.dtype.name}, too narrow (2-3 significant digits); "
                     "pass float32 or float64.")
  if np.issubdtype(a.dtype, np.complexfloating):
    raise ValueError(f"`{name}` has complex dtype {a.dtype}; pass real numbers.")
  if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
    raise ValueError(f"`{name}` must be an array of real numbers; got dtype {a.dtype}.")
  return a.astype(np.float64)


def mean_and_se(x, axis: int = 0) -> MeanSE:
  r"""Sample mean and its standard error :math:`s / \sqrt{n}` (``ddof=1``) along ``axis``.

  ``x``: real numbers (:func:`real_array`; ints promoted, bool and 16-bit floats refused). A NaN
  or infinite sample is not refused: it gives a NaN or infinite mean or SE, as numpy does, which
  the verdict logic reports as an error (NaN evidence)."""
  x = real_array("x", x)
  if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or \
      not -x.ndim <= axis < max(x.ndim, 1):
    raise ValueError(f"`axis` must be an int in [{-x.ndim}, {x.ndim - 1}] for `x` of shape "
                     f"{x.shape}; got {axis!r}.")
  if x.ndim == 0:
    raise ValueError("`x` is a scalar; pass at least 2 samples.")
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


def t_for_rate(rate: float, dof: int, two_sided: bool = True) -> float:
  r"""Student's t quantile with :math:`P(|T_\nu| > t) = rate` (two-sided) or :math:`P(T_\nu > t)
  = rate`, :math:`\nu` = ``dof`` (for a mean of ``n`` samples, ``dof = n - 1``)."""
  if not 0.0 < rate < 1.0:
    raise ValueError(f"`rate` must lie in (0, 1); got {rate}.")
  if isinstance(dof, bool) or int(dof) != dof or dof < 1:
    raise ValueError(f"`dof` must be an integer >= 1; got {dof!r}.")
  tail = rate / 2.0 if two_sided else rate
  return float(-special.stdtrit(int(dof), tail))


def critical_value(rate: float, n: int, two_sided: bool = True) -> float:
  """The multiplier of a mean's standard error at false-failure ``rate``: Student's t with
  ``n - 1`` degrees of freedom below :data:`T_BELOW` samples, the normal z from there on."""
  if n < T_BELOW:
    return t_for_rate(rate, n - 1, two_sided)
  return z_for_rate(rate, two_sided)


def detectable(se: float, rate: float, n: int | None = None, two_sided: bool = True,
               false_pass_rate: float = FALSE_PASS_RATE) -> float:
  r"""Power of a mean test: the smallest discrepancy :math:`\delta` of the true mean from the
  reference that the test ``|mean - ref| <= c_\alpha SE`` detects with probability
  :math:`\ge 1 - \beta`:

  .. math:: \delta = (c_\alpha + c_\beta)\,SE,

  with :math:`c_\alpha` the critical value at the false-failure ``rate`` (two- or one-sided) and
  :math:`c_\beta` the one-sided one at ``false_pass_rate`` (t quantiles when ``n`` < 100).

  A negative ``se`` is refused (a standard error is a length); a NaN ``se`` gives NaN and an
  infinite one infinity (nothing detected), which the verdict logic reports as they are."""
  se = float(se)
  if n is not None and (isinstance(n, bool) or int(n) != n or n < 2):
    raise ValueError(f"`n` must be an integer >= 2 (samples behind the standard error); got "
                     f"{n!r}.")
  if se < 0:
    raise ValueError(f"`se` must be a standard error >= 0; got {se}. Pass s / sqrt(n), not a "
                     "signed difference.")
  if n is None or n >= T_BELOW:
    return (z_for_rate(rate, two_sided) + z_for_rate(false_pass_rate, False)) * se
  return (t_for_rate(rate, n - 1, two_sided) + t_for_rate(false_pass_rate, n - 1, False)) * se


def min_samples(discrepancy: float, std: float, false_fail_rate: float,
                false_pass_rate: float = FALSE_PASS_RATE, two_sided: bool = True) -> int:
  r"""Samples :math:`n` for a mean test to detect ``discrepancy`` with probability
  :math:`1 - \beta`: :math:`n = \lceil ((z_\alpha + z_\beta)\,\sigma / \delta)^2 \rceil`
  (CLT; the design of TFP's ``min_num_samples_for_dkwm_mean_test``, with a variance)."""
  if not discrepancy > 0 or not std > 0:
    raise ValueError(f"`discrepancy` and `std` must be > 0; got {discrepancy}, {std}.")
  za = z_for_rate(false_fail_rate, two_sided) + z_for_rate(false_pass_rate, False)
  return int(math.ceil((za * std / discrepancy) ** 2))


def bonferroni(family_rate: float, n_tests: int) -> float:
  """Per-test rate so that ``n_tests`` tests together fail falsely with rate <= family_rate."""
  if not 0.0 < family_rate < 1.0:
    raise ValueError(f"`family_rate` must lie in (0, 1); got {family_rate}.")
  if isinstance(n_tests, bool) or int(n_tests) != n_tests or n_tests < 1:
    raise ValueError(f"`n_tests` must be an integer >= 1; got {n_tests!r}.")
  return family_rate / n_tests


def samples_for_resolution(sd: float, delta: float, z: float) -> int:
  r"""Samples n so that :math:`z\,sd/\sqrt{n} \le \delta`: detect a discrepancy of ``delta``.
  ``sd >= 0``, ``delta > 0`` and ``z > 0``, all finite."""
  for name, val, ok in (("sd", sd, sd >= 0), ("delta", delta, delta > 0), ("z", z, z > 0)):
    if not (ok and math.isfinite(val)):
      raise ValueError(f"`{name}` must be finite and {'>= 0' if name == 'sd' else '> 0'}; got "
                       f"{val}.")
  return int(math.ceil((z * sd / delta) ** 2))


def binomial_ci(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
  """Clopper-Pearson interval for a binomial proportion."""
  if isinstance(trials, bool) or int(trials) != trials or trials < 1:
    raise ValueError(f"`trials` must be an integer >= 1; got {trials!r}.")
  if isinstance(successes, bool) or int(successes) != successes or not 0 <= successes <= trials:
    raise ValueError(f"`successes` must be an integer in [0, trials={trials}]; got "
                     f"{successes!r}.")
  if not 0.0 < level < 1.0:
    raise ValueError(f"`level` must lie in (0, 1); got {level}.")
  a = 1.0 - level
  # Beta quantiles: beta.ppf(q, a, b) is the inverse regularised incomplete beta betaincinv.
  lo = 0.0 if successes == 0 else float(special.betaincinv(successes, trials - successes + 1,
                                                           a / 2))
  hi = 1.0 if successes == trials else float(special.betaincinv(successes + 1,
                                                                trials - successes, 1 - a / 2))
  return lo, hi

