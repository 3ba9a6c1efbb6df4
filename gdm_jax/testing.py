r"""Statistical assertions for users' own tests (pytest-friendly), each an experiment design.

A Monte Carlo assertion is designed as in TFP's ``statistical_testing``: the false-failure rate
:math:`\alpha` (a correct model fails the test with probability at most :math:`\alpha`) gives the
critical value, and the *power* is stated next to it: the smallest discrepancy the test detects
with probability :math:`1 - \beta` (``false_pass_rate`` :math:`\beta`). For a mean of ``n``
samples with standard error :math:`SE = s/\sqrt n`,

.. math:: \text{fail iff } \hat\mu - b > c_\alpha SE \ (\le),\qquad
          \text{detects } \delta = (c_\alpha + c_\beta)\,SE,\qquad
          n_{\min}(\delta, \sigma) = \lceil ((z_\alpha + z_\beta)\sigma/\delta)^2 \rceil,

with :math:`c` Student's t quantile (``n - 1`` degrees of freedom) below 100 samples and the normal
one above: the central limit theorem is assumed (finite variance; heavy-tailed samples such as
importance weights with infinite variance break it). For samples with known bounds
``[low, high]`` the DKWM inequality gives a distribution-free test (:func:`assert_mean_in_interval_
dkwm`). Every assertion raises ``AssertionError`` with a readable message and returns the
:class:`gdm_jax.claims.core.Evidence` it judged, with its power in ``detects``; a design that
cannot detect what it is asked about (a quadrature mesh coarser than ``rtol``, a reversed
interval) is a ``ValueError``, never a pass. Each docstring says what its assertion cannot see.

Example (an IWAE bound in a user's test)::

    from gdm_jax import bounds, testing
    lk = jax.vmap(lambda k: bounds.iwae_estimate(k, log_joint, proposal, 64))(keys)
    testing.assert_mean_le(lk, exact_log_px, false_fail_rate=1e-6)
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from gdm_jax import stats
from gdm_jax.evidence import Evidence


def _samples(name, x) -> np.ndarray:
  """Real samples, flattened (dtype rules of :func:`gdm_jax.stats.real_array`), at least 2, all
  finite."""
  x = stats.real_array(name, x).reshape(-1)
  if x.size < 2:
    raise ValueError(f"`{name}` needs at least 2 samples for a standard error; got {x.size}.")
  if not np.all(np.isfinite(x)):
    raise ValueError(f"`{name}` has {int(np.sum(~np.isfinite(x)))} NaN or infinite values: no "
                     "verdict from such evidence (drop or fix them first).")
  return x


def _scalar(name, x) -> float:
  """One finite real number (a bound, a value, an interval's end)."""
  a = stats.real_array(name, x)
  if a.ndim != 0:
    raise ValueError(f"`{name}` must be one number; got shape {a.shape}.")
  if not math.isfinite(float(a)):
    raise ValueError(f"`{name}` must be finite; got {float(a)}.")
  return float(a)


def _rate(name, r):
  if not 0.0 < float(r) < 1.0:
    raise ValueError(f"`{name}` must lie in (0, 1); got {r}.")
  return float(r)


def _mean_test(samples, value, relation, false_fail_rate, false_pass_rate, what) -> Evidence:
  x = _samples("samples", samples)
  a, b = _rate("false_fail_rate", false_fail_rate), _rate("false_pass_rate", false_pass_rate)
  value = _scalar(what, value)
  m = stats.mean_and_se(x)
  two = relation == "=="
  c = stats.critical_value(a, m.n, two_sided=two)
  det = stats.detectable(m.se, a, m.n, two_sided=two, false_pass_rate=b)
  q = f"t({m.n - 1})" if m.n < stats.T_BELOW else "z"
  ev = Evidence(float(m.mean), float(value), c * float(m.se), relation,
                f"{q}={c:.2f} x SE ({'two' if two else 'one'}-sided, false-failure rate {a:.1e}; "
                "CLT)", f"mean of {m.n} samples {m.mean:.6g} +- {m.se:.3g} (SE)", detects=det)
  if not ev.holds:
    raise AssertionError(
        f"mean of {m.n} samples = {m.mean:.6g} (SE {m.se:.3g}) is not {relation} {value:.6g} "
        f"within {c:.2f} SE = {c * m.se:.3g} (false-failure rate {a:.1e}; the test detects "
        f"discrepancies of {det:.3g} with probability {1 - b:.2f}).")
  return ev


def assert_mean_le(samples, bound, *, false_fail_rate: float = 1e-6,
                   false_pass_rate: float = stats.FALSE_PASS_RATE) -> Evidence:
  r"""Asserts :math:`\mathbb{E}[X] \le` ``bound`` from samples: fails iff
  :math:`\hat\mu > b + c_\alpha SE` (one-sided). E.g. :math:`\hat{\mathcal{L}}_K \le \log p(x)`.

  What the mean assertions cannot see: a discrepancy below ``detects``
  (:math:`(c_\alpha + c_\beta) SE`); samples that are not independent (the SE is then
  understated); samples of infinite variance (heavy-tailed importance weights), where the CLT
  fails and the sample SE understates the spread: use a bounded statistic and
  :func:`assert_mean_in_interval_dkwm` there."""
  return _mean_test(samples, bound, "<=", false_fail_rate, false_pass_rate, "bound")


def assert_mean_ge(samples, bound, *, false_fail_rate: float = 1e-6,
                   false_pass_rate: float = stats.FALSE_PASS_RATE) -> Evidence:
  r"""Asserts :math:`\mathbb{E}[X] \ge` ``bound``: fails iff :math:`\hat\mu < b - c_\alpha SE`.
  Cannot see what :func:`assert_mean_le` cannot."""
  return _mean_test(samples, bound, ">=", false_fail_rate, false_pass_rate, "bound")


def assert_mean_close(samples, value, *, false_fail_rate: float = 1e-6,
                      false_pass_rate: float = stats.FALSE_PASS_RATE) -> Evidence:
  r"""Asserts :math:`\mathbb{E}[X] =` ``value``: fails iff :math:`|\hat\mu - v| > c_{\alpha/2} SE`.
  Cannot see what :func:`assert_mean_le` cannot."""
  return _mean_test(samples, value, "==", false_fail_rate, false_pass_rate, "value")


def min_samples(discrepancy: float, std: float, false_fail_rate: float = 1e-6,
                false_pass_rate: float = stats.FALSE_PASS_RATE, two_sided: bool = True) -> int:
  r"""Samples needed to detect ``discrepancy`` of the mean with probability
  :math:`1-\beta` at false-failure rate :math:`\alpha`: :math:`\lceil((z_\alpha + z_\beta)
  \sigma/\delta)^2\rceil` (normal quantiles; CLT)."""
  return stats.min_samples(discrepancy, std, false_fail_rate, false_pass_rate, two_sided)


def min_detectable(std: float, n: int, false_fail_rate: float = 1e-6,
                   false_pass_rate: float = stats.FALSE_PASS_RATE,
                   two_sided: bool = True) -> float:
  r"""The smallest discrepancy of the mean that ``n`` samples of standard deviation ``std``
  detect with probability :math:`1-\beta`: :math:`(c_\alpha + c_\beta)\,\sigma/\sqrt n`."""
  if isinstance(n, bool) or int(n) != n or n < 2:
    raise ValueError(f"`n` must be an integer >= 2; got {n!r}.")
  if not std > 0:
    raise ValueError(f"`std` must be > 0; got {std}.")
  return stats.detectable(std / math.sqrt(n), _rate("false_fail_rate", false_fail_rate), int(n),
                          two_sided, _rate("false_pass_rate", false_pass_rate))


def dkwm_epsilon(n: int, false_fail_rate: float) -> float:
  r"""DKWM: :math:`P(\sup_x |F_n(x) - F(x)| > \epsilon) \le 2 e^{-2n\epsilon^2}`, so
  :math:`\epsilon = \sqrt{\log(2/\alpha) / (2n)}` holds with probability :math:`1 - \alpha`."""
  if isinstance(n, bool) or int(n) != n or n < 1:
    raise ValueError(f"`n` must be an integer >= 1; got {n!r}.")
  return math.sqrt(math.log(2.0 / _rate("false_fail_rate", false_fail_rate)) / (2 * n))


def assert_mean_in_interval_dkwm(samples, low: float, high: float, expected_low: float,
                                 expected_high: float, *,
                                 false_fail_rate: float = 1e-6) -> Evidence:
  r"""Distribution-free: samples known to lie in ``[low, high]``; asserts that the true mean can
  lie in ``[expected_low, expected_high]``. By DKWM the true CDF is within :math:`\epsilon` of the
  empirical one, so the true mean lies in :math:`[\hat\mu - \epsilon(h - l), \hat\mu +
  \epsilon(h - l)]` with probability :math:`\ge 1 - \alpha` (a simple form of TFP's
  ``assert_true_mean_in_interval_by_dkwm``); the assertion fails when that interval misses the
  expected one. No CLT assumption. A reversed expected interval is refused (``ValueError``).

  What it cannot see: a true mean within the DKWM half-width :math:`\epsilon(h - l)` of the
  expected interval (``detects`` is twice that); samples that are not independent draws, or whose
  stated ``[low, high]`` is wider than their support (the test stays valid but loses power)."""
  x = _samples("samples", samples)
  low, high = _scalar("low", low), _scalar("high", high)
  expected_low = _scalar("expected_low", expected_low)
  expected_high = _scalar("expected_high", expected_high)
  if not low < high:
    raise ValueError(f"`low` must be < `high`; got {low}, {high}.")
  if not expected_low <= expected_high:  # reversed (or NaN): every mean would "fit" an empty gap
    raise ValueError(f"`expected_low` must be <= `expected_high`; got {expected_low}, "
                     f"{expected_high}: give the interval low end first.")
  if np.any(x < low) or np.any(x > high):
    raise ValueError(f"`samples` must lie in [low, high] = [{low}, {high}]; got values in "
                     f"[{x.min():.4g}, {x.max():.4g}].")
  eps = dkwm_epsilon(x.size, false_fail_rate)
  half = eps * (high - low)
  m = float(np.mean(x))
  gap = max(expected_low - (m + half), (m - half) - expected_high, 0.0)
  ev = Evidence(gap, 0.0, 0.0, "<=", f"DKWM, false-failure rate {false_fail_rate:.1e}",
                f"mean {m:.6g}, DKWM half-width {half:.3g} (n = {x.size})", detects=2 * half)
  if gap > 0:
    raise AssertionError(f"the mean of {x.size} samples, {m:.6g} +- {half:.3g} (DKWM at false-"
                         f"failure rate {false_fail_rate:.1e}), cannot lie in "
                         f"[{expected_low:.6g}, {expected_high:.6g}].")
  return ev


def assert_autoregressive(fn: Callable, input_shape: Sequence[int], *, order=None,
                          params: Any = None, complete: bool = False, num_draws: int = 3,
                          key=None) -> np.ndarray:
  r"""Asserts that ``fn`` (any callable ``x -> y``, ``fn(params, x)`` with ``params``, or a flax
  module) is autoregressive over the positions of ``input_shape`` in ``order`` (a permutation of
  the flat positions, first to last; raster order with channels last by default): no output
  position depends on itself or a later position (a *leak*); with ``complete=True``, every output
  sees every earlier position (no blind spot). ``y`` has shape ``input_shape + F``, of any dtype.
  Returns the ``[P, P]`` dependency matrix.

  Dependence is the union of two witnesses, each of which only finds dependence that exists:
  the Jacobian's non-zeros at ``num_draws`` random inputs (and, for an uninitialised flax module,
  a structural draw of positive weights; :func:`gdm_jax.dependencies.jacobian_dependencies`) and
  the outputs that change when one position alone is redrawn
  (:func:`gdm_jax.dependencies.perturbation_dependencies`). The second sees outputs whose
  derivative is zero by construction (integer or boolean dtypes, ``round``, ``stop_gradient``),
  which a Jacobian alone reads as "no dependence".

  What it cannot see: a dependence that neither a derivative at the drawn inputs nor a redraw of
  one position reveals (a branch taken only far from the standard-normal draws, e.g.
  ``where(x_j > 10, ...)``; a step that no redraw crosses; a change below the output's rounding;
  a leak through state outside ``fn``'s arguments). A leak found is certain; no leak found is
  evidence at these draws, so raise ``num_draws`` for piecewise-constant models.
  """
  import jax

  from gdm_jax import dependencies, validation as v
  if key is None:
    k_jac = k_pert = None  # each witness draws from its own default key
  else:
    v.check_key("key", key)
    k_jac, k_pert = jax.random.split(key)  # one key, two witnesses: never reuse it
  dep = dependencies.jacobian_dependencies(fn, input_shape, params=params, num_draws=num_draws,
                                           key=k_jac)
  dep = dep | dependencies.perturbation_dependencies(fn, input_shape, params=params,
                                                     num_draws=num_draws, key=k_pert)
  rep = dependencies.check_autoregressive(dep, order)
  problems = []
  if rep.leaks:
    problems.append(f"{len(rep.leaks)} leak(s) (output position depends on itself or a later "
                    f"one), first (out, in): {rep.leaks[:5]}")
  if complete and rep.missing:
    problems.append(f"{len(rep.missing)} missing predecessor(s) (blind spot), first (out, in): "
                    f"{rep.missing[:5]}")
  if problems:
    raise AssertionError("not autoregressive: " + "; ".join(problems) +
                         f" (positions are flat indices of shape {tuple(input_shape)}).")
  return dep


def assert_normalised(log_prob: Callable, *, bounds: Sequence[tuple[float, float]] | None = None,
                      proposal: tuple[Callable, Callable] | None = None, n: int = 100_000,
                      key=None, rtol: float = 1e-4, false_fail_rate: float = 1e-6,
                      grid: int = 801) -> Evidence:
  r"""Asserts :math:`\int e^{\log p(x)}\,dx = 1`.

  In 1-D or 2-D give ``bounds`` (the integration box, covering the mass): in 1-D adaptive
  quadrature (``scipy.integrate.quad``, ``log_prob: [1] -> []``, its own error estimate), in 2-D
  the trapezoid rule on a ``grid x grid`` mesh in one vectorised call (``log_prob: [n, 2] ->
  [n]``; spectrally accurate for smooth densities that vanish at the box's edges), with the
  change when every other node is dropped as its error estimate :math:`e` (``grid`` odd, so both
  meshes span the box). The assertion fails iff :math:`|\hat Z - 1| > \mathrm{rtol} + e`, so it
  detects a discrepancy :math:`|Z - 1| > \mathrm{rtol} + 2e` (``Evidence.detects``). A mesh whose
  error estimate exceeds ``rtol`` would hide the very discrepancy asked about, and is refused
  (``ValueError``: raise ``grid`` or fit ``bounds`` to the mass): with :math:`e \le \mathrm{rtol}`
  the test detects :math:`3\,\mathrm{rtol}` at worst.

  In higher dimension give ``proposal = (sample(key, n) -> [n, d], log_q(x) -> [n])``: importance
  sampling, :math:`\hat Z = \frac1n \sum_i e^{\log p(x_i) - \log q(x_i)}`, judged with
  :func:`assert_mean_close` at ``false_fail_rate`` (its ``detects`` is the stated power;
  requires :math:`\mathrm{Var}_q[p/q] < \infty`: q must have heavier tails than p), with
  ``log_prob: [n, d] -> [n]``. The shapes the callables return are checked.

  What it cannot see: mass outside ``bounds`` (the box's integral is judged, so an excess inside
  can be offset by mass left outside); features narrower than the mesh spacing, which neither
  mesh samples and so the error estimate misses too; with a proposal, regions ``q`` almost never
  visits and weights of infinite variance (the standard error is then underestimated).
  """
  if not callable(log_prob):
    raise ValueError(f"`log_prob` must be a function (points -> log-densities); got "
                     f"{type(log_prob).__name__}.")
  if (bounds is None) == (proposal is None):
    raise ValueError("give exactly one of `bounds` (1-D or 2-D quadrature) and `proposal` "
                     "(importance sampling).")
  if not 0 < float(rtol) < 1:
    raise ValueError(f"`rtol` must lie in (0, 1); got {rtol}.")
  if bounds is not None:
    from scipy import integrate
    try:
      bounds = [tuple(map(float, b)) for b in bounds]
    except (TypeError, ValueError):
      raise ValueError(f"`bounds` must be a list of (low, high) pairs; got {bounds!r}.") from None
    if not all(len(b) == 2 and math.isfinite(b[0]) and math.isfinite(b[1]) and b[0] < b[1]
               for b in bounds):
      raise ValueError(f"`bounds` must be finite (low, high) pairs with low < high; got "
                       f"{bounds}.")
    if len(bounds) == 1:
      f = lambda t: math.exp(float(log_prob(np.array([t]))))
      val, err = integrate.quad(f, *bounds[0], epsabs=1e-12, limit=200)
      how = "scipy.integrate.quad's error estimate"
    elif len(bounds) == 2:
      if isinstance(grid, bool) or int(grid) != grid or grid < 5 or grid % 2 == 0:
        raise ValueError(f"`grid` must be an odd int >= 5 (every other node then spans the same "
                         f"box, for the error estimate); got {grid!r}.")
      grid = int(grid)
      (a0, b0), (a1, b1) = bounds
      t0, t1 = np.linspace(a0, b0, grid), np.linspace(a1, b1, grid)
      xx, yy = np.meshgrid(t0, t1, indexing="ij")
      lp = np.asarray(log_prob(np.stack([xx.ravel(), yy.ravel()], -1)), np.float64)
      if lp.shape != (grid * grid,):
        raise ValueError(f"`log_prob` must map points [n, 2] to log-densities [n]; for n = "
                         f"{grid * grid} it returns shape {lp.shape}.")
      dens = np.exp(lp).reshape(grid, grid)
      trap = lambda d, u, v: float(np.trapezoid(np.trapezoid(d, v, axis=1), u))
      val = trap(dens, t0, t1)
      err = abs(val - trap(dens[::2, ::2], t0[::2], t1[::2]))
      how = f"trapezoid {grid}x{grid} vs every other node"
    else:
      raise ValueError(f"`bounds` must give 1 or 2 intervals; got {len(bounds)}: use "
                       "`proposal` (importance sampling) in higher dimension.")
    detects = rtol + 2 * err
    if not err <= rtol:  # also NaN
      raise ValueError(
          f"the quadrature's error estimate {err:.3g} ({how}) exceeds `rtol` = {rtol:g}: the "
          f"test could only detect |Z - 1| > {detects:.3g}. Raise `grid` (2-D) or fit `bounds` "
          "to the mass.")
    tol = rtol + err
    ev = Evidence(val, 1.0, tol, "==", f"quadrature error estimate {err:.1e} ({how}) + rtol "
                  f"{rtol:g}", f"integral over {bounds}", detects=detects)
    if not ev.holds:
      raise AssertionError(f"the density integrates to {val:.8g} over {bounds}, not 1 (within "
                           f"{tol:.2g}; the test detects |Z - 1| > {detects:.2g}).")
    return ev
  import jax

  from gdm_jax import validation as v
  if not (isinstance(proposal, (tuple, list)) and len(proposal) == 2
          and all(callable(f) for f in proposal)):
    raise ValueError("`proposal` must be a pair of functions (sample(key, n) -> [n, d], "
                     f"log_q(x) -> [n]); got {type(proposal).__name__} {proposal!r:.60}.")
  sample, log_q = proposal
  if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
    raise ValueError(f"`n` must be an int >= 2 (samples for a standard error); got {n!r}.")
  key = jax.random.key(0) if key is None else key
  v.check_key("key", key)
  x = sample(key, int(n))
  lp, lq = (np.asarray(f(x), np.float64) for f in (log_prob, log_q))
  for arg, what, a in (("log_prob", "log_prob", lp), ("proposal", "its log_q", lq)):
    if a.shape != (int(n),):
      raise ValueError(f"`{arg}`: {what} must map samples [n, d] to log-densities [n]; for "
                       f"n = {int(n)} it returns shape {a.shape}.")
  return assert_mean_close(np.exp(lp - lq), 1.0, false_fail_rate=false_fail_rate)
