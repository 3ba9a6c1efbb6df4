r"""Experiment computations (Q2-Q7): pure functions returning data; the scripts in
``experiments/`` only call these and plot. Replicates and seeds go through ``vmap``; replicate
sweeps shard over every available device with ``jax.sharding`` (a 1-D mesh) and run unchanged on
one device.
"""
from __future__ import annotations

import functools
import math
import time
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from gdm_jax import amortized as am, bounds, divergences as dv, kl_bounds as kb
from gdm_jax import masked_conv as mc, models
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


# ---------------------------------------------------------------------------------------------
# Q3: L_K versus K.

class LkSweep(NamedTuple):
  ks: np.ndarray        # [nK]
  mean: np.ndarray      # [nK] mean of L_K over replicates
  se: np.ndarray        # [nK]
  var: np.ndarray       # [nK] variance of the one-replicate estimator
  bias: np.ndarray      # [nK] log p(x) - mean
  log_px: float
  seconds: float
  var_slope: "Slope | None" = None    # with its interval (estimator_sweep)
  bias_slope: "Slope | None" = None
  var_se: np.ndarray | None = None  # [nK] standard error of ``var`` (from the 4th moment)


def lk_sweep(key, model, x, q_mean, q_std, ks: Sequence[int], replicates: int,
             chunk_size: int | None = None) -> LkSweep:
  """Replicates of L_K for each K (vmapped, sharded over devices), with exact log p(x): a use of
  :func:`estimator_sweep` with the LinearGaussian's estimator and its exact evidence.

  ``x [D]``, ``q_mean, q_std [d]``, ``ks`` ints >= 1, ``replicates >= 2`` (the standard error
  needs two). Validated here, before the jitted and vmapped estimator, where the value checks
  cannot run: a ``q_std <= 0`` would otherwise give NaN means."""
  bounds.check_linear_gaussian_args(model, x, q_mean, q_std, batched=False)
  if isinstance(ks, (str, bytes)) or np.ndim(ks) != 1 or len(ks) == 0:
    raise ValueError(f"`ks` must be a non-empty sequence of ints >= 1; got {ks!r}.")
  ks = [v.check_int("ks", k) for k in ks]
  replicates = v.check_int("replicates", replicates, minimum=2)
  if chunk_size is not None:
    chunk_size = v.check_int("chunk_size", chunk_size)
  log_px = float(model.log_marginal(x))
  prop = bounds.diag_gaussian_proposal(q_mean, q_std)
  est = lambda kk, k: bounds.iwae_estimate(kk, lambda z: model.log_joint(x, z), prop, k,
                                           chunk_size)
  s = estimator_sweep(key, est, ks, replicates, reference=log_px)
  return LkSweep(s.ks, s.mean, s.se, s.var, s.bias, log_px, s.seconds, s.var_slope,
                 s.bias_slope, s.var_se)


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
  left out of the estimate and counted in ``constant``; a leaf with every entry constant has SNR
  inf (some entry nonzero: a deterministic gradient) or 0 (identically 0), with SE 0, and never
  enters a slope. ``snr2`` and ``snr2_se`` give the estimate before the clip at 0, whose SE is
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
  cols = ("snr", "snr_se", "snr2", "snr2_se", "constant")
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
      live = a[:, ~const]
      if live.shape[1]:
        a2, a2_se = _snr2_jackknife(live, blocks)
        r = math.sqrt(max(a2, 0.0))
        row = (r, a2_se / (2 * r) if r > 0 else math.inf, a2, a2_se)
      else:  # every entry constant: a deterministic gradient (inf) or identically 0
        r = math.inf if np.any(a[0] != 0) else 0.0
        row = (r, 0.0, r * r, 0.0)
      for c, val in zip(cols, row + (int(const.sum()),)):
        out[c].setdefault(name, []).append(val)
      entries[name] = a.shape[1]
  ks_arr = np.asarray(ks)
  out = {c: {n: np.array(s) for n, s in d.items()} for c, d in out.items()}
  finite = lambda n: (np.isfinite(out["snr"][n]) & np.isfinite(out["snr_se"][n])
                     & (out["snr_se"][n] > 0))
  slopes = {n: fit_loglog(ks_arr[finite(n)], out["snr"][n][finite(n)],
                          out["snr_se"][n][finite(n)], resolved_z=0) for n in out["snr"]}
  return GradSnrSweep(ks_arr, out["snr"], out["snr_se"], slopes, out["snr2"], out["snr2_se"],
                      out["constant"], entries)


# ---------------------------------------------------------------------------------------------
# Q3: signal-to-noise ratio of gradient estimators (Rainforth et al. 2018).

class SnrSweep(NamedTuple):
  ks: np.ndarray
  encoder_iwae: np.ndarray   # [nK] SNR of the encoder gradient, IWAE estimator
  encoder_dreg: np.ndarray   # [nK] SNR of the encoder gradient, DReG estimator
  decoder_iwae: np.ndarray   # [nK] SNR of the decoder gradient
  ci: dict | None = None     # name -> [nK, 2] 95% bootstrap interval over the replicates


