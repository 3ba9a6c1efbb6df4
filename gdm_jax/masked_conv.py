r"""Q4: masked convolutions and the dependency graph they induce.

Masks of Q4 (1-based kernel indices :math:`i` = row, :math:`j` = column, centre :math:`c =
(k+1)/2`; :math:`c = 2` for the ``3 x 3`` kernel of the problem set), applied by elementwise
multiplication with the kernel, with no kernel flipping (cross-correlation, as ``flax.linen.Conv``
computes):

.. math::
   M^A_{ij} = [i < c] + [i = c,\ j < c], \qquad M^B_{ij} = [i < c] + [i = c,\ j \le c].

Dependencies are read off the network's own Jacobian (``jax.jacfwd``), never from a formula:
an output depends on an input iff some entry of :math:`\partial\,\mathrm{out} / \partial\,
\mathrm{in}` is non-zero. Accidental zeros (cancelling weights) are ruled out by taking the union
over several random weight draws *and* a structural draw with strictly positive weights at a zero
input, where every path contributes a positive product, so no sum can cancel.
"""
from __future__ import annotations

import functools
import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


Array = jax.Array
KINDS = ("A", "B")


def _check_kind(kind) -> str:
  if kind not in KINDS:
    raise ValueError(f"`kind` must be 'A' or 'B' (the masks of Q4); got {kind!r}.")
  return kind


def _check_kernel_size(kernel_size) -> int:
  if isinstance(kernel_size, bool) or not isinstance(kernel_size, (int, np.integer)) or \
      kernel_size < 1 or kernel_size % 2 == 0:
    raise ValueError(f"`kernel_size` must be an odd positive int (the mask needs a centre); got "
                     f"{kernel_size!r}.")
  return int(kernel_size)


def _check_count(name, value, minimum=1) -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
    raise ValueError(f"`{name}` must be an int >= {minimum}; got {value!r}.")
  return int(value)


def mask(kind: str, kernel_size: int = 3) -> np.ndarray:
  r"""The ``k x k`` mask :math:`M^A` or :math:`M^B` of Q4 (0/1 floats, row-major, no flipping)."""
  _check_kind(kind)
  k = _check_kernel_size(kernel_size)
  c = (k + 1) // 2
  i = np.arange(1, k + 1)[:, None]
  j = np.arange(1, k + 1)[None, :]
  centre_row = (i == c) & ((j < c) if kind == "A" else (j <= c))
  return ((i < c) | centre_row).astype(np.float32)


def channel_mask(kind: str, kernel_size: int, in_features: int, out_features: int,
                 groups: int = 1) -> np.ndarray:
  r"""Mask of shape ``[k, k, in, out]`` (flax's HWIO kernel layout).

  With ``groups = 3`` (PixelCNN colour channels, van den Oord et al. 2016) features are split
  into R, G, B blocks; at the centre position input group :math:`g` may feed output group
  :math:`h` iff :math:`g < h` (type A) or :math:`g \le h` (type B). Off-centre positions follow
  :func:`mask`.
  """
  m = mask(kind, kernel_size)
  in_features = _check_count("in_features", in_features)
  out_features = _check_count("out_features", out_features)
  groups = _check_count("groups", groups)
  k = m.shape[0]
  c = k // 2
  full = np.broadcast_to(m[:, :, None, None], (k, k, in_features, out_features)).copy()
  if groups > 1:
    for name, f in (("in_features", in_features), ("out_features", out_features)):
      if f % groups:
        raise ValueError(f"`{name}` ({f}) must be a multiple of `groups` ({groups}).")
    gi = np.arange(in_features) // (in_features // groups)
    go = np.arange(out_features) // (out_features // groups)
    allowed = (gi[:, None] < go[None, :]) if kind == "A" else (gi[:, None] <= go[None, :])
    full[c, c] = allowed.astype(np.float32)
  return full


class MaskedConv(nn.Module):
  """A same-size ``k x k`` convolution whose kernel is multiplied by a Q4 mask (flax ``Conv``)."""
  features: int
  kind: str
  kernel_size: int = 3
  groups: int = 1

  @nn.compact
  def __call__(self, x):  # x: [N, H, W, C]
    m = channel_mask(self.kind, self.kernel_size, x.shape[-1], self.features, self.groups)
    return nn.Conv(self.features, (self.kernel_size, self.kernel_size), padding="SAME",
                   mask=jnp.asarray(m, x.dtype))(x)


