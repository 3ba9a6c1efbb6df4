r"""Generic sweeps over K for any estimator: bias, variance and gradient signal-to-noise ratio
versus K with their standard errors, and log-log slopes with confidence intervals. Each takes a
user's ``estimator(key, K)``; replicates go through one ``jit(vmap(...))`` per K, their keys laid
over every available device with ``jax.sharding`` (a 1-D mesh); one device runs it unchanged. An
experiment's own helpers live in its module (``gdm_jax.experiments``).
"""
from __future__ import annotations

import math
import time
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from gdm_jax import validation as v


def replicate_keys(key, n: int):
  """``n >= 1`` keys laid out over a 1-D device mesh (axis ``"r"``) when ``n`` divides evenly."""
  n = v.check_int("n", n)
  keys = jax.random.split(key, n)
  devices = jax.devices()
  if len(devices) > 1 and n % len(devices) == 0:
    mesh = Mesh(np.array(devices), ("r",))
    keys = jax.device_put(keys, NamedSharding(mesh, P("r")))
  return keys


def variance_se(x, axis: int = 0) -> np.ndarray:
  r"""Standard error of the sample variance of ``x`` along ``axis``, from its fourth moment (no
  normality assumed):

  .. math:: \mathrm{SE}(s^2)^2 \approx \frac{1}{n}\Big(m_4 - \frac{n-3}{n-1} s^4\Big)

  with :math:`m_4` the fourth central moment and :math:`s^2` the unbiased variance.
  """
  x = np.asarray(x, np.float64)
  n = x.shape[axis]
  d = x - x.mean(axis, keepdims=True)
  m4 = (d ** 4).mean(axis)
  s2 = x.var(axis, ddof=1)
  return np.sqrt(np.maximum(m4 - (n - 3) / (n - 1) * s2 ** 2, 0.0) / n)


def loglog_slope(x, y) -> float:
  """Least-squares slope of log y on log x (over the entries with y > 0).

  ``x`` and ``y`` are 1-D of one length without NaN; the kept points need ``x > 0`` and at least
  two distinct ``x`` values (else no line is defined)."""
  v.check_ndim("x", x, (1,))
  v.check_same_shape("y", y, "x", x)
  v.check_not_nan("x", x)
  v.check_not_nan("y", y)
  x, y = np.asarray(x, float), np.asarray(y, float)
  keep = y > 0
  if np.any(x[keep] <= 0) or not np.all(np.isfinite(x[keep])):
    raise ValueError("`x` must be finite and > 0 where y > 0 (a log-log fit); got "
                     f"{x[keep][~((x[keep] > 0) & np.isfinite(x[keep]))][:3]}.")
  if np.any(np.isinf(y[keep])):
    raise ValueError("`y` has +inf entries; a log-log fit needs finite values.")
  if np.unique(x[keep]).size < 2:
    raise ValueError(f"`y` has {int(keep.sum())} positive point(s) at {np.unique(x[keep]).size} "
                     "distinct x; a slope needs at least 2 points with y > 0 at distinct x.")
  return float(np.polyfit(np.log(x[keep]), np.log(y[keep]), 1)[0])


# ---------------------------------------------------------------------------------------------
# Generic sweeps: any estimator(key, K) -> scalar, any gradient estimator(key, K) -> pytree.

class Slope(NamedTuple):
  """A fitted log-log slope with its confidence interval over the K range it was fitted on."""
  slope: float
  lo: float
  hi: float
  k_min: int
  k_max: int
  points: int   # K values used (those where the quantity is resolved)
  se: float = math.nan         # the slope's standard error
  inflated: bool = False       # True when the scatter exceeded the errors (t interval, inflated SE)

  def __str__(self):
    return (f"{self.slope:.3f} [{self.lo:.3f}, {self.hi:.3f}] over K = {self.k_min}..{self.k_max}"
            f" ({self.points} points)")


