r"""Experiment computations (Q2-Q7): pure functions returning data; the scripts in
``experiments/`` only call these and plot. Replicates and seeds go through ``vmap``; replicate
sweeps shard over every available device with ``jax.sharding`` (a 1-D mesh) and run unchanged on
one device.
"""
from __future__ import annotations

import functools
import math
import time
from typing import NamedTuple, Sequence

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


@functools.partial(jax.jit, static_argnums=(5, 6))
def _replicated_lk(keys, model, x, q_mean, q_std, k, chunk):
  prop = bounds.diag_gaussian_proposal(q_mean, q_std)
  return jax.vmap(lambda kk: bounds.iwae_estimate(kk, lambda z: model.log_joint(x, z), prop, k,
                                                  chunk))(keys)


def lk_sweep(key, model, x, q_mean, q_std, ks: Sequence[int], replicates: int,
             chunk_size: int | None = None) -> LkSweep:
  """Replicates of L_K for each K (vmapped, sharded over devices), with exact log p(x).

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
  t0 = time.perf_counter()
  out = []
  for i, k in enumerate(ks):
    keys = replicate_keys(jax.random.fold_in(key, i), replicates)
    out.append(np.asarray(_replicated_lk(keys, model, x, q_mean, q_std, int(k), chunk_size),
                          np.float64))
  L = np.stack(out)
  log_px = float(model.log_marginal(x))
  mean = L.mean(1)
  return LkSweep(np.asarray(ks), mean, L.std(1, ddof=1) / math.sqrt(replicates),
                 L.var(1, ddof=1), log_px - mean, log_px, time.perf_counter() - t0)


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
# Q3: signal-to-noise ratio of gradient estimators (Rainforth et al. 2018).

class SnrSweep(NamedTuple):
  ks: np.ndarray
  encoder_iwae: np.ndarray   # [nK] SNR of the encoder gradient, IWAE estimator
  encoder_dreg: np.ndarray   # [nK] SNR of the encoder gradient, DReG estimator
  decoder_iwae: np.ndarray   # [nK] SNR of the decoder gradient


@functools.partial(jax.jit, static_argnums=(6,))
def _grads(keys, model, x, q_mean, q_log_std, dummy, k):
  del dummy
  d = q_mean.shape[0]

  def one(kk):
    eps = jax.random.normal(kk, (k, d), x.dtype)
    g_iwae = jax.grad(lambda m, ls, W: bounds.iwae_surrogates(
        eps, models.LinearGaussian(W, model.b, model.noise_std), m, ls, x)[0],
        argnums=(0, 1, 2))(q_mean, q_log_std, model.W)
    g_dreg = jax.grad(lambda m, ls: bounds.iwae_surrogates(eps, model, m, ls, x)[1],
                      argnums=(0, 1))(q_mean, q_log_std)
    return g_iwae, g_dreg

  return jax.vmap(one)(keys)


def _snr(g):
  g = np.asarray(g, np.float64).reshape(g.shape[0], -1)
  return float(np.mean(np.abs(g.mean(0)) / g.std(0, ddof=1)))


def snr_sweep(key, model, x, q_mean, q_log_std, ks: Sequence[int], replicates: int) -> SnrSweep:
  """|E g| / std(g) per parameter (averaged over parameters) for each K."""
  enc_i, enc_d, dec = [], [], []
  for i, k in enumerate(ks):
    (gm, gs, gw), (dm, ds_) = _grads(replicate_keys(jax.random.fold_in(key, i), replicates),
                                     model, x, q_mean, q_log_std, 0, int(k))
    enc_i.append(_snr(jnp.concatenate([gm, gs], -1)))
    enc_d.append(_snr(jnp.concatenate([dm, ds_], -1)))
    dec.append(_snr(gw))
  return SnrSweep(np.asarray(ks), np.asarray(enc_i), np.asarray(enc_d), np.asarray(dec))


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


def serving_cost(key, model, encoder, enc_params, ns: Sequence[int], steps: int = 40):
  rows = []
  fwd = jax.jit(lambda p, x: encoder.apply(p, x))
  fit = jax.jit(lambda x: am.fit_per_instance(model, x, steps))
  for n in ns:
    x, _ = model.sample(jax.random.fold_in(key, n), int(n))
    jax.block_until_ready(fwd(enc_params, x))
    jax.block_until_ready(fit(x))  # compile both first: timings are warm
    t0 = time.perf_counter()
    jax.block_until_ready(fwd(enc_params, x))
    t1 = time.perf_counter()
    jax.block_until_ready(fit(x))
    t2 = time.perf_counter()
    rows.append(CostRow(int(n), t1 - t0, t2 - t1, 0, int(n) * steps,
                        am.param_count(enc_params), 2 * model.latent_dim * int(n)))
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
  """p = N(0,1), q = N(gap, 1) (KL = gap^2/2), each bound at its optimal critic."""
  r1m, r1v, r2m, r2v = [], [], [], []
  for i, g in enumerate(gaps):
    a, b = _bound_replicates(jax.random.split(jax.random.fold_in(key, i), replicates),
                             jnp.asarray(g, jnp.float32), n)
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    r1m.append(a.mean()); r1v.append(a.var(ddof=1)); r2m.append(b.mean()); r2v.append(b.var(ddof=1))
  g = np.asarray(gaps, float)
  return BoundVariance(g ** 2 / 2, np.array(r1m), np.array(r1v), np.array(r2m), np.array(r2v))


# ---------------------------------------------------------------------------------------------
# Q7: smoothed parallel lines.

def parallel_lines_curve(thetas, sigma: float = 0.05):
  """JSD between N(0, sigma^2) and N(theta, sigma^2) in x (lines blurred by sigma; the y parts
  are identical) by quadrature with its autodiff gradient, and W1 = |theta|."""
  grid = jnp.linspace(-6.0, 6.0, 24001)
  from jax.scipy.stats import norm
  f = jax.jit(jax.value_and_grad(lambda th: dv.jsd_quadrature(
      norm.logpdf(grid, 0.0, sigma), norm.logpdf(grid, th, sigma), grid)))
  vals = [f(jnp.asarray(t, grid.dtype)) for t in thetas]
  return (np.asarray(thetas), np.array([float(v) for v, _ in vals]),
          np.array([float(g) for _, g in vals]), np.abs(np.asarray(thetas)))
