r"""Evidence: what a check measured, against what reference, with which tolerance and where the
tolerance comes from; and the error measures that deterministic tolerances bound.

Below the claims and the users' :mod:`gdm_jax.testing` alike (both build :class:`Evidence`), so the
testing API does not import the registry. :mod:`gdm_jax.claims.core` re-exports these names.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

#: Relative tolerance for deterministic (non-Monte-Carlo) comparisons, keyed by dtype, as in
#: jax's scipy tests. The error is measured relative to ``max(1, |reference|)``.
DTYPE_RTOL = {"float32": 2e-5, "float64": 1e-10}


def worst(values) -> float:
  """The largest of ``values``, NaN when any is NaN (Python's ``max`` skips a NaN that is not
  first, which would hide a non-finite sub-result behind a finite one)."""
  vals = np.asarray(list(values), np.float64)
  return float(np.max(vals))


def max_rel_error(measured, reference) -> float:
  """``max |measured - reference| / max(1, |reference|)``: the error :data:`DTYPE_RTOL` bounds."""
  a, b = np.asarray(measured, np.float64), np.asarray(reference, np.float64)
  return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b))))


class Evidence(NamedTuple):
  """What a check measured, against what, with which tolerance and where the tolerance comes from.

  ``relation`` says how ``measured`` is compared with ``reference``:
  ``"=="``: ``|measured - reference| <= tolerance``; ``"<="``: ``measured <= reference + tolerance``;
  ``">="``: ``measured >= reference - tolerance``.

  Both error rates are stated: the tolerance's ``origin`` gives the false-failure rate, and
  ``detects`` the claim's power, the smallest discrepancy (in the units of ``measured``) that it
  detects with probability >= 0.99 (a deterministic claim: its tolerance, the default).
  ``effect`` is the size of the effect the claim is about (the term a derivation would drop, the
  gap a bound leaves, the error of a written statement): a claim is only believed when
  ``detects < effect``, otherwise its verdict is ``error`` (underpowered).
  """
  measured: float
  reference: float
  tolerance: float
  relation: str
  origin: str
  detail: str = ""
  data: Any = None  # optional per-case numbers, for reports and figures
  detects: float | None = None
  effect: float | None = None
  effect_what: str = ""

  @property
  def power(self) -> float:
    """``detects``, or the tolerance for a deterministic claim that states none."""
    return float(self.tolerance) if self.detects is None else float(self.detects)

  def problem(self) -> str | None:
    """Why this evidence cannot give a verdict (non-finite numbers, an underpowered design)."""
    nums = {"measured": self.measured, "reference": self.reference, "tolerance": self.tolerance,
            "detects": self.power}
    bad = [k for k, x in nums.items() if not math.isfinite(float(x))]
    if bad:
      return f"non-finite evidence ({', '.join(f'{k}={float(nums[k])}' for k in bad)})"
    if self.effect is not None:
      if not math.isfinite(float(self.effect)):
        return f"non-finite effect size ({float(self.effect)})"
      if self.power >= float(self.effect):
        return (f"underpowered: detects {self.power:.3g} >= the effect {float(self.effect):.3g}"
                f" ({self.effect_what or 'the effect the claim is about'})")
    return None

  @property
  def holds(self) -> bool:
    m, r, t = float(self.measured), float(self.reference), float(self.tolerance)
    if not (math.isfinite(m) and math.isfinite(r) and math.isfinite(t)):
      raise ValueError("`Evidence.holds` needs finite evidence; see Evidence.problem().")
    if self.relation == "==":
      return abs(m - r) <= t
    if self.relation == "<=":
      return m <= r + t
    if self.relation == ">=":
      return m >= r - t
    raise ValueError(f"unknown relation {self.relation!r}")
