r"""The authoring API: the designs a claim's check is built from, for the shipped claims and for
a user's own (``gdm-jax verify --claims my_claims.py``).

Each helper returns :class:`~gdm_jax.evidence.Evidence` (or an oracle's value with its error) whose
tolerance states its origin and whose power is stated, so a check reads as its design:

- deterministic mathematics, :func:`dtype_close`: the largest relative error
  :math:`\max_i |m_i - r_i| / \max(1, |r_i|)` against the dtype-keyed tolerance
  (``float32: 2e-5``, ``float64: 1e-10``), plus any stated error of the oracle itself;
- a quadrature oracle, :func:`quadrature`: the trapezoid rule in float64 on ``nodes`` points with
  its error estimated by halving, :math:`|I_h - I_{2h}|`;
- a Monte Carlo mean, :func:`mean_test`: accept when :math:`|\hat\mu - r| \le c_\alpha SE`
  (``==``) or the one-sided inequality, :math:`c_\alpha` Student's t below 100 samples and z
  above, at the claim's false-failure rate (the run's family rate split by Bonferroni); power
  :math:`(c_\alpha + c_\beta) SE` at false-pass rate :math:`\beta = 0.01`;
- sizing a Monte Carlo design, :func:`samples_for`: :math:`n = \lceil ((z_\alpha + z_\beta)
  \sigma / \delta)^2 \rceil` for the discrepancy :math:`\delta = effect / margin`.

A claim file is a plain module with ``CLAIMS = [Claim(...), ...]`` (README, "Your own claims").
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np

from gdm_jax import stats
from gdm_jax.claims.core import Config
from gdm_jax.evidence import Evidence, max_rel_error

_RELATIONS = ("==", "<=", ">=")


def dtype_close(measured, reference, cfg: Config, *, effect: float | None = None,
                effect_what: str = "", oracle_error: float = 0.0, oracle_origin: str = "",
                detail: str = "") -> Evidence:
  r"""Deterministic evidence: ``measured`` equals ``reference`` to the run's dtype tolerance.

  .. math:: e = \max_i \frac{|m_i - r_i|}{\max(1, |r_i|)} \le \text{rtol}_{dtype} + \epsilon_{oracle}

  Args:
    measured: what the code under test computed (any shape).
    reference: the independent oracle's value (the same shape, or broadcastable).
    cfg: the run's :class:`Config` (its dtype picks ``rtol``).
    effect: the size of what the claim is about, *in units of the relative error* (the term a
      mistake would drop, divided by ``max(1, |reference|)``); a verdict needs the tolerance below
      it.
    effect_what: what ``effect`` is, in words.
    oracle_error: the oracle's own stated error, relative (e.g. a quadrature's
      ``error / max(1, |value|)``), added to the tolerance.
    oracle_origin: where ``oracle_error`` comes from (e.g. :attr:`Quadrature.origin`).
    detail: free text shown with the verdict.

  Returns:
    ``Evidence(e, 0, rtol + oracle_error, "==", origin)``.
  """
  if not (oracle_error >= 0 and math.isfinite(oracle_error)):
    raise ValueError(f"`oracle_error` must be a finite error >= 0; got {oracle_error}.")
  err = max_rel_error(measured, reference)
  origin = cfg.dtype_origin()
  if oracle_error:
    origin += f" + the oracle's error {oracle_error:.1e}" + (f" ({oracle_origin})"
                                                             if oracle_origin else "")
  return Evidence(err, 0.0, cfg.rtol + oracle_error, "==", origin,
                  detail or f"max relative error {err:.3g}", effect=effect,
                  effect_what=effect_what)


class Quadrature(NamedTuple):
  """A quadrature oracle's value with its estimated error."""
  value: float   # the trapezoid rule on ``nodes`` points
  error: float   # |I_h - I_2h|: the same rule on every other node, a stated error estimate
  nodes: int
  origin: str    # e.g. "trapezoid on [-12, 12], 4001 nodes, |I_h - I_2h| = 3e-13"