def fit_loglog(ks, y, se, level: float = 0.95, resolved_z: float = 3.0,
               inflate: bool = True) -> Slope | None:
  r"""Weighted least squares of :math:`\log y` on :math:`\log K` over the K where ``y`` is
  resolved (:math:`y > z\,SE`), with weights :math:`(y/SE)^2` (the delta method:
  :math:`SE(\log y) \approx SE/y`). The slope's standard error is
  :math:`(\sum_i w_i (u_i - \bar u_w)^2)^{-1/2}`, inflated by :math:`\sqrt{\chi^2/(m-2)}` when the
  points scatter more than their errors (the model misfits, e.g. K outside the asymptotic regime).
  The interval is normal when the errors explain the scatter (known variances), Student's t with
  :math:`m - 2` degrees of freedom when the SE was inflated. ``inflate=False`` keeps the errors'
  SE and the normal interval whatever the scatter (for a fit on few points, where an inflated t
  interval with :math:`m - 2 = 1` degree of freedom is uninformative; the caller then answers for
  the model's misfit, e.g. by a stated bound on the non-asymptotic bend). None when fewer than 3
  points are resolved."""
  ks, y, se = (np.asarray(a, np.float64) for a in (ks, y, se))
  keep = (y > resolved_z * se) & (se > 0)
  if keep.sum() < 3:
    return None
  u, ly, w = np.log(ks[keep]), np.log(y[keep]), (y[keep] / se[keep]) ** 2
  ub = np.sum(w * u) / w.sum()
  sxx = np.sum(w * (u - ub) ** 2)
  slope = float(np.sum(w * (u - ub) * ly) / sxx)
  icpt = np.sum(w * ly) / w.sum() - slope * ub
  m = int(keep.sum())
  chi2 = float(np.sum(w * (ly - icpt - slope * u) ** 2))
  inflated = bool(inflate) and chi2 > m - 2
  s = math.sqrt(1.0 / sxx) * (math.sqrt(chi2 / (m - 2)) if inflated else 1.0)
  from gdm_jax import stats
  t = stats.t_for_rate(1 - level, m - 2) if inflated else stats.z_for_rate(1 - level)
  return Slope(slope, slope - t * s, slope + t * s, int(ks[keep].min()), int(ks[keep].max()), m,
               s, inflated)


class EstimatorSweep(NamedTuple):
  ks: np.ndarray        # [nK]
  mean: np.ndarray      # [nK] mean of the estimates over replicates
  se: np.ndarray        # [nK] its standard error
  var: np.ndarray       # [nK] variance of one estimate
  var_se: np.ndarray    # [nK] standard error of that variance
  bias: np.ndarray      # [nK] reference - mean (NaN without a reference)
  bias_se: np.ndarray   # [nK]
  var_slope: Slope | None    # d log var / d log K where the variance is resolved
  bias_slope: Slope | None   # d log bias / d log K where the bias is resolved (> 3 SE)
  replicates: int
  seconds: float


