r"""Q3: the evidence lower bound and the importance-weighted bounds :math:`\mathcal{L}_K`.

.. math::
   \mathcal{L}_K = \mathbb{E}_{h_{1:K} \sim q}\Big[\log \frac1K \sum_{j=1}^K w_j\Big],\qquad
   \log w_j = \log p(x, h_j) - \log q(h_j),

with :math:`\mathcal{L}_1` the ELBO (Burda, Grosse & Salakhutdinov 2016, "Importance Weighted
Autoencoders"; numpyro's ``RenyiELBO`` with ``alpha=0``). Everything works on log-weights with
``logsumexp``: never ``exp`` of an unbounded quantity.
"""
from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from gdm_jax import validation as v
from gdm_jax.models import LinearGaussian, diag_gaussian_log_prob

Array = jax.Array
SampleAndLogQ = Callable[[Array, int], tuple[Array, Array]]


def iwae_bound(log_w: Array, axis: int = -1) -> Array:
  r""":math:`\log \frac1K \sum_k \exp(\log w_k)` along ``axis`` (one replicate of
  :math:`\hat{\mathcal{L}}_K`).

  Exact for log-weights of magnitude 1e4 (``logsumexp`` subtracts the maximum); all ``-inf``
  log-weights give ``-inf`` (no NaN).

  Args:
    log_w: ``[..., K, ...]`` log importance weights.
    axis: the sample axis of length ``K``.
  Returns:
    ``log_w`` reduced over ``axis``.
  """
  v.check_not_nan("log_w", log_w)
  log_w = jnp.asarray(log_w)
  if log_w.ndim == 0:
    raise ValueError("`log_w` must have a sample axis of length K >= 1; got a scalar.")
  k = log_w.shape[axis]
  if k < 1:
    raise ValueError("`log_w` is empty along `axis`; K must be >= 1.")
  return logsumexp(log_w, axis=axis) - jnp.log(jnp.asarray(k, log_w.dtype))


def elbo(log_w: Array, axis: int = -1) -> Array:
  r"""Monte Carlo ELBO :math:`\frac1K\sum_k \log w_k` (the average of ``K`` one-sample
  :math:`\hat{\mathcal{L}}_1`)."""
  v.check_not_nan("log_w", log_w)
  return jnp.mean(jnp.asarray(log_w), axis=axis)


def prefix_bounds(log_w: Array) -> Array:
  r""":math:`\hat{\mathcal{L}}_k` of the first ``k`` samples for every ``k = 1..K``.

  Each prefix is an unbiased estimate of :math:`\mathcal{L}_k`, and all share samples, so
  differences :math:`\hat{\mathcal{L}}_{k+1} - \hat{\mathcal{L}}_k` are paired (low variance).
  ``[..., K] -> [..., K]``.
  """
  v.check_not_nan("log_w", log_w)
  log_w = jnp.asarray(log_w)
  k = jnp.arange(1, log_w.shape[-1] + 1, dtype=log_w.dtype)
  return jax.lax.cumlogsumexp(log_w, axis=log_w.ndim - 1) - jnp.log(k)


def diag_gaussian_proposal(mean: Array, std: Array) -> SampleAndLogQ:
  """``sample_and_log_q`` for q = N(mean, diag(std^2)): ``(key, n) -> (z [n, d], log_q [n])``."""
  v.check_positive("std", std)
  mean, std = jnp.asarray(mean), jnp.asarray(std)

  def sample_and_log_q(key, n):
    eps = jax.random.normal(key, (n,) + mean.shape, mean.dtype)
    z = mean + std * eps
    return z, diag_gaussian_log_prob(z, mean, std)

  return sample_and_log_q


def full_gaussian_proposal(mean: Array, cov: Array) -> SampleAndLogQ:
  """``sample_and_log_q`` for q = N(mean, cov) (e.g. the exact posterior)."""
  mean, cov = jnp.asarray(mean), jnp.asarray(cov)
  chol = jnp.linalg.cholesky(cov)
  d = mean.shape[-1]

  def sample_and_log_q(key, n):
    eps = jax.random.normal(key, (n, d), mean.dtype)
    z = mean + eps @ chol.T
    log_q = (-0.5 * jnp.sum(eps * eps, -1) - jnp.sum(jnp.log(jnp.diagonal(chol)))
             - 0.5 * d * math.log(2 * math.pi))
    return z, log_q

  return sample_and_log_q