class MaskedStack(nn.Module):
  """A stack of masked convolutions, e.g. ``kinds=("A", "B")`` (Q4's two-layer network), with
  ``activation`` ("tanh" or "relu") between layers."""
  kinds: Sequence[str]
  features: int = 1
  out_features: int = 1
  kernel_size: int = 3
  groups: int = 1
  activation: str = "tanh"

  @nn.compact
  def __call__(self, x):
    for n, kind in enumerate(self.kinds):
      last = n == len(self.kinds) - 1
      x = MaskedConv(self.out_features if last else self.features, kind, self.kernel_size,
                     self.groups)(x)
      self.sow("intermediates", "layers", x)  # each layer's output (pixel_field(layers=True))
      if not last:
        x = jax.nn.relu(x) if self.activation == "relu" else jnp.tanh(x)
    return x


class GatedPixelCNN(nn.Module):
  r"""Gated PixelCNN (van den Oord et al. 2016): vertical and horizontal stacks, no blind spot.

  Vertical stack: ``k x k`` kernels seeing rows strictly above (first layer) or at/above (later
  layers, whose inputs already only carry rows above). Horizontal stack: ``1 x k`` kernels seeing
  columns to the left (first layer) or left and centre (later), plus a ``1 x 1`` link from the
  vertical stack at the same position, a residual connection, and gates
  :math:`\tanh(a) \odot \sigma(b)`.
  """
  num_layers: int = 4
  features: int = 4
  kernel_size: int = 3

  @nn.compact
  def __call__(self, x):
    k = self.kernel_size
    c = k // 2
    rows = np.arange(k)[:, None]
    vmask_first = np.broadcast_to((rows < c), (k, k)).astype(np.float32)
    vmask_rest = np.broadcast_to((rows <= c), (k, k)).astype(np.float32)
    cols = np.arange(k)[None, :]
    hmask_first = (cols < c).astype(np.float32)
    hmask_rest = (cols <= c).astype(np.float32)
    f = self.features

    def conv(h, m, shape):
      mm = np.broadcast_to(m[:, :, None, None], shape + (h.shape[-1], 2 * f))
      return nn.Conv(2 * f, shape, padding="SAME", mask=jnp.asarray(mm, h.dtype))(h)

    def gate(a):
      return jnp.tanh(a[..., :f]) * jax.nn.sigmoid(a[..., f:])

    v, h = x, x
    for layer in range(self.num_layers):
      first = layer == 0
      v_pre = conv(v, vmask_first if first else vmask_rest, (k, k))
      h_pre = conv(h, hmask_first if first else hmask_rest, (1, k)) + nn.Conv(2 * f, (1, 1))(v_pre)
      v = gate(v_pre)
      h_new = nn.Dense(f)(gate(h_pre))
      h = h_new if first else h + h_new
      self.sow("intermediates", "layers", h)  # the horizontal stack after each layer
    return nn.Conv(x.shape[-1], (1, 1))(jax.nn.relu(h))


# ---------------------------------------------------------------------------------------------
# Dependencies from the Jacobian.

def jacobian_dependencies(module: nn.Module, size: int, channels: int = 1,
                          num_draws: int = 3, seed: int = 0) -> np.ndarray:
  r"""Boolean ``[H W C_out, H W C_in]`` matrix: output ``i`` depends on input ``j`` (raster order,
  channel fastest) iff :math:`\partial\,\mathrm{out}_i/\partial\,\mathrm{in}_j \ne 0` for some draw.

  :func:`gdm_jax.dependencies.jacobian_dependencies` on an input ``[1, size, size, channels]``:
  the union over ``num_draws`` random parameter draws (with random inputs) and one structural
  draw, strictly positive weights in ``params`` at a zero input. There every pre-activation is
  positive, so every factor along a path is positive (masked weights; tanh' > 0, sigmoid' > 0,
  tanh > 0 and relu' = 1 at positive inputs) and each Jacobian entry is a sum of positive
  products: non-zero exactly when a path exists, with no cancellation.
  """
  from gdm_jax import dependencies
  if not isinstance(module, nn.Module):
    raise ValueError(f"`module` must be a flax module; got {type(module).__name__}.")
  size, channels = _check_count("size", size), _check_count("channels", channels)
  seed = _check_count("seed", seed, minimum=0)
  return dependencies.jacobian_dependencies(module, (1, size, size, channels),
                                            num_draws=num_draws, key=jax.random.key(seed))


def _check_stack(masks) -> tuple[str, ...]:
  if isinstance(masks, str):
    masks = tuple(masks)
  masks = tuple(masks)
  if not masks:
    raise ValueError("`masks` is empty; give a stack such as ('A', 'B').")
  for m in masks:
    if m not in KINDS:
      raise ValueError(f"`masks` has unknown mask kind {m!r}; use 'A' or 'B'.")
  return masks


