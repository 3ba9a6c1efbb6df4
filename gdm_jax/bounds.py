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
from typing import Callable, NamedTuple

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
  log-weights give ``-inf`` (no NaN): ``-inf`` is a valid log-weight (p(x, z) = 0), NaN is not.

  Args:
    log_w: ``[..., K, ...]`` log importance weights.
    axis: the sample axis of length ``K``, an int in ``[-ndim, ndim)``.
  Returns:
    ``log_w`` reduced over ``axis``.
  """
  log_w = v.real("log_w", log_w, neg_inf=True)
  if log_w.ndim == 0:
    raise ValueError("`log_w` must have a sample axis of length K >= 1; got a scalar.")
  axis = v.check_axis("axis", axis, log_w.ndim)
  k = log_w.shape[axis]
  if k < 1:
    raise ValueError("`log_w` is empty along `axis`; K must be >= 1.")
  return logsumexp(log_w, axis=axis) - jnp.log(jnp.asarray(k, log_w.dtype))


def elbo(log_w: Array, axis: int = -1) -> Array:
  r"""Monte Carlo ELBO :math:`\frac1K\sum_k \log w_k` (the average of ``K`` one-sample
  :math:`\hat{\mathcal{L}}_1`)."""
  log_w = v.real("log_w", log_w, neg_inf=True)
  if log_w.ndim == 0 or log_w.size == 0:
    raise ValueError(f"`log_w` must have a non-empty sample axis; got shape {log_w.shape}.")
  return jnp.mean(log_w, axis=v.check_axis("axis", axis, log_w.ndim))


def _check_alpha(alpha) -> float:
  if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)):
    raise ValueError(f"`alpha` must be a real number (a Python float: it selects the program); "
                     f"got {type(alpha).__name__}.")
  if not math.isfinite(float(alpha)):
    raise ValueError(f"`alpha` must be finite; got {alpha}.")
  return float(alpha)


def renyi_bound(log_w: Array, alpha: float, axis: int = -1) -> Array:
  r"""The variational Renyi bound :math:`\hat{\mathcal{L}}_\alpha` of ``K`` log-weights (Li &
  Turner 2016, "Renyi Divergence Variational Inference", eq. (7); numpyro's ``RenyiELBO(alpha)``):

  .. math::
     \hat{\mathcal{L}}_\alpha = \frac{1}{1-\alpha} \log \frac1K \sum_{k=1}^K w_k^{1-\alpha},
     \qquad \hat{\mathcal{L}}_1 = \frac1K \sum_k \log w_k \ (\text{the limit}),

  so :math:`\alpha = 0` is :math:`\hat{\mathcal{L}}_K` (:func:`iwae_bound`) and :math:`\alpha \to
  1` the ELBO (:func:`elbo`). For every draw :math:`\hat{\mathcal{L}}_\alpha` is non-increasing
  in :math:`\alpha` (a power mean of the weights with exponent :math:`1-\alpha`), and its
  expectation is :math:`\log p(x) - D_\alpha(q\|p(z|x))` as :math:`K \to \infty`.

  Computed as :math:`(m + \mathrm{log1p}(\frac1K\sum_k \mathrm{expm1}(t_k - m))) / (1-\alpha)`
  with :math:`t_k = (1-\alpha)\log w_k`, :math:`m = \max_k t_k`: no ``exp`` of an unbounded
  quantity, and near :math:`\alpha = 1` the error stays :math:`\sim \epsilon \max|\log w|`
  (a plain ``logsumexp`` would lose :math:`\epsilon \log K / |1-\alpha|`). A zero weight
  (``-inf``) gives ``-inf`` for :math:`\alpha \ge 1`, as the definition does.

  Args:
    log_w: ``[..., K, ...]`` log importance weights (``-inf`` allowed).
    alpha: a finite Python float (static: ``alpha = 1`` is another program).
    axis: the sample axis.
  Returns:
    ``log_w`` reduced over ``axis``.
  """
  alpha = _check_alpha(alpha)
  log_w = v.real("log_w", log_w, neg_inf=True)
  if log_w.ndim == 0 or log_w.size == 0:
    raise ValueError(f"`log_w` must have a non-empty sample axis; got shape {log_w.shape}.")
  axis = v.check_axis("axis", axis, log_w.ndim)
  if alpha == 1.0:
    return jnp.mean(log_w, axis=axis)
  t = (1.0 - alpha) * log_w
  m = jnp.max(t, axis=axis, keepdims=True)
  safe = jax.lax.stop_gradient(jnp.where(jnp.isfinite(m), m, 0.0))
  s = jnp.mean(jnp.expm1(t - safe), axis=axis)
  return (jnp.squeeze(safe, axis) + jnp.log1p(s)) / (1.0 - alpha)


def prefix_bounds(log_w: Array) -> Array:
  r""":math:`\hat{\mathcal{L}}_k` of the first ``k`` samples for every ``k = 1..K``.

  Each prefix is an unbiased estimate of :math:`\mathcal{L}_k`, and all share samples, so
  differences :math:`\hat{\mathcal{L}}_{k+1} - \hat{\mathcal{L}}_k` are paired (low variance).
  ``[..., K] -> [..., K]``.
  """
  log_w = v.real("log_w", log_w, neg_inf=True)
  if log_w.ndim == 0 or log_w.shape[-1] == 0:
    raise ValueError(f"`log_w` must have a last (sample) axis of length K >= 1; got shape "
                     f"{log_w.shape}.")
  k = jnp.arange(1, log_w.shape[-1] + 1, dtype=log_w.dtype)
  return jax.lax.cumlogsumexp(log_w, axis=log_w.ndim - 1) - jnp.log(k)


def diag_gaussian_proposal(mean: Array, std: Array) -> SampleAndLogQ:
  """``sample_and_log_q`` for q = N(mean, diag(std^2)): ``(key, n) -> (z [n, d], log_q [n])``.

  ``mean`` and ``std`` are ``[d]``; a concrete ``std`` must be > 0 and a concrete ``mean`` finite
  (traced values, under ``jit``, are not checked)."""
  v.check_ndim("mean", mean, (1,))
  v.check_finite("mean", mean)
  v.check_same_shape("std", std, "mean", mean)
  v.check_positive("std", std)
  mean, std = v.real("mean", mean), v.real("std", std)

  def sample_and_log_q(key, n):
    eps = jax.random.normal(key, (n,) + mean.shape, mean.dtype)
    z = mean + std * eps
    return z, diag_gaussian_log_prob(z, mean, std)

  return sample_and_log_q


def full_gaussian_proposal(mean: Array, cov: Array) -> SampleAndLogQ:
  """``sample_and_log_q`` for q = N(mean, cov) (e.g. the exact posterior).

  ``mean [d]``, ``cov [d, d]``. A concrete ``cov`` must be symmetric, positive definite and well
  enough conditioned for its dtype (:func:`gdm_jax.validation.check_spd`); otherwise the Cholesky
  factor would be NaN or wrong and the damage would surface later as NaN log-weights. A traced
  ``cov`` (under ``jit``) is not checked."""
  v.check_ndim("mean", mean, (1,))
  v.check_finite("mean", mean)
  v.check_spd("cov", cov, jnp.shape(mean)[0], " to match `mean`")
  mean, cov = v.real("mean", mean), v.real("cov", cov)
  chol = jnp.linalg.cholesky(cov)
  d = mean.shape[-1]

  def sample_and_log_q(key, n):
    eps = jax.random.normal(key, (n, d), mean.dtype)
    z = mean + eps @ chol.T
    log_q = (-0.5 * jnp.sum(eps * eps, -1) - jnp.sum(jnp.log(jnp.diagonal(chol)))
             - 0.5 * d * math.log(2 * math.pi))
    return z, log_q

  return sample_and_log_q


#: Most chunks a chunked estimate may scan: chunk ``i`` draws from ``fold_in(key, i)``, and the
#: chunk counter is an int32 when x64 is off.
MAX_CHUNKS = 2 ** 31 - 1


def _draw_shapes(key, log_joint, sample_and_log_q, n: int, budget_name: str = "K"):
  r"""Checks, at trace time with :func:`jax.eval_shape` (nothing is computed), that one draw of
  ``n`` samples has the documented shapes: ``sample_and_log_q(key, n) -> (z, log_q [n])`` with
  every leaf of ``z`` of leading axis ``n``, and ``log_joint(z) -> [n]``, both real floating.

  A ``log_joint`` returning ``[n, 1]`` would otherwise broadcast against ``log_q [n]`` to
  ``[n, n]``: a vector from the one-shot path and a wrong scalar from the chunked one. Also
  refuses a draw whose samples alone exceed the device's memory
  (:func:`gdm_jax.validation.memory_budget_bytes`), which could only end in RESOURCE_EXHAUSTED.
  Holds under ``jit`` (shapes are static). Returns the dtype of ``log_q``.
  """
  v.check_key("key", key)
  v.check_callable("log_joint", log_joint, "log_joint(z [n, ...]) -> [n]")
  v.check_callable("sample_and_log_q", sample_and_log_q,
                   "sample_and_log_q(key, n) -> (z [n, ...], log_q [n])")
  spec = jax.ShapeDtypeStruct(jnp.shape(key), key.dtype)
  try:
    out = jax.eval_shape(lambda k: sample_and_log_q(k, n), spec)
  except ValueError as e:
    raise ValueError(f"`sample_and_log_q` failed to draw n = {n} samples: {e}") from e
  if not (isinstance(out, (tuple, list)) and len(out) == 2):
    raise ValueError("`sample_and_log_q` must return a pair (z [n, ...], log_q [n]); got "
                     f"{jax.tree_util.tree_structure(out)}.")
  z, log_q = out
  z_leaves = jax.tree_util.tree_leaves(z)
  if not z_leaves or any(leaf.ndim == 0 or leaf.shape[0] != n for leaf in z_leaves):
    raise ValueError(f"`sample_and_log_q` (key, n) must return samples z with leading axis n; "
                     f"for n = {n} got z of shape {[leaf.shape for leaf in z_leaves]}.")
  if log_q.shape != (n,) or not jnp.issubdtype(log_q.dtype, jnp.floating):
    raise ValueError(f"`sample_and_log_q` (key, n) must return real log_q of shape [n]; for "
                     f"n = {n} got shape {log_q.shape}, dtype {log_q.dtype}.")
  lj = jax.eval_shape(log_joint, z)
  if not hasattr(lj, "shape") or lj.shape != (n,) or not jnp.issubdtype(lj.dtype, jnp.floating):
    raise ValueError(
        f"`log_joint` must map samples z [n, ...] to real log-densities of shape [n]; for n = {n} "
        f"it returns {getattr(lj, 'shape', type(lj).__name__)} "
        f"({getattr(lj, 'dtype', '')}). Reduce over the event axes (e.g. sum over the last "
        "axis) or squeeze the trailing axis.")
  nbytes = sum(a.size * a.dtype.itemsize for a in z_leaves + [log_q, lj])
  budget = v.memory_budget_bytes()
  if nbytes > budget:
    raise ValueError(
        f"drawing {n} samples at once needs {nbytes / 2**30:.4g} GiB for the samples alone, more "
        f"than the device's {budget / 2**30:.4g} GiB; pass `chunk_size` (e.g. 65536) so that "
        f"`{budget_name}` samples are drawn chunk by chunk in O(chunk_size) memory.")
  return log_q.dtype


#: Bytes of the widest per-step intermediate (all points of a batch together) that an automatic
#: chunk aims at, per backend. On CPU the scan's body then works in the last-level cache's range
#: (measured on Burda et al.'s 784-200-200-50 VAE, 2 cores: 2k-4k samples of 784 logits per step
#: ran 1.2-1.5x faster than 80k at once, and 16x fewer samples per step lost ~2x to the loop);
#: accelerators want large steps, so there the budget is an eighth of device memory.
AUTO_CHUNK_BYTES = {"cpu": 12 * 2 ** 20}

#: How many points :func:`iwae_estimate` assumes run side by side when it chooses a chunk alone: it
#: cannot see a ``vmap`` around it, and users vmap it over a batch of data points. A call for one
#: point loses little (a chunk 8x smaller than its best still amortises the loop), a batch of 16
#: gains much (a chunk 16x too large leaves the cache); :func:`iwae_estimate_batch` knows ``B``.
ASSUMED_BATCH = 8


def _jaxpr_bytes(jaxpr) -> list[int]:
  """Bytes of every intermediate of a (closed) jaxpr, sub-jaxprs included, in program order."""
  jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
  out = []
  for eqn in jaxpr.eqns:
    for var in eqn.outvars:
      aval = getattr(var, "aval", None)
      if hasattr(aval, "shape") and hasattr(aval, "dtype"):
        out.append(int(np.prod(aval.shape, dtype=np.int64)) * aval.dtype.itemsize)
    for param in eqn.params.values():
      for sub in (param if isinstance(param, (tuple, list)) else (param,)):
        if hasattr(sub, "eqns") or hasattr(getattr(sub, "jaxpr", None), "eqns"):
          out.extend(_jaxpr_bytes(sub))
  return out


def per_sample_bytes(key: Array, log_joint: Callable[[Array], Array],
                     sample_and_log_q: SampleAndLogQ) -> tuple[int, int]:
  r"""``(widest, total)``: the bytes that one more sample adds to the widest intermediate, and to
  all intermediates together, of drawing samples and evaluating their log-weights.

  Read from the program's shapes only (:func:`jax.make_jaxpr` at ``n = 1`` and ``n = 2``: the
  difference, intermediate by intermediate, is what scales with the number of samples; weights
  and other per-call constants cancel). Nothing is computed. For Burda et al.'s 784-unit decoder
  the widest is its ``[n, 784]`` float32 logits: 3136 bytes.
  """
  def program(n):
    def f(k):
      z, log_q = sample_and_log_q(k, n)
      return log_joint(z) - log_q
    return _jaxpr_bytes(jax.make_jaxpr(f)(spec))
  spec = jax.ShapeDtypeStruct(jnp.shape(key), key.dtype)  # abstract: no key is consumed
  one, two = program(1), program(2)
  if len(one) != len(two):  # a program whose structure depends on n: count its outputs only
    outputs = _draw_bytes(key, log_joint, sample_and_log_q)
    return outputs, outputs
  grow = [max(b - a, 0) for a, b in zip(one, two)]
  return max(grow + [1]), max(sum(grow), 1)


def _draw_bytes(key, log_joint, sample_and_log_q) -> int:
  spec = jax.ShapeDtypeStruct(jnp.shape(key), key.dtype)
  z, log_q = jax.eval_shape(lambda k: sample_and_log_q(k, 1), spec)
  lj = jax.eval_shape(log_joint, z)
  return sum(a.size * a.dtype.itemsize for a in jax.tree_util.tree_leaves(z) + [log_q, lj])


def auto_chunk_size(key: Array, log_joint: Callable[[Array], Array],
                    sample_and_log_q: SampleAndLogQ, K: int, batch: int | None = None) -> int:
  r"""The ``chunk_size`` that :func:`iwae_estimate` uses when given none.

  With :math:`w` the bytes one sample adds to the widest intermediate and :math:`t` to all of
  them (:func:`per_sample_bytes`), and ``batch`` points evaluated side by side (vmapped; None:
  :data:`ASSUMED_BATCH`),

  .. math:: c = \min\Big(\Big\lfloor \frac{T}{\mathrm{batch}\; w} \Big\rfloor,\;
            \Big\lfloor \frac{M / 4}{\mathrm{batch}\; t} \Big\rfloor\Big),

  where :math:`T` is :data:`AUTO_CHUNK_BYTES` for the backend (an eighth of device memory on an
  accelerator) and :math:`M` the device's memory: the step's widest array stays near the size
  the backend computes fastest, and the whole step within a quarter of memory. A divisor of ``K``
  in :math:`[c/2, c]` is preferred (no remainder chunk: one compiled body). Returns ``K`` (one
  shot) when :math:`c \ge K`. Only shapes are read (no computation).
  """
  K = v.check_int("K", K)
  batch = ASSUMED_BATCH if batch is None else v.check_int("batch", batch)
  widest, total = per_sample_bytes(key, log_joint, sample_and_log_q)
  memory = v.memory_budget_bytes()
  target = AUTO_CHUNK_BYTES.get(jax.default_backend(), memory // 8)
  c = max(1, min(target // (batch * widest), (memory // 4) // (batch * total)))
  if c >= K:
    return K
  for d in range(c, max(c // 2, 1) - 1, -1):
    if K % d == 0:
      return d
  return c


#: How many flags :func:`_nan_flags` returns.
N_FLAGS = 5


def _nan_flags(lj, log_q):
  """Whether ``log_joint``, ``log_q`` and their difference have NaN entries, whether
  ``log_joint`` is +inf somewhere and whether ``log_q`` is -inf where ``log_joint`` is not (a
  sample the proposal cannot draw): ``[5]`` bool."""
  return jnp.stack([jnp.any(jnp.isnan(lj)), jnp.any(jnp.isnan(log_q)),
                    jnp.any(jnp.isnan(lj - log_q)), jnp.any(lj == jnp.inf),
                    jnp.any((log_q == -jnp.inf) & (lj > -jnp.inf))])


def _raise_on_nan(flags) -> None:
  """The eager check of :func:`iwae_estimate`, shared by its one-shot and chunked paths."""
  flags = np.asarray(flags)
  if flags[0]:
    raise ValueError("`log_joint` returned NaN log-densities; it must return log p(x, z) for "
                     "every sample (-inf where p(x, z) = 0, never NaN).")
  if flags[1]:
    raise ValueError("`sample_and_log_q` returned NaN log-densities log q(z); check the "
                     "proposal's parameters (a scale <= 0 or NaN gives NaN).")
  if flags[2]:
    raise ValueError("`log_joint` and `sample_and_log_q` give log p(x, z) - log q(z) = inf - inf "
                     "(NaN) at some samples; `log_joint` must be finite or -inf wherever the "
                     "proposal has finite log q.")
  if flags[3]:
    raise ValueError("`log_joint` returned +inf log-densities; it must return finite log p(x, z) "
                     "(or -inf where p(x, z) = 0): an infinite density has no finite bound.")
  if flags[4]:
    raise ValueError("`sample_and_log_q` returned log q(z) = -inf for samples it drew (where "
                     "log p(x, z) is not -inf): the weights p/q are +inf. Its log q must be the "
                     "log-density of the samples it returns.")


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

  With ``chunk_size=None`` (the default) the chunk is chosen from the shapes and the device
  (:func:`auto_chunk_size`): fast and ``O(chunk)`` in memory whatever ``K``; ``chunk_size >= K``
  draws all samples at once. Which samples a key gives depends on the chunk, so pass
  ``chunk_size`` explicitly for draws that are identical across backends.

  With a chunk smaller than ``K``, the ``K`` samples are drawn ``chunk_size`` at a time inside
  ``lax.scan`` and reduced by a running log-sum-exp :math:`(m, s)`:

  .. math:: m' = \max(m, \max_j \ell_j), \quad s' = s\,e^{m - m'} + \sum_j e^{\ell_j - m'},
            \quad \hat{\mathcal{L}}_K = m + \log s - \log K,

  so memory is ``O(chunk_size)`` whatever ``K`` (tested to ``K = 10^7``).

  Checks: ``K`` and ``chunk_size`` are ints >= 1 with at most :data:`MAX_CHUNKS` chunks; the
  shapes that ``sample_and_log_q`` and ``log_joint`` return are checked at trace time
  (:func:`jax.eval_shape`, so also under ``jit``), and a one-shot draw whose samples would not fit
  in device memory is refused with the advice to pass ``chunk_size``. Called eagerly (a concrete
  ``key``), both paths raise the same ``ValueError`` naming ``log_joint`` (or
  ``sample_and_log_q``) when a log-density is NaN, ``log_joint`` is +inf or ``log_q`` is -inf at
  a sample it drew (an infinite weight); ``key`` must be a PRNG key and ``log_joint`` and
  ``sample_and_log_q`` callables (also under ``jit``); under ``jit`` or ``vmap`` a NaN propagates to
  the estimate (wrap in ``checkify`` with ``float_checks`` to catch it).

  Returns:
    scalar estimate.
  """
  K = v.check_int("K", K)
  if chunk_size is not None:
    chunk_size = v.check_int("chunk_size", chunk_size)
  else:
    _draw_shapes(key, log_joint, sample_and_log_q, 1)
    chunk_size = auto_chunk_size(key, log_joint, sample_and_log_q, K)
  eager = v.is_concrete(key)
  if chunk_size >= K:
    _draw_shapes(key, log_joint, sample_and_log_q, K)
    z, log_q = sample_and_log_q(key, K)
    lj = log_joint(z)
    if eager:
      _raise_on_nan(_nan_flags(lj, log_q))
    return iwae_bound(lj - log_q)
  n_full, rem = divmod(K, chunk_size)
  if n_full + (rem > 0) > MAX_CHUNKS:
    raise ValueError(f"`K` / `chunk_size` = {K} / {chunk_size} makes {n_full + (rem > 0)} chunks, "
                     f"more than {MAX_CHUNKS} (the chunk counter is an int32); pass a larger "
                     "`chunk_size`.")
  dtype = _draw_shapes(key, log_joint, sample_and_log_q, chunk_size)

  def chunk(carry, k, n):
    lse, flags = carry
    z, log_q = sample_and_log_q(k, n)
    lj = log_joint(z)
    if eager:  # the NaN flags are only read back in eager mode; under jit they are not traced
      flags = flags | _nan_flags(lj, log_q)
    return _lse_update(lse, lj - log_q), flags

  def body(carry, i):
    return chunk(carry, jax.random.fold_in(key, i), chunk_size), None

  init = (_lse_init(dtype), jnp.zeros(N_FLAGS, bool) if eager else None)
  carry, _ = jax.lax.scan(body, init, jnp.arange(n_full))
  if rem:
    carry = chunk(carry, jax.random.fold_in(key, n_full), rem)
  (m, s), flags = carry
  if eager and v.is_concrete(flags):
    _raise_on_nan(flags)
  return m + jnp.log(s) - jnp.log(jnp.asarray(K, dtype))


