r"""Planted mistakes against the q4.* claims (see :mod:`gdm_jax.mutations`).

Each is a plausible slip in :mod:`gdm_jax.masked_conv` that one q4 claim is about: the colour rule
applied at every kernel tap (``q4.colour_channels``), a stack that reuses its first layer's mask
(``q4.field_AB``, ``q4.field_BA``), a gated stack whose horizontal stack is never fed by the
vertical one, or whose first vertical layer sees its own row (``q4.gated_no_blind_spot``).
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gdm_jax.mutations import Mutation

_MC = "gdm_jax.masked_conv"


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