def _check_pixel(pixel, size) -> tuple[int, int]:
  size = _check_count("size", size)
  try:
    pixel = tuple(pixel)
  except TypeError:
    pixel = (pixel,)
  if len(pixel) != 2 or not all(isinstance(p, (int, np.integer)) and not isinstance(p, bool)
                                and 1 <= p <= size for p in pixel):
    raise ValueError(f"`pixel` must be a 1-based (row, col) inside the {size} x {size} map; got "
                     f"{pixel!r}.")
  return int(pixel[0]), int(pixel[1])


def stack_dependencies(masks: Sequence[str], size: int = 5, kernel_size: int = 3,
                       channels: int = 1, features: int = 2, groups: int = 1) -> np.ndarray:
  """Jacobian dependency matrix of a masked stack (random draws + positive structural pass):
  ``[size^2 channels, size^2 channels]``. ``size``, ``channels``, ``features`` and ``groups`` are
  ints >= 1, each checked under its own name."""
  masks = _check_stack(masks)
  _check_kernel_size(kernel_size)
  for name, value in (("size", size), ("channels", channels), ("features", features),
                      ("groups", groups)):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
      raise ValueError(f"`{name}` must be a positive int; got {value!r}.")
  mod = MaskedStack(masks, features, channels, kernel_size, groups)
  return jacobian_dependencies(mod, size, channels)


def receptive_field(masks: Sequence[str], size: int = 5, pixel: tuple[int, int] = (3, 3),
                    kernel_size: int = 3) -> tuple[tuple[int, int], ...]:
  """Sorted 1-based ``(row, col)`` inputs that the output at ``pixel`` depends on."""
  masks = _check_stack(masks)
  if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
    raise ValueError(f"`size` must be a positive int; got {size!r}.")
  r, c = _check_pixel(pixel, size)
  dep = stack_dependencies(masks, size, kernel_size)
  row = dep[(r - 1) * size + (c - 1)]
  return tuple(sorted((j // size + 1, j % size + 1) for j in np.flatnonzero(row)))


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 4, 5))
def _pixel_dependencies(module, size, channels, pixel, num_draws, layers, key):
  """``[n, size, size]`` bool (n = 1, or the number of sown layers): |d out[pixel] / d in| > 0
  somewhere over the draws, one reverse pass per draw and output (``jax.jacrev`` of the output
  pixel's sums over features, one per layer)."""
  from gdm_jax.dependencies import _positive
  shape = (1, size, size, channels)
  r, c = pixel

  def outputs(variables, x):
    if not layers:
      return jnp.sum(module.apply(variables, x)[0, r - 1, c - 1])[None]
    _, state = module.apply(variables, x, mutable=["intermediates"])
    sown = state["intermediates"]["layers"]
    return jnp.stack([jnp.sum(h[0, r - 1, c - 1]) for h in sown])

  def seen(variables, x):
    g = jax.jacrev(lambda x: outputs(variables, x))(x)       # [n, 1, size, size, channels]
    return jnp.any(g[:, 0] != 0, axis=-1)

  # Parameters drawn as one flat normal vector (scaled by 1/2) cut to the module's shapes: a
  # single random draw compiles far faster than the module's own initialisers (one per array).
  spec = jax.eval_shape(lambda: module.init(jax.random.key(0), jnp.zeros(shape)))["params"]
  leaves, tree = jax.tree_util.tree_flatten(spec)
  sizes = [math.prod(a.shape) for a in leaves]

  def init(k):
    kp, kx = jax.random.split(k)
    flat = 0.5 * jax.random.normal(kp, (sum(sizes),))
    parts = jnp.split(flat, np.cumsum(sizes)[:-1].tolist())
    params = jax.tree_util.tree_unflatten(tree, [a.reshape(leaf.shape).astype(leaf.dtype)
                                                 for a, leaf in zip(parts, leaves)])
    return {"params": params}, jax.random.normal(kx, shape)

  keys = jax.vmap(lambda n: jax.random.fold_in(key, n))(jnp.arange(num_draws))
  variables, xs = jax.vmap(init)(keys)
  first = jax.tree_util.tree_map(lambda a: a[0], variables)
  # the structural draw joins the random ones in one vmapped program (traced and compiled once)
  variables = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b[None]]), variables,
                                     {"params": _positive(first["params"])})
  xs = jnp.concatenate([xs, jnp.zeros((1,) + shape, xs.dtype)])
  return jnp.any(jax.vmap(seen)(variables, xs), 0)