def iwae_estimate_batch(key: Array, log_joint: Callable[[Array, Array], Array],
                        proposal: Callable[[Array], SampleAndLogQ], data: Array, K: int,
                        chunk_size: int | None = None) -> Array:
  r""":math:`\hat{\mathcal{L}}_K` for every data point of a batch, for any model: one key per
  point (``split(key, B)``), vmapped over the batch.

  Args:
    log_joint: ``log_joint(x [...], z [n, d]) -> [n]``: the model's :math:`\log p(x, z)`.
    proposal: ``proposal(x) -> sample_and_log_q`` (e.g. an encoder's
      :func:`diag_gaussian_proposal` of its mean and std at ``x``).
    data: ``[B, ...]`` data points.
    K, chunk_size: as in :func:`iwae_estimate`; with ``chunk_size=None`` the chunk is sized for
      the ``B`` points that each step evaluates together (:func:`auto_chunk_size` with
      ``batch=B``).
  Returns:
    ``[B]``. Jittable with ``K`` and ``chunk_size`` static.
  """
  K = v.check_int("K", K)
  v.check_key("key", key)
  v.check_callable("log_joint", log_joint, "log_joint(x, z [n, ...]) -> [n]")
  v.check_callable("proposal", proposal, "proposal(x) -> sample_and_log_q")
  if _n_required_args(proposal) == 2:
    raise ValueError("`proposal` takes 2 arguments: it looks like a sample_and_log_q(key, n), "
                     "but a factory proposal(x) -> sample_and_log_q is expected. For one "
                     "proposal for every point pass `lambda x: sample_and_log_q`.")
  if jnp.ndim(data) < 1 or jnp.shape(data)[0] < 1:
    raise ValueError(f"`data` must have a leading batch axis of size >= 1; got shape "
                     f"{tuple(jnp.shape(data))}.")
  data = jnp.asarray(data)
  keys = jax.random.split(key, jnp.shape(data)[0])
  if chunk_size is None:  # the whole batch shares each step: size the chunk for B points
    chunk_size = auto_chunk_size(key, lambda z: log_joint(data[0], z), proposal(data[0]), K,
                                 batch=jnp.shape(data)[0])
  return jax.vmap(lambda k, x: iwae_estimate(k, lambda z: log_joint(x, z),
                                             _proposal_at(proposal, x), K, chunk_size))(keys, data)


