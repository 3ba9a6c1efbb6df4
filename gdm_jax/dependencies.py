r"""Which outputs of a function depend on which inputs: the Jacobian's sparsity pattern.

For :math:`y = f(x)` with :math:`x` of shape ``S`` (the *positions*) and :math:`y` of shape
``S + F`` (``F`` any trailing feature shape: a mean and a scale per dimension, logits per channel),
output position :math:`i` depends on input position :math:`j` iff

.. math:: \exists f \in F:\ \frac{\partial y_{i,f}}{\partial x_j} \ne 0

for some parameter draw and input. The Jacobian comes from ``jax.jacfwd``, so nothing about ``f``
is assumed. Accidental zeros (weights that cancel) are ruled out by the union over random draws
and, for a flax module, a *structural* draw: strictly positive entries in the ``params``
collection (other collections, such as masks, are left as they are) at a zero input, where every
path through monotone activations contributes a positive product.

An autoregressive model in the order :math:`\pi` (a permutation of the positions; raster order
over ``S`` by default, channels last as in PixelCNN) has :math:`D_{ij} = 0` whenever
:math:`\pi(j) \ge \pi(i)` (no *leak*); it is *complete* when :math:`D_{ij} = 1` for every
:math:`\pi(j) < \pi(i)` (no blind spot).
"""
from __future__ import annotations

import functools
import math
from typing import Any, Callable, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


def _shape(name, shape) -> tuple[int, ...]:
  try:
    out = tuple(int(s) for s in shape)
  except TypeError:
    raise ValueError(f"`{name}` must be a tuple of positive ints; got {shape!r}.") from None
  if not out or any(s < 1 for s in out):
    raise ValueError(f"`{name}` must be a non-empty tuple of positive ints; got {shape!r}.")
  return out


def _draws_and_key(num_draws, key):
  """``num_draws`` an int >= 1; ``key`` one PRNG key (:func:`gdm_jax.validation.check_key`), or
  None for ``jax.random.key(0)``."""
  if isinstance(num_draws, bool) or not isinstance(num_draws, (int, np.integer)) or num_draws < 1:
    raise ValueError(f"`num_draws` must be an int >= 1; got {num_draws!r}.")
  if key is None:
    return int(num_draws), jax.random.key(0)
  from gdm_jax import validation as v
  v.check_key("key", key)
  return int(num_draws), key


def _positive(tree):
  return jax.tree_util.tree_map(lambda p: 0.1 * (jnp.abs(p) + 0.1), tree)


def _jac_any(apply, variables, x, n_pos):
  """``[n_pos, n_pos]``: any over the output features of ``d y / d x != 0`` at one draw."""
  def f(flat):
    y = apply(variables, flat.reshape(x.shape))
    if not jnp.issubdtype(y.dtype, jnp.inexact):  # integer or boolean: no derivative (all zero)
      y = y.astype(flat.dtype)
    return y.reshape(n_pos, -1)
  jac = jax.jacfwd(f)(x.reshape(-1))  # [n_pos, F, n_pos]
  return jnp.any(jac != 0, axis=1)


def _module_dependencies(module, input_shape, num_draws, key):
  n_pos = math.prod(input_shape)

  def init(k):
    kp, kx = jax.random.split(k)
    x = jax.random.normal(kx, input_shape)
    return module.init(kp, x), x

  keys = jax.vmap(lambda n: jax.random.fold_in(key, n))(jnp.arange(num_draws))
  variables, xs = jax.vmap(init)(keys)
  rand = jnp.any(jax.vmap(lambda v, x: _jac_any(module.apply, v, x, n_pos))(variables, xs), 0)
  # The structural draw: positive weights in `params` only (masks and other state untouched).
  first = jax.tree_util.tree_map(lambda a: a[0], variables)
  pos = dict(first)
  if "params" in pos:
    pos["params"] = _positive(pos["params"])
  struct = _jac_any(module.apply, pos, jnp.zeros(input_shape), n_pos)
  return rand | struct


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _module_dependencies_jit(module, input_shape, num_draws, key):
  """One compiled program per (module, shape): jax.jit keys static modules on their equality
  (class and fields), never on a name or repr."""
  return _module_dependencies(module, input_shape, num_draws, key)


def _is_hashable(obj) -> bool:
  try:
    hash(obj)
  except TypeError:
    return False
  return True