@functools.partial(jax.jit, static_argnums=(6,))
def _grads(keys, model, x, q_mean, q_log_std, dummy, k):
  del dummy
  d = q_mean.shape[0]

  def one(kk):
    eps = jax.random.normal(kk, (k, d), x.dtype)
    g_iwae = jax.grad(lambda m, ls, W: bounds.iwae_surrogates(
        eps, models.LinearGaussian(W, model.b, model.noise_std), m, ls, x).iwae,
        argnums=(0, 1, 2))(q_mean, q_log_std, model.W)
    g_dreg = jax.grad(lambda m, ls: bounds.iwae_surrogates(eps, model, m, ls, x).dreg,
                      argnums=(0, 1))(q_mean, q_log_std)
    return g_iwae, g_dreg

  return jax.vmap(one)(keys)


def _snr(g, idx=None):
  """Mean over parameters of |mean g| / std g over the replicates (axis 0 of ``g``); with
  ``idx`` ([B, R] replicate indices), the same for each of B resamples."""
  g = np.asarray(g, np.float64).reshape(g.shape[0], -1)
  if idx is None:
    return float(np.mean(np.abs(g.mean(0)) / g.std(0, ddof=1)))
  gb = g[idx]                                               # [B, R, P]
  return np.mean(np.abs(gb.mean(1)) / gb.std(1, ddof=1), axis=-1)


def snr_sweep(key, model, x, q_mean, q_log_std, ks: Sequence[int], replicates: int,
              bootstrap: int = 200) -> SnrSweep:
  """``|E g| / std(g)`` per parameter (averaged over parameters) for each K, with 95% percentile
  bootstrap intervals over the replicates (``bootstrap`` resamples; 0: none)."""
  enc_i, enc_d, dec = [], [], []
  ci = {"encoder_iwae": [], "encoder_dreg": [], "decoder_iwae": []}
  for i, k in enumerate(ks):
    (gm, gs, gw), (dm, ds_) = _grads(replicate_keys(jax.random.fold_in(key, i), replicates),
                                     model, x, q_mean, q_log_std, 0, int(k))
    g = {"encoder_iwae": jnp.concatenate([gm, gs], -1),
         "encoder_dreg": jnp.concatenate([dm, ds_], -1), "decoder_iwae": gw}
    enc_i.append(_snr(g["encoder_iwae"]))
    enc_d.append(_snr(g["encoder_dreg"]))
    dec.append(_snr(gw))
    if bootstrap:
      idx = np.asarray(jax.random.randint(jax.random.fold_in(key, 10_000 + i),
                                          (bootstrap, replicates), 0, replicates))
      for name, v in g.items():
        ci[name].append(np.percentile(_snr(v, idx), [2.5, 97.5]))
  return SnrSweep(np.asarray(ks), np.asarray(enc_i), np.asarray(enc_d), np.asarray(dec),
                  {n: np.asarray(v) for n, v in ci.items()} if bootstrap else None)


# ---------------------------------------------------------------------------------------------
# Q2.3: cost of serving n new points, amortised vs per-instance.

class CostRow(NamedTuple):
  n: int
  amortised_seconds: float
  instance_seconds: float
  amortised_steps: int      # optimisation steps at serving time (0: one forward pass)
  instance_steps: int       # n x L-BFGS steps
  amortised_params: int
  instance_params: int
  amortised_range: tuple[float, float] = (math.nan, math.nan)  # fastest, slowest of the repeats
  instance_range: tuple[float, float] = (math.nan, math.nan)


def serving_cost(key, model, encoder, enc_params, ns: Sequence[int], steps: int = 40,
                 repeats: int = 5):
  """Warm wall time of serving ``n`` new points: the median of ``repeats`` timings of each way,
  with the fastest and slowest (the spread on a shared machine)."""
  rows = []
  fwd = jax.jit(lambda p, x: encoder.apply(p, x))
  fit = jax.jit(lambda x: am.fit_per_instance(model, x, steps))
  for n in ns:
    x, _ = model.sample(jax.random.fold_in(key, n), int(n))
    jax.block_until_ready(fwd(enc_params, x))
    jax.block_until_ready(fit(x))  # compile both first: timings are warm
    ta, ti = [], []
    for _ in range(repeats):
      t0 = time.perf_counter()
      jax.block_until_ready(fwd(enc_params, x))
      t1 = time.perf_counter()
      jax.block_until_ready(fit(x))
      t2 = time.perf_counter()
      ta.append(t1 - t0)
      ti.append(t2 - t1)
    rows.append(CostRow(int(n), float(np.median(ta)), float(np.median(ti)), 0, int(n) * steps,
                        am.param_count(enc_params), 2 * model.latent_dim * int(n),
                        (min(ta), max(ta)), (min(ti), max(ti))))
  return rows


# ---------------------------------------------------------------------------------------------
# Q4: blind spot versus depth.