def _n_required_args(f) -> int | None:
  """How many positional arguments ``f`` requires (None when its signature cannot be read)."""
  import inspect
  try:
    params = inspect.signature(f).parameters.values()
  except (TypeError, ValueError):
    return None
  return sum(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
             for p in params)


def _proposal_at(proposal, x):
  q = proposal(x)
  v.check_callable("proposal", q, "proposal(x) must return a sample_and_log_q(key, n)")
  return q


def _lg_log_joint(model: LinearGaussian, x: Array, gram: bool):
  if gram:
    return lambda z: model.log_prior(z) + model.log_likelihood_gram(x, z)
  return lambda z: model.log_joint(x, z)


def check_linear_gaussian_args(model: LinearGaussian, x: Array, q_mean: Array, q_std: Array,
                               batched: bool) -> None:
  """Validates a LinearGaussian problem with a diagonal Gaussian proposal: ``x [D]``,
  ``q_mean, q_std [d]`` (``[B, D]``, ``[B, d]`` when ``batched``); finite ``x`` and ``q_mean``,
  ``q_std > 0`` when concrete."""
  if not isinstance(model, LinearGaussian):
    raise ValueError(f"`model` must be a LinearGaussian; got {type(model).__name__}.")
  nd = 2 if batched else 1
  v.check_ndim("x", x, (nd,))
  v.check_last_dim("x", x, model.data_dim, "the model's data dimension D")
  v.check_finite("x", x)
  v.check_ndim("q_mean", q_mean, (nd,))
  v.check_last_dim("q_mean", q_mean, model.latent_dim, "the model's latent dimension d")
  if batched and jnp.shape(q_mean)[0] != jnp.shape(x)[0]:
    raise ValueError(f"`q_mean` has {jnp.shape(q_mean)[0]} rows but `x` has {jnp.shape(x)[0]}; "
                     "pass one proposal per data point.")
  v.check_finite("q_mean", q_mean)
  v.check_same_shape("q_std", q_std, "q_mean", q_mean)
  v.check_positive("q_std", q_std)