def jacobian_dependencies(fn: Callable | nn.Module, input_shape: Sequence[int], *,
                          params: Any = None, num_draws: int = 3,
                          key: Array | None = None) -> np.ndarray:
  r"""Boolean ``[P, P]`` matrix (``P = prod(input_shape)``, positions in raster order of
  ``input_shape``): output position ``i`` depends on input position ``j``.

  Args:
    fn: a flax module (its ``apply`` is used; without ``params`` it is initialised ``num_draws``
      times and a structural positive draw is added), or a callable: ``fn(x)`` when ``params`` is
      None, else ``fn(params, x)``. It maps ``x [*input_shape]`` to ``y [*input_shape, *F]``.
    input_shape: the shape ``S`` of one input (include a batch axis of 1 if ``fn`` needs one).
    params: a flax variables dict for a module, or the first argument of a callable.
    num_draws: random draws (parameters for an uninitialised module, inputs otherwise).
    key: PRNG key of the draws (default ``jax.random.key(0)``).
  Returns:
    ``np.ndarray`` of bools, ``[P, P]``.
  Raises:
    ValueError: a bad shape, or an output whose leading axes are not ``input_shape``.
  """
  input_shape = _shape("input_shape", input_shape)
  num_draws, key = _draws_and_key(num_draws, key)
  n_pos = math.prod(input_shape)
  x0 = jax.ShapeDtypeStruct(input_shape, jnp.float32)
  if isinstance(fn, nn.Module):
    if params is None:
      out = jax.eval_shape(lambda: fn.apply(fn.init(jax.random.key(0), jnp.zeros(input_shape)),
                                            jnp.zeros(input_shape)))
      _check_out("fn", out, input_shape)
      if _is_hashable(fn):
        return np.asarray(_module_dependencies_jit(fn, input_shape, num_draws, key))
      return np.asarray(jax.jit(functools.partial(_module_dependencies, fn, input_shape,
                                                  num_draws))(key))
    apply = fn.apply
  elif callable(fn):
    apply = (lambda p, x: fn(x)) if params is None else fn
  else:
    raise ValueError(f"`fn` must be a callable or a flax module; got {type(fn).__name__}.")
  out = jax.eval_shape(lambda x: apply(params, x), x0)
  _check_out("fn", out, input_shape)

  @jax.jit
  def deps(k):
    xs = jax.random.normal(k, (num_draws,) + input_shape)
    return jnp.any(jax.vmap(lambda x: _jac_any(apply, params, x, n_pos))(xs), 0)

  return np.asarray(deps(key))


def _changed(y0, y1):
  r"""Whether an output changed: exactly for integer and boolean outputs; for floating ones by
  more than :math:`\sqrt{\epsilon}\max(1, |y|, |y'|)` of their dtype (a NaN appearing or going
  counts), so that rounding noise (``cumsum(x) - x`` is not exactly free of ``x_i``) is not read
  as dependence."""
  if not jnp.issubdtype(y0.dtype, jnp.inexact):
    return y0 != y1
  floor = math.sqrt(float(jnp.finfo(y0.dtype).eps))
  scale = jnp.maximum(1.0, jnp.maximum(jnp.abs(y0), jnp.abs(y1)))
  return (jnp.abs(y1 - y0) > floor * scale) | (jnp.isnan(y0) != jnp.isnan(y1))


def _perturb_any(apply, variables, x, x_alt, n_pos):
  """``[n_pos, n_pos]``: output position ``i`` changes (any feature, :func:`_changed`) when input
  position ``j`` alone is replaced by its value in ``x_alt``; one forward pass per ``j``."""
  flat, alt = x.reshape(-1), x_alt.reshape(-1)
  y0 = apply(variables, x).reshape(n_pos, -1)

  def moved(j):
    xj = jnp.where(jnp.arange(n_pos) == j, alt, flat).reshape(x.shape)
    return jnp.any(_changed(y0, apply(variables, xj).reshape(n_pos, -1)), axis=1)   # [out]

  return jax.lax.map(moved, jnp.arange(n_pos), batch_size=min(n_pos, 256)).T   # [out, in]