def estimator_sweep(key, estimator: Callable, ks: Sequence[int], replicates: int, *,
                    reference: float | None = None) -> EstimatorSweep:
  r"""Bias, variance and their standard errors versus K for any estimator.

  ``estimator(key, K) -> scalar`` must be jittable with ``K`` static (e.g. a closure over
  :func:`gdm_jax.bounds.iwae_estimate` with the user's model). For each K, ``replicates``
  independent keys (laid over every device by :func:`replicate_keys`) go through one
  ``jit(vmap(...))``. With the true value ``reference`` (e.g. an exact log p(x)), the bias
  :math:`b_K = \mathrm{ref} - \bar L_K` is reported with its SE. Slopes of log variance and log
  bias against log K come with confidence intervals (:func:`fit_loglog`) over the K where each is
  resolved: an IWAE bound in its asymptotic regime has slopes -1 and -1.
  """
  if not callable(estimator):
    raise ValueError(f"`estimator` must be a callable (key, K) -> scalar; got "
                     f"{type(estimator).__name__}.")
  if isinstance(ks, (str, bytes)) or np.ndim(ks) != 1 or len(ks) == 0:
    raise ValueError(f"`ks` must be a non-empty sequence of ints >= 1; got {ks!r}.")
  ks = [v.check_int("ks", k) for k in ks]
  replicates = v.check_int("replicates", replicates, minimum=4)
  if reference is not None and not math.isfinite(float(reference)):
    raise ValueError(f"`reference` must be finite; got {reference}.")
  t0 = time.perf_counter()
  rows = []
  for i, k in enumerate(ks):
    keys = replicate_keys(jax.random.fold_in(key, i), replicates)
    out = jax.jit(jax.vmap(lambda kk, k=k: estimator(kk, k)))(keys)
    if jnp.shape(out) != (replicates,):
      raise ValueError(f"`estimator` must return a scalar per key; got shape "
                       f"{tuple(jnp.shape(out)[1:])} at K = {k}.")
    x = np.asarray(out, np.float64)
    if not np.all(np.isfinite(x)):
      raise ValueError(f"`estimator` returned {int(np.sum(~np.isfinite(x)))} non-finite values "
                       f"at K = {k}: no statistics from NaN or inf evidence.")
    s2, s2_se = float(np.var(x, ddof=1)), float(variance_se(x))
    rows.append((x.mean(), x.std(ddof=1) / math.sqrt(replicates), s2, s2_se))
  mean, se, var, var_se = (np.array(c) for c in zip(*rows))
  ks_arr = np.asarray(ks)
  if reference is None:
    bias = bias_se = np.full(len(ks), np.nan)
    bias_slope = None
  else:
    bias, bias_se = float(reference) - mean, se
    bias_slope = fit_loglog(ks_arr, bias, bias_se)
  return EstimatorSweep(ks_arr, mean, se, var, var_se, bias, bias_se,
                        fit_loglog(ks_arr, var, var_se), bias_slope, replicates,
                        time.perf_counter() - t0)


class GradSnrSweep(NamedTuple):
  """Gradient SNR per leaf of the gradient pytree (names from ``jax.tree_util.keystr``)."""
  ks: np.ndarray       # [nK]
  snr: dict            # leaf -> [nK] debiased RMS SNR over the leaf's non-constant entries
  snr_se: dict         # leaf -> [nK] its standard error (jackknife; inf where snr is 0)
  slopes: dict         # leaf -> Slope | None (d log SNR / d log K over the resolved K)
  snr2: dict           # leaf -> [nK] the debiased SNR^2 before the clip at 0 (may be < 0)
  snr2_se: dict        # leaf -> [nK] its standard error (jackknife)
  constant: dict       # leaf -> [nK] int: entries with zero variance over the replicates
  entries: dict        # leaf -> int: entries of the leaf
  sparse: dict         # leaf -> [nK] int: entries that vary within one jackknife block only
                       #   (zero variance once it is deleted: no SE), left out as well


def _snr2_jackknife(g, blocks: int) -> tuple[float, float]:
  r"""The debiased mean of :math:`\bar g_p^2 / s_p^2 - 1/R` over the columns of ``g [R, P]`` and
  its delete-a-block jackknife standard error; ``g`` is checked by the callers."""

  def snr2(a):
    s2 = a.var(0, ddof=1)
    if np.any(s2 == 0):
      raise ValueError("`g` has a column that is constant on a jackknife subset of its replicates "
                       "(0/0 SNR): use more replicates or fewer `blocks`.")
    return float(np.mean(a.mean(0) ** 2 / s2 - 1.0 / a.shape[0]))

  a2 = snr2(g)
  loo = np.array([snr2(np.delete(g, b, 0)) for b in np.array_split(np.arange(g.shape[0]), blocks)])
  return a2, math.sqrt((blocks - 1) / blocks * np.sum((loo - loo.mean()) ** 2))


