r"""Planted mistakes against the q4.* claims: Q4 (masked convolutions).

See :mod:`gdm_jax.mutations`. Each is named by the claims whose ``mistakes`` list it; ``scope``
is the glob the whole-catalogue ``gdm-jax mutate`` reruns."""
from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gdm_jax.mutations import _MC, Mutation


def _leaky_mask_a(orig):
  def mask(kind, kernel_size=3):
    return orig("B", kernel_size)  # type A lets the centre through
  return mask


def _flipped_kernel(orig):
  def channel_mask(kind, kernel_size, in_features, out_features, groups=1):
    return orig(kind, kernel_size, in_features, out_features, groups)[::-1, ::-1].copy()
  return channel_mask


def _mask_b_excludes_centre(orig):
  return lambda kind, kernel_size=3: orig("A", kernel_size)


def _mask_rows_above_one(orig):
  def mask(kind, kernel_size=3):
    m = orig(kind, kernel_size).copy()
    c = (m.shape[0] + 1) // 2  # 1-based centre
    m[:max(c - 2, 0)] = 0.0   # only the row directly above (i = c - 1): kernel 3 is unchanged
    return m
  return mask


def _pixel_field_transposed(orig):
  def pixel_field(module, size, pixel, channels=1, num_draws=3, seed=0, layers=False):
    out = orig(module, size, pixel, channels, num_draws, seed, layers)
    flip = lambda f: tuple(sorted((j, i) for i, j in f))  # (col, row) for (row, col)
    return tuple(flip(f) for f in out) if layers else flip(out)
  return pixel_field


def _mask_a_row_below(orig):
  def mask(kind, kernel_size=3):
    m = orig(kind, kernel_size)
    if kind == "A" and m.shape[0] > 1:
      c = (m.shape[0] + 1) // 2  # 1-based centre
      m = m.copy()
      m[c, :c - 1] = 1.0  # row c + 1 (1-based), columns j < c: an off-by-one in the row test
    return m
  return mask


def _channel_mask_a_le(orig):
  # For groups > 1 the centre is rewritten by the group rule and the off-centre A and B masks
  # agree, so mask B's channel rule g <= h is the whole slip.
  def channel_mask(kind, kernel_size, in_features, out_features, groups=1):
    return orig("B" if groups > 1 else kind, kernel_size, in_features, out_features, groups)
  return channel_mask


class _GatedPixelCNNSeesCentre(nn.Module):
  """``masked_conv.GatedPixelCNN`` whose first horizontal layer sees the centre column."""
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
    hmask_first = (cols <= c).astype(np.float32)  # the slip: < c
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
    return nn.Conv(x.shape[-1], (1, 1))(jax.nn.relu(h))


def _gated_sees_centre(orig):
  return _GatedPixelCNNSeesCentre


def _violations_skip_diagonal(orig):
  def autoregressive_violations(dep):
    i, j = np.nonzero(np.triu(dep, k=1))  # the diagonal (a pixel on itself) not counted
    return list(zip(i.tolist(), j.tolist()))
  return autoregressive_violations


def _blind_spot_off_by_one(orig):
  def blind_spot(field, size, pixel):
    r, c = int(pixel[0]), int(pixel[1])
    preds = [(i, j) for i in range(1, size + 1) for j in range(1, size + 1)
             if (i - 1) * size + j <= (r - 1) * size + c]  # <= : the pixel precedes itself
    s = set(field)
    return tuple(p for p in preds if p not in s)
  return blind_spot


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _random_draws_only(module, x_shape, num_draws, key):
  def init(k):
    kp, kx = jax.random.split(k)
    x = jax.random.normal(kx, x_shape)
    return module.init(kp, x), x

  keys = jax.vmap(lambda n: jax.random.fold_in(key, n))(jnp.arange(num_draws))
  params, xs = jax.vmap(init)(keys)

  def nonzero(p, x):
    f = lambda inp: module.apply(p, inp.reshape(x_shape)).reshape(-1)
    return jax.jacfwd(f)(x.reshape(-1)) != 0

  return jnp.any(jax.vmap(nonzero)(params, xs), axis=0)


def _no_structural_draw(orig):
  def jacobian_dependencies(module, size, channels=1, num_draws=3, seed=0):
    return np.asarray(_random_draws_only(module, (1, size, size, channels), num_draws,
                                         jax.random.key(seed)))
  return jacobian_dependencies




def _colour_rule_every_tap(orig):
  # PixelCNN's colour rule (input group g feeds output group h iff g < h, A, or g <= h, B) belongs
  # to the centre tap only: off-centre taps read pixels already generated, in every colour. Here
  # the rule is multiplied into every open tap of the spatial mask.
  def channel_mask(kind, kernel_size, in_features, out_features, groups=1):
    full = orig(kind, kernel_size, in_features, out_features, groups)
    if groups == 1:
      return full
    c = full.shape[0] // 2
    return (full * full[c, c][None, None]).astype(full.dtype)  # every open tap times the rule
  return channel_mask