def linear_gaussian_log_weights(key: Array, model: LinearGaussian, x: Array, q_mean: Array,
                                q_std: Array, K: int, gram: bool = False) -> Array:
  """Log-weights ``[K]`` for one ``x [D]`` under q = N(q_mean, diag q_std^2). ``gram=True`` scores
  with :meth:`LinearGaussian.log_likelihood_gram` (O(d^2) per sample instead of O(D d))."""
  v.check_key("key", key)
  check_linear_gaussian_args(model, x, q_mean, q_std, batched=False)
  K = v.check_int("K", K)
  z, log_q = diag_gaussian_proposal(q_mean, q_std)(key, K)
  return _lg_log_joint(model, x, gram)(z) - log_q


def linear_gaussian_iwae(key: Array, model: LinearGaussian, x: Array, q_mean: Array,
                         q_std: Array, K: int, chunk_size: int | None = None,
                         gram: bool = False) -> Array:
  r""":math:`\hat{\mathcal{L}}_K` for a batch ``x [B, D]`` with per-point proposals
  ``q_mean, q_std [B, d]``: one key per data point, vmapped. Returns ``[B]``.

  The arguments are validated here, before the ``vmap`` (inside it they are tracers and the
  value checks cannot run): shapes, a finite ``x`` and ``q_mean``, and ``q_std > 0``. Under
  ``jit`` only the shapes are checked."""
  v.check_key("key", key)
  check_linear_gaussian_args(model, x, q_mean, q_std, batched=True)
  K = v.check_int("K", K)
  keys = jax.random.split(key, x.shape[0])
  if chunk_size is None:  # sized for the B points that each step evaluates together
    chunk_size = auto_chunk_size(key, _lg_log_joint(model, x[0], gram),
                                 diag_gaussian_proposal(q_mean[0], q_std[0]), K,
                                 batch=x.shape[0])

  def one(k, xi, m, s):
    return iwae_estimate(k, _lg_log_joint(model, xi, gram), diag_gaussian_proposal(m, s), K,
                         chunk_size)

  return jax.vmap(one)(keys, x, q_mean, q_std)