def pixel_field(module: nn.Module, size: int, pixel: tuple[int, int], channels: int = 1,
                num_draws: int = 3, seed: int = 0, layers: bool = False):
  r"""Sorted 1-based ``(row, col)`` inputs that the output at ``pixel`` of ``module`` depends on:

  .. math:: \{\, j : \partial\,\mathrm{out}_{\mathrm{pixel}, f} /
     \partial\,\mathrm{in}_{j, c} \ne 0 \text{ for some feature } f, \text{ channel } c
     \text{ and draw} \,\}

  by reverse mode (``jax.jacrev`` of that one output pixel) per draw, instead of the full
  ``[P, P]`` Jacobian of :func:`jacobian_dependencies` (whose row it equals): the union over
  ``num_draws`` random parameter draws at random inputs and the structural draw (strictly positive
  ``params`` at a zero input, where no sum of path products can cancel; see the module
  docstring). One compiled program per (module, size, channels, pixel, num_draws, layers).

  With ``layers=True`` the fields of every layer's output at ``pixel``, in order, from one
  program: the values the module sows in ``"intermediates"`` under ``"layers"`` (each masked
  convolution's output in :class:`MaskedStack`, whose first ``l`` layers are the ``l``-layer
  stack; the horizontal stack after each layer in :class:`GatedPixelCNN`).

  Args:
    module: a flax module mapping ``[1, size, size, channels]`` to ``[1, size, size, F]`` (e.g.
      :class:`MaskedStack`, :class:`GatedPixelCNN`).
    size: the side of the square input, an int >= 1.
    pixel: 1-based ``(row, col)`` of the output.
  Returns:
    a tuple of ``(row, col)``; with ``layers=True`` a tuple of them, one per layer.
  """
  if not isinstance(module, nn.Module):
    raise ValueError(f"`module` must be a flax module; got {type(module).__name__}.")
  if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
    raise ValueError(f"`size` must be a positive int; got {size!r}.")
  pixel = _check_pixel(pixel, size)
  for name, n in (("channels", channels), ("num_draws", num_draws)):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
      raise ValueError(f"`{name}` must be a positive int; got {n!r}.")
  seed = _check_count("seed", seed, minimum=0)
  shape = (1, int(size), int(size), int(channels))
  out, state = jax.eval_shape(lambda: module.apply(module.init(jax.random.key(0),
                                                               jnp.zeros(shape)),
                                                   jnp.zeros(shape), mutable=["intermediates"]))
  if tuple(out.shape[:3]) != shape[:3]:
    raise ValueError(f"`module` maps {shape} to {tuple(out.shape)}; a pixel's field needs an "
                     f"output of shape {shape[:3]} + (features,).")
  if layers and "layers" not in state.get("intermediates", {}):
    raise ValueError("`layers` = True needs a module that sows its layers' outputs "
                     "(self.sow('intermediates', 'layers', h)), as MaskedStack does.")
  dep = np.asarray(_pixel_dependencies(module, int(size), int(channels), pixel, int(num_draws),
                                       bool(layers), jax.random.key(seed)))
  fields = tuple(tuple((int(i) + 1, int(j) + 1) for i, j in zip(*np.nonzero(d))) for d in dep)
  return fields if layers else fields[0]


def autoregressive_violations(dep: np.ndarray) -> list[tuple[int, int]]:
  """Entries ``(out, in)`` with ``in >= out`` in raster order: the Jacobian must be strictly
  lower-triangular. ``dep`` is a square ``[P, P]`` position matrix; for several outputs per
  position or another order use :func:`gdm_jax.dependencies.check_autoregressive`."""
  dep = np.asarray(dep)
  if dep.ndim != 2 or dep.shape[0] != dep.shape[1]:
    raise ValueError(f"`dep` must be a square [P, P] dependency matrix; got shape {dep.shape}. "
                     "Group several outputs per position first (gdm_jax.dependencies."
                     "jacobian_dependencies does).")
  i, j = np.nonzero(np.triu(dep, k=0))
  return list(zip(i.tolist(), j.tolist()))


def blind_spot(field: Sequence[tuple[int, int]], size: int, pixel: tuple[int, int]):
  """Raster-order predecessors of ``pixel`` that are not in ``field``."""
  r, c = _check_pixel(pixel, size)
  preds = [(i, j) for i in range(1, size + 1) for j in range(1, size + 1)
           if (i - 1) * size + j < (r - 1) * size + c]
  s = set(field)
  return tuple(p for p in preds if p not in s)


def grid(field: Sequence[tuple[int, int]], size: int = 5, pixel: tuple[int, int] | None = None
         ) -> str:
  """A text grid: the problem set's labels ``rc`` for the field, ``..`` elsewhere, ``[]`` at
  ``pixel`` when it is not in the field."""
  size = _check_count("size", size)
  s = set(field)
  lines = []
  for i in range(1, size + 1):
    row = []
    for j in range(1, size + 1):
      row.append(f"{i}{j}" if (i, j) in s else ("[]" if pixel == (i, j) else ".."))
    lines.append(" ".join(row))
  return "\n".join(lines)