def _stack_first_kind(orig):
  class MaskedStack(orig):
    """``masked_conv.MaskedStack`` that builds every layer with the first layer's mask kind."""

    @nn.compact
    def __call__(self, x):
      from gdm_jax import masked_conv as mc
      for n, _ in enumerate(self.kinds):
        last = n == len(self.kinds) - 1
        x = mc.MaskedConv(self.out_features if last else self.features, self.kinds[0],
                          self.kernel_size, self.groups)(x)  # the slip: kinds[0] for kinds[n]
        self.sow("intermediates", "layers", x)
        if not last:
          x = jax.nn.relu(x) if self.activation == "relu" else jnp.tanh(x)
      return x
  return MaskedStack


def _gated(link: bool = True, v_first_own_row: bool = False):
  """``masked_conv.GatedPixelCNN`` with one slip: no 1 x 1 link from the vertical to the
  horizontal stack (``link=False``: the horizontal stack sees only its own row), or a first
  vertical layer that sees its own row (``v_first_own_row``: rows <= c, the right of the pixel
  included, reaches the horizontal stack through the link)."""
  def factory(orig):
    class GatedPixelCNN(nn.Module):
      num_layers: int = 4
      features: int = 4
      kernel_size: int = 3

      @nn.compact
      def __call__(self, x):
        k = self.kernel_size
        c = k // 2
        rows = np.arange(k)[:, None]
        vmask_first = np.broadcast_to((rows <= c) if v_first_own_row else (rows < c),
                                      (k, k)).astype(np.float32)
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
          h_pre = conv(h, hmask_first if first else hmask_rest, (1, k))
          if link:
            h_pre = h_pre + nn.Conv(2 * f, (1, 1))(v_pre)
          v = gate(v_pre)
          h_new = nn.Dense(f)(gate(h_pre))
          h = h_new if first else h + h_new
          self.sow("intermediates", "layers", h)
        return nn.Conv(x.shape[-1], (1, 1))(jax.nn.relu(h))
    return GatedPixelCNN
  return factory


MUTATIONS: tuple[Mutation, ...] = (
    Mutation("mask_a_leaks_centre", "mask A lets the centre pixel through",
             (("gdm_jax.masked_conv", "mask", _leaky_mask_a),), "q4.*"),
    Mutation("kernel_flipping", "masks applied to a flipped kernel (true convolution)",
             (("gdm_jax.masked_conv", "channel_mask", _flipped_kernel),), "q4.*"),
    Mutation("mask_b_excludes_centre", "mask B without the centre pixel (B = A)",
             ((_MC, "mask", _mask_b_excludes_centre),), "q4.*"),
    Mutation("mask_a_row_below", "mask A also opens the row below, left of the centre",
             ((_MC, "mask", _mask_a_row_below),), "q4.*"),
    Mutation("mask_rows_above_one", "masks open only the row directly above the centre "
             "(right for kernel 3, wrong for 5)", ((_MC, "mask", _mask_rows_above_one),), "q4.*"),
    Mutation("pixel_field_transposed", "a pixel's field read as (col, row)",
             ((_MC, "pixel_field", _pixel_field_transposed),), "q4.blind_spot_law"),
    Mutation("channel_mask_a_le", "colour groups: A lets g <= h through at the centre",
             ((_MC, "channel_mask", _channel_mask_a_le),), "q4.*"),
    Mutation("gated_horizontal_sees_centre", "gated PixelCNN: first horizontal layer sees the "
             "centre", ((_MC, "GatedPixelCNN", _gated_sees_centre),), "q4.*"),
    Mutation("violations_skip_diagonal", "autoregressive check with triu(k=1): self-dependence "
             "not counted", ((_MC, "autoregressive_violations", _violations_skip_diagonal),),
             "q4.*"),
    Mutation("blind_spot_off_by_one", "raster predecessors with <=: a pixel precedes itself",
             ((_MC, "blind_spot", _blind_spot_off_by_one),), "q4.*"),
    Mutation("jacobian_no_structural_draw", "dependencies from random draws only (no positive "
             "structural draw)", ((_MC, "jacobian_dependencies", _no_structural_draw),), "q4.*"),
    Mutation("colour_rule_every_tap", "colour groups: the centre's rule g < h (A) / g <= h (B) "
             "applied at every open kernel tap, not only the centre",
             ((_MC, "channel_mask", _colour_rule_every_tap),), "q4.colour_channels"),
    Mutation("stack_first_kind_everywhere", "MaskedStack builds every layer with the first "
             "layer's mask (A then B is A then A)", ((_MC, "MaskedStack", _stack_first_kind),),
             "q4.*"),
    Mutation("gated_no_vertical_link", "gated PixelCNN without the 1 x 1 link from the vertical "
             "stack (the horizontal stack sees only its own row)",
             ((_MC, "GatedPixelCNN", _gated(link=False)),), "q4.*"),
    Mutation("gated_vertical_sees_own_row", "gated PixelCNN: the first vertical layer sees its "
             "own row (rows <= c), so the link leaks the pixel and its right",
             ((_MC, "GatedPixelCNN", _gated(v_first_own_row=True)),), "q4.*"),
)