# ---------------------------------------------------------------------------------------------
# Gradient estimators (for the signal-to-noise experiment, Rainforth et al. 2018).

class Surrogates(NamedTuple):
  r"""Scalar surrogate objectives whose gradients are the three estimators of
  :math:`\nabla \mathcal{L}_K` (see :func:`surrogates`)."""
  iwae: Array   # [] reparameterised IWAE: all parameters
  stl: Array    # [] sticking the landing (Roeder et al. 2017): proposal parameters only
  dreg: Array   # [] doubly reparameterised (Tucker et al. 2019): proposal parameters only


class Reparam(NamedTuple):
  r"""A reparameterised proposal :math:`q_\phi`: ``sample(params, eps [K, ...]) -> z [K, ...]``,
  a differentiable function of ``params`` and the noise ``eps``, and ``log_prob(params, z) ->
  [K]``, :math:`\log q_\phi(z)` for any ``z`` (the estimators evaluate it at stopped
  parameters and live samples). ``params`` is any pytree."""
  sample: Callable[[object, Array], Array]
  log_prob: Callable[[object, Array], Array]


def _diag_sample(params, eps):
  mean, log_std = params
  return mean + jnp.exp(log_std) * eps


def _diag_log_prob(params, z):
  mean, log_std = params
  return diag_gaussian_log_prob(z, mean, jnp.exp(log_std))