def _log_q_dtype(sample_and_log_q: SampleAndLogQ):
  """dtype of the proposal's log-density (shape evaluation only, with a throwaway key)."""
  return jax.eval_shape(lambda: sample_and_log_q(jax.random.key(0), 1))[1].dtype


def _lse_init(dtype):
  """Empty running log-sum-exp: (m, s) = (-inf, 0)."""
  return jnp.asarray(-jnp.inf, dtype), jnp.asarray(0.0, dtype)


def _lse_update(carry, log_w):
  r"""Running log-sum-exp: :math:`m' = \max(m, \max_j \ell_j)`,
  :math:`s' = s e^{m - m'} + \sum_j e^{\ell_j - m'}` (``s`` stays 0 while everything is -inf)."""
  m, s = carry
  m_new = jnp.maximum(m, jnp.max(log_w))
  safe = jnp.where(jnp.isfinite(m_new), m_new, 0.0)
  return m_new, s * jnp.exp(m - safe) + jnp.sum(jnp.exp(log_w - safe))


def iwae_estimate(key: Array, log_joint: Callable[[Array], Array],
                  sample_and_log_q: SampleAndLogQ, K: int,
                  chunk_size: int | None = None) -> Array:
  r"""One replicate of :math:`\hat{\mathcal{L}}_K` for one data point.

  ``sample_and_log_q(key, n) -> (z [n, d], log_q [n])`` (distrax's ``sample_and_log_prob``
  shape), ``log_joint(z [n, d]) -> [n]``. Jittable with ``K`` and ``chunk_size`` static;
  vmappable over keys and data points.

  With ``chunk_size`` set, the ``K`` samples are drawn ``chunk_size`` at a time inside
  ``lax.scan`` and reduced by a running log-sum-exp :math:`(m, s)`:

  .. math:: m' = \max(m, \max_j \ell_j), \quad s' = s\,e^{m - m'} + \sum_j e^{\ell_j - m'},
            \quad \hat{\mathcal{L}}_K = m + \log s - \log K,

  so memory is ``O(chunk_size)`` whatever ``K`` (tested to ``K = 10^7``).

  Returns:
    scalar estimate.
  """
  K = v.check_int("K", K)
  if chunk_size is None or chunk_size >= K:
    z, log_q = sample_and_log_q(key, K)
    return iwae_bound(log_joint(z) - log_q)
  chunk_size = v.check_int("chunk_size", chunk_size)
  n_full, rem = divmod(K, chunk_size)

  def body(carry, i):
    z, log_q = sample_and_log_q(jax.random.fold_in(key, i), chunk_size)
    return _lse_update(carry, log_joint(z) - log_q), None

  dtype = _log_q_dtype(sample_and_log_q)
  init = _lse_init(dtype)
  carry, _ = jax.lax.scan(body, init, jnp.arange(n_full))
  if rem:
    z, log_q = sample_and_log_q(jax.random.fold_in(key, n_full), rem)
    carry = _lse_update(carry, log_joint(z) - log_q)
  m, s = carry
  return m + jnp.log(s) - jnp.log(jnp.asarray(K, dtype))


def _lg_log_joint(model: LinearGaussian, x: Array, gram: bool):
  if gram:
    return lambda z: model.log_prior(z) + model.log_likelihood_gram(x, z)
  return lambda z: model.log_joint(x, z)


def linear_gaussian_log_weights(key: Array, model: LinearGaussian, x: Array, q_mean: Array,
                                q_std: Array, K: int, gram: bool = False) -> Array:
  """Log-weights ``[K]`` for one ``x [D]`` under q = N(q_mean, diag q_std^2). ``gram=True`` scores
  with :meth:`LinearGaussian.log_likelihood_gram` (O(d^2) per sample instead of O(D d))."""
  z, log_q = diag_gaussian_proposal(q_mean, q_std)(key, K)
  return _lg_log_joint(model, x, gram)(z) - log_q


def linear_gaussian_iwae(key: Array, model: LinearGaussian, x: Array, q_mean: Array,
                         q_std: Array, K: int, chunk_size: int | None = None,
                         gram: bool = False) -> Array:
  r""":math:`\hat{\mathcal{L}}_K` for a batch ``x [B, D]`` with per-point proposals
  ``q_mean, q_std [B, d]``: one key per data point, vmapped. Returns ``[B]``."""
  keys = jax.random.split(key, x.shape[0])

  def one(k, xi, m, s):
    return iwae_estimate(k, _lg_log_joint(model, xi, gram), diag_gaussian_proposal(m, s), K,
                         chunk_size)

  return jax.vmap(one)(keys, x, q_mean, q_std)


