"""masked_conv.py: masks vs the definition of Q4; Jacobian dependencies vs an independent
set-propagation oracle written here (no Jacobians, no weights)."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from gdm_jax import masked_conv as mc


def oracle_field(masks, size, pixel, k):
  """Dependency propagation written independently of the library: walk layers backwards."""
  c = (k + 1) // 2  # 1-based centre
  def allowed(kind, i, j):  # 1-based kernel indices, Q4's definition
    return i < c or (i == c and (j < c if kind == "A" else j <= c))
  frontier = {pixel}
  for kind in reversed(masks):
    nxt = set()
    for (r, s) in frontier:
      for i in range(1, k + 1):
        for j in range(1, k + 1):
          rr, ss = r + i - c, s + j - c  # cross-correlation: no flipping
          if allowed(kind, i, j) and 1 <= rr <= size and 1 <= ss <= size:
            nxt.add((rr, ss))
    frontier = nxt
  return tuple(sorted(frontier))


def test_masks_match_q4_definition():
  np.testing.assert_array_equal(mc.mask("A"), [[1, 1, 1], [1, 0, 0], [0, 0, 0]])
  np.testing.assert_array_equal(mc.mask("B"), [[1, 1, 1], [1, 1, 0], [0, 0, 0]])
  m5 = mc.mask("B", 5)
  assert m5[:2].all() and m5[2, :3].all() and not m5[2, 3:].any() and not m5[3:].any()


def test_flax_conv_is_not_flipped():
  # A single A-masked layer must read the pixel to the left, never the one to the right.
  field = mc.receptive_field(("A",), 5, (3, 3))
  assert (3, 2) in field and (3, 4) not in field and (3, 3) not in field


@settings(max_examples=12, deadline=None)
@given(st.lists(st.sampled_from("AB"), min_size=1, max_size=3), st.sampled_from([4, 6]),
       st.integers(1, 6), st.integers(1, 6), st.sampled_from([3, 5]))
def test_jacobian_field_matches_oracle(masks, size, r, c, k):
  pixel = (min(r, size), min(c, size))
  assert mc.receptive_field(masks, size, pixel, k) == oracle_field(masks, size, pixel, k)


def test_violation_helper_reports_bb():
  dep = mc.stack_dependencies("BB", 4)
  v = mc.autoregressive_violations(dep)
  assert v and all(i == j for i, j in v)  # B-B leaks exactly each pixel to itself


def test_blind_spot_grows_with_depth():
  size, pixel = 7, (5, 4)
  sizes = [len(mc.blind_spot(mc.receptive_field("A" + "B" * n, size, pixel), size, pixel))
           for n in range(0, 3)]
  assert sizes[0] > sizes[1] > 0  # deeper stacks see more, yet never the upper-right region


def test_masked_conv_keeps_size_and_channels():
  mod = mc.MaskedConv(6, "A", 3, groups=3)
  x = jnp.ones((2, 5, 5, 3))
  y = mod.apply(mod.init(jax.random.key(0), x), x)
  chex.assert_shape(y, (2, 5, 5, 6))


@pytest.mark.parametrize("call, name", [
    (lambda: mc.mask("C"), "kind"),
    (lambda: mc.mask("A", 4), "kernel_size"),
    (lambda: mc.mask("A", 0), "kernel_size"),
    (lambda: mc.receptive_field((), 5, (3, 3)), "masks"),
    (lambda: mc.receptive_field(("A", "X"), 5, (3, 3)), "masks"),
    (lambda: mc.receptive_field(("A",), 5, (6, 1)), "pixel"),
    (lambda: mc.receptive_field(("A",), 5, (0, 3)), "pixel"),
    (lambda: mc.channel_mask("A", 3, 4, 6, groups=3), "in_features"),
    (lambda: mc.stack_dependencies(("A",), size=0), "size"),          # named `input_shape`
    (lambda: mc.stack_dependencies(("A",), channels=0), "channels"),
    (lambda: mc.stack_dependencies(("A",), features=0), "features"),
])
def test_bad_input(call, name):
  with pytest.raises(ValueError, match=f"`{name}`"):
    call()


def test_pixel_field_matches_the_oracle_per_layer_and_off_diagonal():
  # An off-diagonal pixel near a border (the field is clipped there): every layer's field from
  # one reverse-mode program equals set propagation of that many layers.
  kinds, size, pixel, k = ("A", "B", "B"), 7, (4, 6), 3
  stack = mc.MaskedStack(kinds, features=2, kernel_size=k)
  per_layer = mc.pixel_field(stack, size, pixel, layers=True, num_draws=1)
  assert len(per_layer) == len(kinds)
  for n, field in enumerate(per_layer):
    assert set(field) == set(oracle_field(kinds[:n + 1], size, pixel, k))
  assert mc.pixel_field(stack, size, pixel) == per_layer[-1]
  with pytest.raises(ValueError, match="`pixel`"):
    mc.pixel_field(stack, size, (0, 3))
  with pytest.raises(ValueError, match="`module`"):
    mc.pixel_field(lambda x: x, size, pixel)


def test_blind_spot_law_matches_set_propagation():
  # The closed form r L (L-1)/2 (and its set) against set propagation written here, for kernels
  # 3, 5, 7 and depths 1..6, on an image large enough that nothing is clipped.
  from gdm_jax.claims import q4
  for k in (3, 5, 7):
    r = (k - 1) // 2
    for L in range(1, 7):
      size = 2 * L * r + 3
      p = (L * r + 2, L * r + 2)
      field = {(i - p[0], j - p[1]) for i, j in oracle_field(("A",) + ("B",) * (L - 1), size, p, k)}
      window = q4.receptive_window(r, L)
      assert field <= window
      assert window - field == q4.blind_spot_law(r, L)
      assert len(q4.blind_spot_law(r, L)) == r * L * (L - 1) // 2


def test_colour_oracle_by_hand_and_against_the_library():
  # q4.colour_channels' oracle over (pixel, colour), checked by hand on one layer of a 2 x 2 x 3
  # map (raster order, colour fastest: node (pixel, colour) is 3 pixel + colour), then against
  # the library's Jacobian for the claim's stack and a second one.
  from gdm_jax.claims import q4
  a = q4.structural_colour_dependencies(("A",), 2, 3)
  assert a[3 * 1 + 0, 0:3].all()                  # R at (1,2) reads R, G, B of (1,1)
  assert not a[3 * 0:3 * 1, 3 * 0:3 * 1][0].any()  # R at (1,1) reads nothing of its own pixel
  assert a[1, 0] and not a[1, 1] and not a[1, 2]   # G reads R only (A: g < h)
  assert a[2, 0] and a[2, 1] and not a[2, 2]       # B reads R and G
  b = q4.structural_colour_dependencies(("B",), 2, 3)
  assert b[1, 1] and not b[1, 2] and b[2, 2]        # B: g <= h at the centre
  assert not a[0, 3:].any()                         # nothing to the right of (1,1)
  for stack in (q4.COLOUR_STACK, ("A", "B")):
    dep = mc.stack_dependencies(stack, 3, channels=3, features=6, groups=3)
    assert np.array_equal(dep, q4.structural_colour_dependencies(stack, 3, 3))