#: q = N(mean, diag exp(log_std)^2) with ``params = (mean [d], log_std [d])`` and ``eps [K, d]``.
DIAG_GAUSSIAN = Reparam(_diag_sample, _diag_log_prob)


def surrogates(eps: Array, log_joint: Callable[[Array], Array], proposal: Reparam,
               q_params) -> Surrogates:
  r"""Surrogate objectives whose gradients are the IWAE, STL and DReG estimates of
  :math:`\nabla \mathcal{L}_K`, for any model and any reparameterised proposal.

  With :math:`z_k = g_\phi(\epsilon_k)` (``proposal.sample``), :math:`\log w_k(z; \phi) =
  \log p(x, z) - \log q_\phi(z)` and :math:`\tilde w_k = w_k / \sum_j w_j`:

  - IWAE (reparameterised; Burda et al. 2016): :math:`\hat{\mathcal{L}}_K = \log \frac1K
    \sum_k w_k(z_k(\phi); \phi)`; its gradient is the IWAE estimate for the proposal's and the
    model's parameters (those ``log_joint`` closes over).
  - STL (Roeder, Wu & Duvenaud 2017), proposal only: :math:`\log \frac1K \sum_k
    w_k(z_k(\phi); \mathrm{sg}(\phi))`, gradient :math:`\sum_k \tilde w_k \frac{\partial \log
    w_k}{\partial z_k} \frac{\partial z_k}{\partial \phi}`: the IWAE gradient less its score term
    :math:`-\sum_k \tilde w_k \nabla_\phi \log q_\phi(z_k)`. Unbiased for K = 1, biased for K > 1.
  - DReG (Tucker, Lawson, Gu & Maddison 2019, eq. (7)), proposal only:
    :math:`\sum_k \mathrm{sg}(\tilde w_k^2)\, \log w_k(z_k(\phi); \mathrm{sg}(\phi))`, gradient
    :math:`\sum_k \tilde w_k^2 \frac{\partial \log w_k}{\partial z_k}
    \frac{\partial z_k}{\partial \phi}`; unbiased for every K.

  At :math:`q_\phi = p(z|x)` every :math:`\log w_k(z; \mathrm{sg}(\phi)) = \log p(x)`, so the STL
  and DReG proposal gradients are exactly 0 for every draw. The model's STL and DReG gradients
  are the IWAE one: differentiate ``iwae`` for the model's parameters.

  Args:
    eps: ``[K, ...]`` noise draws (standard normal for :data:`DIAG_GAUSSIAN`).
    log_joint: ``log_joint(z [K, ...]) -> [K]``, :math:`\log p(x, z)`.
    proposal: a :class:`Reparam` (e.g. :data:`DIAG_GAUSSIAN`).
    q_params: the proposal's parameters (a pytree), the ones to differentiate.
  Returns:
    :class:`Surrogates` ``(iwae, stl, dreg)`` of scalars to differentiate.
  """
  v.check_callable("log_joint", log_joint, "log_joint(z [K, ...]) -> [K]")
  if not (isinstance(proposal, tuple) and len(proposal) == 2 and all(map(callable, proposal))):
    raise ValueError("`proposal` must be a Reparam(sample(params, eps) -> z, log_prob(params, z) "
                     f"-> [K]) (e.g. bounds.DIAG_GAUSSIAN); got {type(proposal).__name__}.")
  if jnp.ndim(eps) < 1 or jnp.shape(eps)[0] < 1:
    raise ValueError(f"`eps` must be [K, ...] noise draws with K >= 1; got shape "
                     f"{tuple(jnp.shape(eps))}.")
  k = jnp.shape(eps)[0]
  sg = jax.lax.stop_gradient
  z = proposal.sample(q_params, eps)
  lj = log_joint(z)
  log_q = proposal.log_prob(q_params, z)
  log_q_stop = proposal.log_prob(sg(q_params), z)
  for name, a in (("log_joint", lj), ("proposal.log_prob", log_q)):
    if jnp.shape(a) != (k,):
      raise ValueError(f"`{name}` must return [K] = [{k}] log-densities of the samples; got "
                       f"shape {tuple(jnp.shape(a))}.")
  log_w = lj - log_q
  log_w_stop = lj - log_q_stop
  w_tilde = sg(jax.nn.softmax(log_w_stop))
  return Surrogates(iwae_bound(log_w), iwae_bound(log_w_stop),
                    jnp.sum(w_tilde ** 2 * log_w_stop))