def blind_spot_vs_depth(size: int = 9, max_layers: int = 8, pixel=None):
  """Number of raster predecessors of ``pixel`` unseen by A + (L-1) x B, for L = 1..max_layers."""
  pixel = pixel or (size, (size + 1) // 2)
  out = []
  for layers in range(1, max_layers + 1):
    field = mc.receptive_field("A" + "B" * (layers - 1), size, pixel)
    out.append((layers, len(mc.blind_spot(field, size, pixel)), len(field)))
  return out


# ---------------------------------------------------------------------------------------------
# Q6: variance of the R1 and R2 estimators versus the true KL.

class BoundVariance(NamedTuple):
  kl: np.ndarray       # [n_gap]
  r1_mean: np.ndarray
  r1_var: np.ndarray
  r2_mean: np.ndarray
  r2_var: np.ndarray
  r1_var_se: np.ndarray | None = None  # standard errors of the variances (4th moment)
  r2_var_se: np.ndarray | None = None


@functools.partial(jax.jit, static_argnums=(2, 3))
def _bound_replicates(keys, gap, n, _unused=None):
  def one(k):
    kp, kq = jax.random.split(k)
    xp = jax.random.normal(kp, (n,))
    xq = gap + jax.random.normal(kq, (n,))
    t = lambda x: -0.5 * x ** 2 + 0.5 * (x - gap) ** 2  # log(p/q): the optimal DV critic
    return kb.r1(t(xp) + 1.0, t(xq) + 1.0), kb.r2(t(xp), t(xq))
  return jax.vmap(one)(keys)


def bound_variance(key, gaps: Sequence[float], n: int = 256, replicates: int = 2000):
  """p = N(0,1), q = N(gap, 1) (KL = gap^2/2), each bound at its optimal critic: ``n`` samples
  of each (an int >= 1) per replicate, ``replicates`` (>= 2, for a variance) per finite gap."""
  n = v.check_int("n", n)
  replicates = v.check_int("replicates", replicates, minimum=2)
  gaps = list(gaps)
  if not gaps or not all(math.isfinite(float(g)) for g in gaps):
    raise ValueError(f"`gaps` must be a non-empty sequence of finite numbers; got {gaps!r}.")
  r1m, r1v, r2m, r2v, r1s, r2s = [], [], [], [], [], []
  for i, g in enumerate(gaps):
    a, b = _bound_replicates(jax.random.split(jax.random.fold_in(key, i), replicates),
                             jnp.asarray(g, jnp.float32), n)
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    r1m.append(a.mean())
    r1v.append(a.var(ddof=1))
    r2m.append(b.mean())
    r2v.append(b.var(ddof=1))
    r1s.append(variance_se(a))
    r2s.append(variance_se(b))
  g = np.asarray(gaps, float)
  return BoundVariance(g ** 2 / 2, np.array(r1m), np.array(r1v), np.array(r2m), np.array(r2v),
                       np.array(r1s), np.array(r2s))


# ---------------------------------------------------------------------------------------------
# Q7: smoothed parallel lines.

def parallel_lines_curve(thetas, sigma: float = 0.05, grid_points: int = 24001,
                         half_width: float = 6.0):
  r"""JSD between N(0, sigma^2) and N(theta, sigma^2) in x (lines blurred by sigma; the y parts
  are identical) by quadrature on ``grid_points`` points of [-half_width, half_width], with its
  autodiff gradient, and ``W1 = |theta|``.

  The gradient is not zero near theta = 0: it peaks at about 0.23 / sigma (11.7 nats per unit
  theta for sigma = 0.02) at theta ~ 1.65 sigma and is still 1.18 at theta = 5 sigma (0.1) before
  it vanishes, so a curve needs theta steps well below sigma near 0 to show it (thetas 0.1 apart
  show one spurious-looking spike at +-0.1). The quadrature grid must resolve sigma: at least 20 points per sigma (a ValueError
  otherwise), and every ``|theta| + 8 sigma`` must lie inside the grid.
  """
  thetas = np.asarray(thetas, np.float64)
  h = 2 * half_width / (grid_points - 1)
  if sigma < 20 * h:
    raise ValueError(f"`sigma` = {sigma} is not resolved by the quadrature grid (spacing {h:.3g}; "
                     "need sigma >= 20 x spacing): raise `grid_points`")
  if thetas.size and np.max(np.abs(thetas)) + 8 * sigma > half_width:
    raise ValueError(f"`thetas` reach {np.max(np.abs(thetas))}, beyond the grid's half width "
                     f"{half_width} less 8 sigma")
  grid = jnp.linspace(-half_width, half_width, grid_points)
  from jax.scipy.stats import norm
  f = jax.jit(jax.vmap(jax.value_and_grad(lambda th: dv.jsd_quadrature(
      norm.logpdf(grid, 0.0, sigma), norm.logpdf(grid, th, sigma), grid))))
  vals, grads = f(jnp.asarray(thetas, grid.dtype))
  return (thetas, np.asarray(vals, np.float64), np.asarray(grads, np.float64), np.abs(thetas))