def perturbation_dependencies(fn: Callable | nn.Module, input_shape: Sequence[int], *,
                              params: Any = None, num_draws: int = 3,
                              key: Array | None = None) -> np.ndarray:
  r"""Boolean ``[P, P]`` matrix from finite changes, not derivatives: output position ``i``
  depends on input position ``j`` when, at some draw :math:`x`, replacing :math:`x_j` alone by an
  independent draw :math:`x'_j` changes any feature of :math:`y_i`:

  .. math:: D_{ij} = \exists\, \text{draw}, f:\ |y_{i,f}(x_{-j}, x'_j) - y_{i,f}(x)| >
            \sqrt{\epsilon}\,\max(1, |y_{i,f}(x)|, |y_{i,f}(x_{-j}, x'_j)|)

  (:math:`\epsilon` the output dtype's machine epsilon: :math:`3.5 \times 10^{-4}` relative in
  float32; any change at all for integer and boolean outputs). The floor keeps rounding noise out:
  ``cumsum(x) - x`` is causal, but in floating point its output :math:`i` moves by an ulp with
  :math:`x_i`. It sees what a Jacobian cannot: integer, boolean or rounded outputs and
  ``stop_gradient`` paths, whose derivative is zero everywhere. A position that enters no
  computation of :math:`y_i` cannot change it, so every dependence found exists and the matrix
  may be united with :func:`jacobian_dependencies`. It misses a dependence that the drawn changes
  do not reveal: a step that no draw crosses, or a non-differentiable dependence that moves a
  floating output by less than the floor. ``P`` forward passes per draw (``lax.map``).
  Arguments as in :func:`jacobian_dependencies` (a flax module without ``params`` is initialised
  ``num_draws`` times; outputs may have any dtype).
  """
  input_shape = _shape("input_shape", input_shape)
  num_draws, key = _draws_and_key(num_draws, key)
  n_pos = math.prod(input_shape)
  if isinstance(fn, nn.Module):
    apply = fn.apply
    if params is None:
      out = jax.eval_shape(lambda: fn.apply(fn.init(jax.random.key(0), jnp.zeros(input_shape)),
                                            jnp.zeros(input_shape)))
      _check_out("fn", out, input_shape)

      @jax.jit
      def module_deps(k):
        def one(kk):
          kp, kx, ka = jax.random.split(kk, 3)
          x, x_alt = (jax.random.normal(c, input_shape) for c in (kx, ka))
          return _perturb_any(apply, fn.init(kp, x), x, x_alt, n_pos)
        return jnp.any(jax.vmap(one)(jax.random.split(k, num_draws)), 0)

      return np.asarray(module_deps(key))
  elif callable(fn):
    apply = (lambda p, x: fn(x)) if params is None else fn
  else:
    raise ValueError(f"`fn` must be a callable or a flax module; got {type(fn).__name__}.")
  out = jax.eval_shape(lambda x: apply(params, x), jax.ShapeDtypeStruct(input_shape, jnp.float32))
  _check_out("fn", out, input_shape)

  @jax.jit
  def deps(k):
    xs = jax.random.normal(k, (2, num_draws) + input_shape)
    return jnp.any(jax.vmap(lambda x, a: _perturb_any(apply, params, x, a, n_pos))(*xs), 0)

  return np.asarray(deps(key))


def _check_out(name, out, input_shape):
  shape = tuple(getattr(out, "shape", ()))
  if shape[:len(input_shape)] != tuple(input_shape):
    raise ValueError(f"`{name}` returns shape {shape}; an autoregressive check needs an output "
                     f"of shape input_shape + F = {tuple(input_shape)} + F (outputs grouped by "
                     "position).")


def _order(order, n) -> np.ndarray:
  """rank[position] from ``order`` (positions listed first to last); raster by default."""
  if order is None:
    return np.arange(n)
  order = np.asarray(order)
  if order.shape != (n,) or not np.array_equal(np.sort(order), np.arange(n)):
    raise ValueError(f"`order` must be a permutation of the {n} positions (flat indices, first "
                     f"to last); got {order.tolist()[:10]}{'...' if order.size > 10 else ''}.")
  rank = np.empty(n, int)
  rank[order] = np.arange(n)
  return rank


class Report(NamedTuple):
  """What :func:`check_autoregressive` found (flat position indices)."""
  dependencies: np.ndarray   # [P, P] bool
  leaks: list                # (out, in): out depends on in, in not strictly before out
  missing: list              # (out, in): in strictly before out but out does not see it


def check_autoregressive(dep: np.ndarray, order=None) -> Report:
  """Leaks and missing predecessors of a ``[P, P]`` dependency matrix in ``order``."""
  dep = np.asarray(dep, bool)
  if dep.ndim != 2 or dep.shape[0] != dep.shape[1]:
    raise ValueError(f"`dep` must be a square [P, P] matrix; got shape {dep.shape}.")
  rank = _order(order, dep.shape[0])
  before = rank[None, :] < rank[:, None]     # [out, in]: in strictly precedes out
  leaks = list(zip(*[a.tolist() for a in np.nonzero(dep & ~before)]))
  missing = list(zip(*[a.tolist() for a in np.nonzero(~dep & before)]))
  return Report(dep, leaks, missing)