def snr_rms(g, blocks: int = 20) -> tuple[float, float]:
  r"""Root mean square over parameters of the signal-to-noise ratio
  :math:`|\mathbb{E} g_p| / \mathrm{sd}(g_p)` from ``R`` replicates, without the noise floor of
  :math:`|\bar g| / s` (which is :math:`\sqrt{2/(\pi R)}` at a true SNR of 0):

  .. math:: \widehat{\mathrm{SNR}}^2 = \frac1P \sum_{p=1}^P \Big(\frac{\bar g_p^2}{s_p^2}
     - \frac1R\Big), \qquad \mathbb{E}[\bar g_p^2] = \mu_p^2 + \sigma_p^2 / R,

  returned as :math:`\sqrt{\max(\widehat{\mathrm{SNR}}^2, 0)}` with its standard error by the
  delete-a-block jackknife over ``blocks`` blocks of replicates (valid for correlated parameters)
  and the delta method :math:`SE(\sqrt{A}) = SE(A) / (2\sqrt{A})`.

  Args:
    g: ``[R]`` or ``[R, P]`` gradient replicates (R >= 2 blocks, at least 2 per block), no
      column constant (its SNR is 0/0 or infinite: :func:`grad_snr_sweep` counts such entries
      and leaves them out).
    blocks: jackknife blocks, an int >= 2.
  Returns:
    ``(snr, se)`` floats (``se`` is inf when the estimate is 0).
  """
  g = np.asarray(g, np.float64)
  if g.ndim == 1:
    g = g[:, None]
  if g.ndim != 2:
    raise ValueError(f"`g` must be [R] or [R, P] replicates; got shape {g.shape}.")
  blocks = v.check_int("blocks", blocks, minimum=2)
  if g.shape[0] < 2 * blocks:
    raise ValueError(f"`g` has {g.shape[0]} replicates; need at least 2 per block "
                     f"(2 x blocks = {2 * blocks}).")
  if not np.all(np.isfinite(g)):
    raise ValueError("`g` has non-finite entries: no SNR from NaN or inf gradients.")
  const = int(np.sum(np.all(g == g[:1], axis=0)))
  if const:
    raise ValueError(f"`g` has {const} constant column(s) (zero variance: SNR 0/0 or infinite); "
                     "leave them out and report them (grad_snr_sweep counts them).")
  a2, se2 = _snr2_jackknife(g, blocks)
  snr = math.sqrt(max(a2, 0.0))
  return snr, (se2 / (2 * snr) if snr > 0 else math.inf)