def quadrature(f: Callable[[np.ndarray], np.ndarray], lo: float, hi: float,
               nodes: int = 4001) -> Quadrature:
  r"""The integral :math:`\int_{lo}^{hi} f(x)\,dx` by the trapezoid rule in float64, with its error
  estimated by halving the mesh: :math:`|I_h - I_{2h}|` (for a smooth integrand it is about three
  times the error of :math:`I_h`). Truncating an infinite domain to ``[lo, hi]`` is the caller's
  design: choose the interval so the tails are below the tolerance.

  Args:
    f: a vectorised float64 function of a 1-D numpy array (write the oracle from the definition;
      never pass the function under test).
    lo, hi: finite limits, ``lo < hi``.
    nodes: an odd number of nodes >= 5 (odd, so that every other node is the coarser mesh).

  Returns:
    :class:`Quadrature` ``(value, error, nodes, origin)``.
  """
  if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
    raise ValueError(f"`lo` and `hi` must be finite with lo < hi; got {lo}, {hi}.")
  if isinstance(nodes, bool) or int(nodes) != nodes or nodes < 5 or nodes % 2 == 0:
    raise ValueError(f"`nodes` must be an odd integer >= 5 (every other node is the coarse mesh); "
                     f"got {nodes!r}.")
  x = np.linspace(lo, hi, int(nodes))
  y = np.asarray(f(x), np.float64)
  if y.shape != x.shape:
    raise ValueError(f"`f` must map the nodes (shape {x.shape}) to values of the same shape; got "
                     f"{y.shape}.")
  fine = float(np.trapezoid(y, x))
  coarse = float(np.trapezoid(y[::2], x[::2]))
  err = abs(fine - coarse)
  return Quadrature(fine, err, int(nodes),
                    f"trapezoid on [{lo:g}, {hi:g}], {int(nodes)} nodes, |I_h - I_2h| = {err:.1e}")


def mean_test(samples, reference: float, cfg: Config, *, relation: str = "==",
              effect: float | None = None, effect_what: str = "", split: int = 1,
              detail: str = "") -> Evidence:
  r"""Monte Carlo evidence: the mean of ``samples`` against ``reference``, at the claim's rate.

  .. math:: \text{``==''}: |\hat\mu - r| \le c_{\alpha/2} SE,\quad
            \text{``<=''}: \hat\mu \le r + c_\alpha SE,\quad
            \text{detects } (c_\alpha + c_\beta) SE,

  with :math:`SE = s/\sqrt n`, :math:`\alpha` = ``cfg.rate / split`` and :math:`c` Student's t
  (``n - 1`` dof) below 100 samples, the normal z above (the CLT is assumed: finite variance).

  Args:
    samples: independent draws of the statistic, any shape (flattened), at least 2, all finite.
    reference: the oracle's value of the mean (closed form, quadrature).
    cfg: the run's :class:`Config`.
    relation: ``"=="`` (two-sided), ``"<="`` or ``">="`` (one-sided).
    effect: the size of what the claim is about, in the units of the mean (required for the
      claim's verdict to be believed: ``detects`` must be below it).
    effect_what: what ``effect`` is, in words.
    split: sub-tests of one claim sharing its rate (Bonferroni within the claim).
    detail: free text; by default the mean and its SE.

  Returns:
    ``Evidence(mean, reference, c SE, relation, origin, detects=(c_alpha + c_beta) SE)``.
  """
  if relation not in _RELATIONS:
    raise ValueError(f"`relation` must be one of {_RELATIONS}; got {relation!r}.")
  x = np.asarray(samples, np.float64).reshape(-1)
  if x.size < 2:
    raise ValueError(f"`samples` needs at least 2 draws for a standard error; got {x.size}.")
  if not np.all(np.isfinite(x)):
    raise ValueError(f"`samples` has {int(np.sum(~np.isfinite(x)))} NaN or infinite values: no "
                     "verdict from such evidence.")
  m = stats.mean_and_se(x)
  two = relation == "=="
  c = cfg.crit(m.n, two, split)
  return Evidence(float(m.mean), float(reference), c * float(m.se), relation,
                  cfg.z_origin(c, two, split, m.n),
                  detail or f"mean of {m.n} draws {float(m.mean):.6g} +- {float(m.se):.3g} (SE)",
                  detects=cfg.detects(float(m.se), m.n, two, split), effect=effect,
                  effect_what=effect_what)


def samples_for(effect: float, std: float, cfg: Config, *, two_sided: bool = True,
                split: int = 1, margin: float = 2.0) -> int:
  r"""Draws a Monte Carlo mean needs to detect ``effect / margin`` with probability 0.99 at the
  claim's rate: :math:`\lceil ((z_\alpha + z_{0.01})\,\sigma\,margin / effect)^2 \rceil`.

  Args:
    effect: the size of what the claim is about (> 0), in the units of the mean.
    std: the statistic's standard deviation (> 0), from an oracle or a bound.
    cfg: the run's :class:`Config` (its rate).
    two_sided: ``True`` for ``==``, ``False`` for ``<=`` / ``>=``.
    split: sub-tests of one claim sharing its rate.
    margin: ``detects`` will be about ``effect / margin`` (>= 1).
  """
  if not margin >= 1:
    raise ValueError(f"`margin` must be >= 1 (detects = effect / margin); got {margin}.")
  return stats.min_samples(effect / margin, std, cfg.rate / split, two_sided=two_sided)