def iwae_surrogates(eps: Array, theta: LinearGaussian, q_mean: Array, q_log_std: Array,
                    x: Array) -> Surrogates:
  r""":func:`surrogates` for a :class:`~gdm_jax.models.LinearGaussian` and the diagonal Gaussian
  proposal :math:`z_k = \mu + \sigma \epsilon_k`, :math:`\phi = (\mu, \log\sigma)`
  (:data:`DIAG_GAUSSIAN`): ``surrogates(eps, lambda z: theta.log_joint(x, z), DIAG_GAUSSIAN,
  (q_mean, q_log_std))``.

  Args:
    eps: ``[K, d]`` standard normal draws.
    theta: the model (its ``W``, ``b``, ``noise_std`` may be traced, for decoder gradients).
    q_mean, q_log_std: ``[d]`` encoder parameters :math:`\mu, \log\sigma`.
    x: ``[D]`` one data point.
  Returns:
    :class:`Surrogates` ``(iwae, stl, dreg)`` of scalars to differentiate.
  """
  if jnp.ndim(eps) != 2 or jnp.shape(eps)[0] < 1:
    raise ValueError(f"`eps` must be [K, d] standard normal draws with K >= 1; got shape "
                     f"{tuple(jnp.shape(eps))}.")
  if jnp.shape(q_mean) != (jnp.shape(eps)[1],) or jnp.shape(q_log_std) != jnp.shape(q_mean):
    raise ValueError(f"`q_mean` and `q_log_std` must both be [d] with d = eps.shape[1] = "
                     f"{jnp.shape(eps)[1]}; got {tuple(jnp.shape(q_mean))} and "
                     f"{tuple(jnp.shape(q_log_std))}.")
  return surrogates(eps, lambda z: theta.log_joint(x, z), DIAG_GAUSSIAN, (q_mean, q_log_std))


class ScoreSurrogates(NamedTuple):
  r"""Surrogates whose gradients are score-function (REINFORCE) estimates of
  :math:`\nabla \mathcal{L}_K` (see :func:`score_function_surrogates`)."""
  reinforce: Array  # [] learning signal L_K for every sample
  vimco: Array      # [] learning signal L_K - L_K^{-k} (Mnih & Rezende 2016)


def vimco_baselines(log_w: Array) -> Array:
  r"""VIMCO's leave-one-out baselines :math:`\hat{\mathcal{L}}^{-k}` (Mnih & Rezende 2016,
  "Variational inference for Monte Carlo objectives", eq. (10)): sample ``k``'s weight replaced
  by the geometric mean of the others,

  .. math:: \hat{\mathcal{L}}^{-k} = \log \frac1K \Big(\sum_{j \ne k} w_j + \exp\Big(\frac{1}{K-1}
            \sum_{j \ne k} \log w_j\Big)\Big),

  independent of :math:`z_k`. ``[..., K] -> [..., K]`` (``K >= 2``; O(K^2) work, log space)."""
  log_w = v.real("log_w", log_w)
  if log_w.ndim < 1 or log_w.shape[-1] < 2:
    raise ValueError(f"`log_w` must have a last (sample) axis of length K >= 2 (VIMCO leaves one "
                     f"out); got shape {log_w.shape}.")
  k = log_w.shape[-1]
  geo = (jnp.sum(log_w, -1, keepdims=True) - log_w) / (k - 1)            # [..., K]
  eye = jnp.eye(k, dtype=bool)
  rows = jnp.where(eye, geo[..., :, None], log_w[..., None, :])         # [..., K, K]
  return logsumexp(rows, axis=-1) - jnp.log(jnp.asarray(k, log_w.dtype))