def grad_snr_sweep(key, grad_estimator: Callable, ks: Sequence[int], replicates: int,
                   blocks: int = 20) -> GradSnrSweep:
  r"""Signal-to-noise ratio :math:`|\mathbb{E} g| / \mathrm{sd}(g)` of any gradient estimator
  ``grad_estimator(key, K) -> pytree`` versus K (Rainforth et al. 2018), per leaf of the pytree,
  with the slope of log SNR on log K and its interval (:func:`fit_loglog`).

  Each leaf's SNR is the debiased root mean square over its entries, :func:`snr_rms`:

  .. math:: \widehat{\mathrm{SNR}}^2 = \frac1P \sum_{p=1}^P \Big(\frac{\bar g_p^2}{s_p^2}
     - \frac1R\Big),

  with its delete-a-block jackknife SE (``blocks`` blocks, fewer when ``replicates`` < 2 x
  ``blocks``). The mean of :math:`|\bar g_p| / s_p` would sit at :math:`\sqrt{2/(\pi R)}` for a
  true SNR of 0 and flatten the slopes; this estimate is within its SE of 0 there. Entries with
  zero variance over the replicates (SNR 0/0, or infinite for a constant nonzero gradient) are
  left out of the estimate and counted in ``constant`` (those that vary within one jackknife
  block only, so that deleting it leaves zero variance, are left out and counted in ``sparse``);
  a leaf with every entry constant has SNR inf (some entry nonzero: a deterministic gradient) or
  0 (identically 0), with SE 0; one with no entry left but some sparse has SNR 0 with SE inf
  (unresolved). Neither enters a slope. ``snr2`` and ``snr2_se`` give the estimate before the clip at 0, whose SE is
  finite at a true SNR of 0.

  Args:
    key: a PRNG key.
    grad_estimator: ``(key, K) -> pytree`` of gradients, jittable with ``K`` static.
    ks: the K values, ints >= 1.
    replicates: gradient draws per K (an int >= 4).
    blocks: jackknife blocks (an int >= 2).
  Returns:
    :class:`GradSnrSweep`.
  """
  if not callable(grad_estimator):
    raise ValueError("`grad_estimator` must be a callable (key, K) -> pytree of gradients.")
  if isinstance(ks, (str, bytes)) or np.ndim(ks) != 1 or len(ks) == 0:
    raise ValueError(f"`ks` must be a non-empty sequence of ints >= 1; got {ks!r}.")
  ks = [v.check_int("ks", k) for k in ks]
  replicates = v.check_int("replicates", replicates, minimum=4)
  blocks = min(v.check_int("blocks", blocks, minimum=2), replicates // 2)
  cols = ("snr", "snr_se", "snr2", "snr2_se", "constant", "sparse")
  split = np.array_split(np.arange(replicates), blocks)
  out = {c: {} for c in cols}
  entries = {}
  for i, k in enumerate(ks):
    keys = replicate_keys(jax.random.fold_in(key, i), replicates)
    g = jax.jit(jax.vmap(lambda kk, k=k: grad_estimator(kk, k)))(keys)
    for path, leaf in jax.tree_util.tree_leaves_with_path(g):
      name = jax.tree_util.keystr(path)
      a = np.asarray(leaf, np.float64).reshape(replicates, -1)
      if not np.all(np.isfinite(a)):
        raise ValueError(f"`grad_estimator` returned {int(np.sum(~np.isfinite(a)))} non-finite "
                         f"values in leaf {name} at K = {k}: no SNR from NaN or inf gradients.")
      const = np.all(a == a[:1], axis=0)
      flat = [np.all(r == r[:1], axis=0) for r in (np.delete(a, b, 0) for b in split)]
      sparse = np.any(flat, axis=0) & ~const
      live = a[:, ~(const | sparse)]
      if live.shape[1]:
        a2, a2_se = _snr2_jackknife(live, blocks)
        r = math.sqrt(max(a2, 0.0))
        row = (r, a2_se / (2 * r) if r > 0 else math.inf, a2, a2_se)
      elif sparse.any():  # entries vary, in one block only: unresolved
        row = (0.0, math.inf, 0.0, math.inf)
      else:  # every entry constant: a deterministic gradient (inf) or identically 0
        r = math.inf if np.any(a[0] != 0) else 0.0
        row = (r, 0.0, r * r, 0.0)
      for c, val in zip(cols, row + (int(const.sum()), int(sparse.sum()))):
        out[c].setdefault(name, []).append(val)
      entries[name] = a.shape[1]
  ks_arr = np.asarray(ks)
  out = {c: {n: np.array(s) for n, s in d.items()} for c, d in out.items()}
  finite = lambda n: (np.isfinite(out["snr"][n]) & np.isfinite(out["snr_se"][n])
                     & (out["snr_se"][n] > 0))
  slopes = {n: fit_loglog(ks_arr[finite(n)], out["snr"][n][finite(n)],
                          out["snr_se"][n][finite(n)], resolved_z=0) for n in out["snr"]}
  return GradSnrSweep(ks_arr, out["snr"], out["snr_se"], slopes, out["snr2"], out["snr2_se"],
                      out["constant"], entries, out["sparse"])