# ---------------------------------------------------------------------------------------------
# Gradient estimators (for the signal-to-noise experiment, Rainforth et al. 2018).

def iwae_surrogates(eps: Array, theta: LinearGaussian, q_mean: Array, q_log_std: Array,
                    x: Array) -> tuple[Array, Array]:
  r"""Surrogate objectives whose gradients are the IWAE and DReG gradient estimates.

  With :math:`z_k = \mu + \sigma \epsilon_k` and :math:`\tilde w_k = w_k / \sum_j w_j`:

  - IWAE (reparameterised): :math:`\nabla \hat{\mathcal{L}}_K` of ``iwae_bound(log_w)``.
  - DReG (Tucker et al. 2019), for the encoder parameters only: :math:`\sum_k
    \mathrm{sg}(\tilde w_k^2)\,\log w_k(z_k(\phi); \mathrm{sg}(\phi))`. The decoder's DReG
    gradient is the IWAE one: differentiate ``iwae`` for it.

  Args:
    eps: ``[K, d]`` standard normal draws.
  Returns:
    ``(iwae, dreg)`` scalars to differentiate.
  """
  std = jnp.exp(q_log_std)
  z = q_mean + std * eps
  log_w = theta.log_joint(x, z) - diag_gaussian_log_prob(z, q_mean, std)
  iwae = iwae_bound(log_w)
  log_q_stop = diag_gaussian_log_prob(z, jax.lax.stop_gradient(q_mean),
                                      jax.lax.stop_gradient(std))
  log_w_stop = theta.log_joint(x, z) - log_q_stop
  w_tilde = jax.lax.stop_gradient(jax.nn.softmax(log_w_stop))
  dreg = jnp.sum(w_tilde ** 2 * log_w_stop)
  return iwae, dreg


def iwae_estimate_sharded(key: Array, log_joint: Callable[[Array], Array],
                          sample_and_log_q: SampleAndLogQ, K: int, chunk_size: int,
                          mesh: "jax.sharding.Mesh | None" = None) -> Array:
  r"""The chunked :math:`\hat{\mathcal{L}}_K` with its chunks spread over a 1-D device mesh.

  Chunk ``i`` draws its samples from ``fold_in(key, i)`` exactly as :func:`iwae_estimate` does, so
  the estimate is the single-device one up to the order of floating-point reductions. Each device
  runs the running log-sum-exp over its chunks (``shard_map``); the partial :math:`(m_d, s_d)` are
  combined with ``pmax`` and ``psum``: :math:`m = \max_d m_d`, :math:`s = \sum_d s_d e^{m_d - m}`.
  With ``mesh=None`` a mesh over all devices is used; on one device it is plain
  :func:`iwae_estimate`. Multi-host: call ``jax.distributed.initialize()`` first and pass a mesh
  over ``jax.devices()`` (all hosts); the code is unchanged.
  """
  from jax.sharding import Mesh, PartitionSpec as P
  K = v.check_int("K", K)
  chunk_size = v.check_int("chunk_size", chunk_size)
  if mesh is None:
    mesh = Mesh(np.array(jax.devices()), ("d",))
  n_dev = mesh.devices.size
  n_chunks, rem = divmod(K, chunk_size)
  if rem or n_chunks % n_dev:
    raise ValueError(f"`K` ({K}) must be a multiple of `chunk_size` x devices ({chunk_size} x "
                     f"{n_dev}) for the sharded estimator; adjust K or chunk_size.")
  (axis,) = mesh.axis_names

  dtype = _log_q_dtype(sample_and_log_q)

  def local(chunk_keys):
    def body(carry, k):
      z, log_q = sample_and_log_q(k, chunk_size)
      return _lse_update(carry, log_joint(z) - log_q), None

    init = _lse_init(dtype)
    # The carry varies across devices (each scans its own chunks).
    init = jax.tree_util.tree_map(lambda a: jax.lax.pcast(a, (axis,), to="varying"), init)
    (m, s), _ = jax.lax.scan(body, init, chunk_keys)
    m_all = jax.lax.pmax(m, axis)
    safe = jnp.where(jnp.isfinite(m_all), m_all, 0.0)
    s_all = jax.lax.psum(s * jnp.exp(m - safe), axis)
    return (m_all + jnp.log(s_all) - jnp.log(jnp.asarray(K, dtype)))[None]

  f = jax.shard_map(local, mesh=mesh, in_specs=P(axis), out_specs=P(axis))
  chunk_keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(n_chunks))
  return f(chunk_keys)[0]