def score_function_surrogates(log_joint: Array, log_q: Array) -> ScoreSurrogates:
  r"""Score-function (non-reparameterised) gradient surrogates of :math:`\mathcal{L}_K`, for
  samples :math:`z_k \sim q_\phi` drawn *without* a path to :math:`\phi` (discrete latents).

  With :math:`\log w_k = \log p_\theta(x, z_k) - \log q_\phi(z_k)` at fixed samples,
  :math:`\hat{\mathcal{L}} = \log \frac1K \sum_k w_k` and learning signals :math:`s_k`,

  .. math:: \nabla \hat{\mathcal{L}} = \sum_k \tilde w_k \nabla \log w_k + \sum_k
            \mathrm{sg}(s_k)\, \nabla_\phi \log q_\phi(z_k):

  ``reinforce`` has :math:`s_k = \hat{\mathcal{L}}`, ``vimco`` :math:`s_k = \hat{\mathcal{L}} -
  \hat{\mathcal{L}}^{-k}` (:func:`vimco_baselines`). Both are unbiased for
  :math:`\nabla_\phi \mathcal{L}_K` (:math:`\hat{\mathcal{L}}^{-k}` does not depend on
  :math:`z_k` and :math:`\mathbb{E}\,\nabla_\phi \log q_\phi(z_k) = 0`); VIMCO's variance is far
  lower. TFP: ``tfp.vi.csiszar_vimco``.

  Args:
    log_joint: ``[..., K]`` finite :math:`\log p_\theta(x, z_k)` at the stopped samples (live
      in :math:`\theta`).
    log_q: ``[..., K]`` :math:`\log q_\phi(z_k)` at the stopped samples (live in :math:`\phi`).
  Returns:
    :class:`ScoreSurrogates` of scalars (summed over leading axes) to differentiate.
  """
  log_joint = v.real("log_joint", log_joint)
  log_q = v.real("log_q", log_q)
  v.check_same_shape("log_q", log_q, "log_joint", log_joint)
  sg = jax.lax.stop_gradient
  log_w = log_joint - log_q
  lk = iwae_bound(log_w)
  loo = vimco_baselines(sg(log_w))
  reinforce = jnp.sum(lk + jnp.sum(sg(lk)[..., None] * log_q, -1))
  vimco = jnp.sum(lk + jnp.sum(sg(lk[..., None] - loo) * log_q, -1))
  return ScoreSurrogates(reinforce, vimco)


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
  over ``jax.devices()`` (all hosts); the code is unchanged. The shapes that ``sample_and_log_q``
  and ``log_joint`` return are checked as in :func:`iwae_estimate`, and NaN log-densities follow
  its rule: called eagerly (a concrete ``key``) the same ``ValueError`` naming ``log_joint`` (or
  ``sample_and_log_q``); under ``jit`` or ``vmap`` a NaN propagates to the estimate.
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
  if n_chunks > MAX_CHUNKS:
    raise ValueError(f"`K` / `chunk_size` = {n_chunks} chunks, more than {MAX_CHUNKS}; pass a "
                     "larger `chunk_size`.")
  (axis,) = mesh.axis_names

  dtype = _draw_shapes(key, log_joint, sample_and_log_q, chunk_size)
  eager = v.is_concrete(key)

  def local(chunk_keys):
    def body(carry, k):
      lse, flags = carry
      z, log_q = sample_and_log_q(k, chunk_size)
      lj = log_joint(z)
      if eager:  # as in iwae_estimate: the NaN flags are traced only when they will be read
        flags = flags | _nan_flags(lj, log_q)
      return (_lse_update(lse, lj - log_q), flags), None

    init = (_lse_init(dtype), jnp.zeros(N_FLAGS, bool) if eager else None)
    # The carry varies across devices (each scans its own chunks).
    init = jax.tree_util.tree_map(lambda a: jax.lax.pcast(a, (axis,), to="varying"), init)
    ((m, s), flags), _ = jax.lax.scan(body, init, chunk_keys)
    m_all = jax.lax.pmax(m, axis)
    safe = jnp.where(jnp.isfinite(m_all), m_all, 0.0)
    s_all = jax.lax.psum(s * jnp.exp(m - safe), axis)
    est = (m_all + jnp.log(s_all) - jnp.log(jnp.asarray(K, dtype)))[None]
    return (est, flags[None]) if eager else est

  out_specs = (P(axis), P(axis)) if eager else P(axis)
  f = jax.shard_map(local, mesh=mesh, in_specs=P(axis), out_specs=out_specs)
  chunk_keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(n_chunks))
  if not eager:
    return f(chunk_keys)[0]
  est, flags = f(chunk_keys)     # flags: [devices, 3], each device's own chunks
  _raise_on_nan(np.any(np.asarray(flags), axis=0))
  return est[0]
