r"""Q4 claims: receptive fields of masked stacks, read off the network's own Jacobian."""
from __future__ import annotations

import functools
import itertools

import numpy as np

from gdm_jax import masked_conv as mc
from gdm_jax.claims.core import Claim, Config, Evidence

SIZE, PIXEL = 5, (3, 3)


def _q4_allowed(kind, i, j, c):
  """Q4's definition, 1-based kernel indices, written out here rather than taken from mc.mask."""
  return i < c or (i == c and (j < c if kind == "A" else j <= c))


def _offsets(kind, kernel_size):
  c = (kernel_size + 1) // 2
  return [(i - c, j - c) for i in range(1, kernel_size + 1) for j in range(1, kernel_size + 1)
          if _q4_allowed(kind, i, j, c)]


def structural_field(masks, size, pixel, kernel_size=3):
  """Independent oracle: set propagation of each layer's allowed offsets, straight from the
  definition in Q4 (no Jacobian, no weights, no call into ``masked_conv``)."""
  frontier = {pixel}
  for kind in reversed(tuple(masks)):  # last layer first: which hidden pixels feed the output
    frontier = {(r + di, s + dj) for (r, s) in frontier for di, dj in _offsets(kind, kernel_size)
                if 1 <= r + di <= size and 1 <= s + dj <= size}
  return tuple(sorted(frontier))


def structural_dependencies(masks, size, kernel_size=3) -> np.ndarray:
  """The oracle's full ``[size^2, size^2]`` dependency matrix (raster order, 1 channel)."""
  dep = np.zeros((size * size, size * size), bool)
  for r in range(1, size + 1):
    for c in range(1, size + 1):
      for (i, j) in structural_field(masks, size, (r, c), kernel_size):
        dep[(r - 1) * size + c - 1, (i - 1) * size + j - 1] = True
  return dep


def structural_blind_spot(masks, size, pixel, kernel_size=3):
  """Raster predecessors of ``pixel`` outside its structural field (the oracle's blind spot)."""
  field = set(structural_field(masks, size, pixel, kernel_size))
  r, c = pixel
  return {(i, j) for i in range(1, size + 1) for j in range(1, size + 1)
          if (i, j) < (r, c) and (i, j) not in field}


def _field_check(masks):
  def check(key, cfg: Config) -> Evidence:
    field = mc.receptive_field(masks, SIZE, PIXEL)
    ref = structural_field(masks, SIZE, PIXEL)
    mismatch = len(set(field) ^ set(ref))
    labels = " ".join(f"{r}{c}" for r, c in field)
    blind = " ".join(f"{r}{c}" for r, c in mc.blind_spot(field, SIZE, PIXEL))
    return Evidence(mismatch, 0, 0, "==", "exact (set equality)",
                    f"field of 33: {labels}; blind spot: {blind or 'none'}\n" +
                    mc.grid(field, SIZE, PIXEL), {"field": field, "grid": mc.grid(field, SIZE,
                                                                                  PIXEL)},
                    effect=1, effect_what="one pixel")
  return check


def check_written_hidden_pixels(key, cfg: Config) -> Evidence:
  """Answer 4: the second layer reads hidden 22, 23, 24, 32 (mask A) and also 33 (mask B)."""
  written = {"A": {(2, 2), (2, 3), (2, 4), (3, 2)}, "B": {(2, 2), (2, 3), (2, 4), (3, 2), (3, 3)}}
  mismatch = sum(len(set(mc.receptive_field((k,), SIZE, PIXEL)) ^ w) for k, w in written.items())
  return Evidence(mismatch, 0, 0, "==", "exact (set equality, one-layer Jacobians)",
                  "one masked layer at 33: A reads 22 23 24 32; B reads 22 23 24 32 33", effect=1,
                  effect_what="one pixel")


def _violations(dep) -> set:
  """Oracle: (out, in) pairs with in >= out in raster order, by a loop over the matrix."""
  n = dep.shape[0]
  return {(i, j) for i in range(n) for j in range(n) if dep[i, j] and j >= i}


def check_bb_breaks(key, cfg: Config) -> Evidence:
  dep = mc.stack_dependencies("BB", SIZE)
  got = set(mc.autoregressive_violations(dep))
  ref = _violations(structural_dependencies("BB", SIZE))
  self_dep = (12, 12) in got  # pixel 33 is index 12 in raster order
  return Evidence(len(got ^ ref), 0, 0, "==", "exact (set equality)",
                  f"B then B: {len(got)} violations found by autoregressive_violations on the "
                  f"Jacobian (every output depends on itself), oracle {len(ref)}; output 33 depends "
                  f"on input 33: {self_dep}", effect=len(ref),
                  effect_what="the number of violations (an all-clear answer misses all of them)")


STACKS = [("A",), ("A", "A"), ("A", "B"), ("A", "B", "B"), ("B", "A")]
KERNELS = (3, 5)


def check_a_first_autoregressive(key, cfg: Config) -> Evidence:
  counts, mismatch = {}, 0
  for k in KERNELS:
    for s in STACKS:
      dep = mc.stack_dependencies(s, SIZE, kernel_size=k)
      ref = structural_dependencies(s, SIZE, k)
      mismatch += int(np.sum(dep != ref))
      counts[f"{''.join(s)} k={k}"] = len(mc.autoregressive_violations(dep))
  return Evidence(mismatch + sum(counts.values()), 0, 0, "==",
                  "exact (Jacobian support = set propagation, entry by entry; no violation)",
                  "violations per stack (full 25 x 25 Jacobian, raster order, kernels 3 and 5): " +
                  ", ".join(f"{k}: {v}" for k, v in counts.items()) +
                  f"; Jacobian entries differing from the oracle: {mismatch}", counts,
                  effect=1, effect_what="one dependency")


def check_blind_spot(key, cfg: Config) -> Evidence:
  field = mc.receptive_field("AB", SIZE, PIXEL)
  got = set(mc.blind_spot(field, SIZE, PIXEL))
  ref = structural_blind_spot("AB", SIZE, PIXEL)
  return Evidence(len(got ^ ref), 0, 0, "==", "exact (set equality with set propagation)",
                  f"blind spot of 33 under A then B: {sorted(got)} (library) vs {sorted(ref)} "
                  "(oracle)", effect=len(ref),
                  effect_what="the size of the blind spot (a 'no blind spot' answer misses it)")


RELU_STACK = ("A", "B", "B", "B", "B", "B")


def check_relu_stack(key, cfg: Config) -> Evidence:
  """A width-1 ReLU stack: at random weights and inputs each unit is dead with probability ~1/2, so
  random draws alone miss most deep paths; the positive structural draw must recover them all."""
  dep = mc.jacobian_dependencies(mc.MaskedStack(RELU_STACK, features=1, activation="relu"), SIZE)
  ref = structural_dependencies(RELU_STACK, SIZE)
  missing, extra = int(np.sum(ref & ~dep)), int(np.sum(dep & ~ref))
  return Evidence(missing + extra, 0, 0, "==", "exact (Jacobian support vs set propagation)",
                  f"6-layer width-1 ReLU stack A,B,B,B,B,B on 5 x 5: {missing} dependencies missed, "
                  f"{extra} spurious, of {int(ref.sum())}", effect=1, effect_what="one dependency")


def check_gated(key, cfg: Config) -> Evidence:
  size = 5
  dep = mc.jacobian_dependencies(mc.GatedPixelCNN(num_layers=4, features=4), size)
  n = size * size
  target = np.tril(np.ones((n, n), bool), k=-1)  # every strict predecessor, nothing else
  mismatch = int(np.sum(dep != target))
  leaks = int(np.sum(dep & ~target))
  return Evidence(mismatch, 0, 0, "==", "exact (Jacobian support vs strict raster predecessors)",
                  f"gated PixelCNN, 4 layers, 5 x 5: {leaks} leaks, {mismatch - leaks} unseen "
                  "predecessors over all 25 outputs", effect=1, effect_what="one dependency")


def _layer_colour_adjacency(kind, size, groups, kernel_size=3) -> np.ndarray:
  """Oracle: ``[P G, P G]`` bool, output node (pixel, group h) reads input node (pixel', g) through
  one masked layer, written from the definitions (Q4's masks; van den Oord et al. 2016's colour
  rule): an open off-centre tap reads every colour of the pixel it covers, the centre reads
  g < h (A) or g <= h (B)."""
  n = size * size
  adj = np.zeros((n * groups, n * groups), bool)
  g = np.arange(groups)
  centre = (g[None, :] < g[:, None]) if kind == "A" else (g[None, :] <= g[:, None])  # [h, g]
  for r in range(size):
    for c in range(size):
      out = (r * size + c) * groups
      for di, dj in _offsets("B", kernel_size):  # B's taps: A's and the centre
        rr, cc = r + di, c + dj
        if not (0 <= rr < size and 0 <= cc < size):
          continue
        inp = (rr * size + cc) * groups
        adj[out:out + groups, inp:inp + groups] = centre if (di, dj) == (0, 0) else True
  return adj


def structural_colour_dependencies(masks, size, groups, kernel_size=3) -> np.ndarray:
  """The oracle's ``[P G, P G]`` dependency matrix of a colour stack (raster order, colour
  fastest): the boolean product of the layers' adjacencies, last layer first."""
  dep = np.eye(size * size * groups, dtype=bool)
  for kind in masks:
    dep = (_layer_colour_adjacency(kind, size, groups, kernel_size).astype(np.int64)
           @ dep.astype(np.int64)) > 0
  return dep


COLOUR_STACK, COLOUR_SIZE, COLOURS = ("A", "B", "B"), 4, 3


def check_colour(key, cfg: Config) -> Evidence:
  size, ch = COLOUR_SIZE, COLOURS
  dep = mc.stack_dependencies(COLOUR_STACK, size, channels=ch, features=6, groups=3)
  ref = structural_colour_dependencies(COLOUR_STACK, size, ch)
  violations = len(mc.autoregressive_violations(dep))
  missing, extra = int(np.sum(ref & ~dep)), int(np.sum(dep & ~ref))
  # Within one pixel: G must see R, B must see R and G (and A-first makes R see none of them).
  p = 5  # pixel (2, 2)
  blk = dep[p * ch:(p + 1) * ch, p * ch:(p + 1) * ch]
  # Across pixels: R at (2, 2) must see all three colours of its left neighbour (2, 1).
  left = dep[p * ch, (p - 1) * ch:p * ch]
  return Evidence(violations + missing + extra, 0, 0, "==",
                  "exact (Jacobian support vs set propagation over (pixel, colour), entry by "
                  "entry; no violation)",
                  f"R,G,B masks (A,B,B; 4 x 4 x 3): {violations} violations of raster-then-RGB "
                  f"order; against the oracle (off-centre taps read every colour, the centre "
                  f"g < h / g <= h) {missing} dependencies missed and {extra} spurious of "
                  f"{int(ref.sum())}; R at (2,2) reads (R,G,B) of (2,1): {left.astype(int)}; "
                  f"within-pixel block:\n{blk.astype(int)}", effect=1,
                  effect_what="one dependency")


# ---------------------------------------------------------------------------------------------
# The blind-spot law: one mask-A layer then L - 1 mask-B layers, kernel k = 2r + 1.

def receptive_window(radius: int, layers: int) -> set:
  """Offsets (di, dj) of the receptive window of an L-layer stack of k x k kernels: the raster
  predecessors among the (2Lr + 1)^2 inputs an unmasked stack would reach, i.e. the rows above
  within Lr (di = -1..-Lr, |dj| <= Lr) and the Lr columns to the left in the pixel's row."""
  n = radius * layers
  return ({(-a, d) for a in range(1, n + 1) for d in range(-n, n + 1)} |
          {(0, d) for d in range(-n, 0)})


def blind_spot_law(radius: int, layers: int) -> set:
  r"""The blind spot of A + (L-1) x B inside the receptive window (derived by hand):

  .. math:: \mathcal{B}(r, L) = \{(-a, d) : 1 \le a \le L - 1,\ r a < d \le L r\},\qquad
            |\mathcal{B}(r, L)| = r \sum_{a=1}^{L-1} (L - a) = \frac{r L (L - 1)}{2}.

  Derivation: an offset is a sum of one A step and L - 1 B steps. A row-0 step moves left by
  1..r (A) or 0..r (B); an up step moves 1..r rows up and -r..r columns. Reaching row -a takes
  u up steps, ceil(a/r) <= u <= min(a, L), so the columns reached in row -a are
  [-Lr, r min(a, L)] (up steps reach +r each, row-0 steps only move left; A can be an up step),
  and row 0 is [-Lr, -1]. The window's row -a spans [-Lr, Lr]: the columns r min(a, L) < d <= Lr
  are missed, r (L - a) of them for a < L and none for a >= L. So kernel 3 gives L(L-1)/2 and
  kernel 5 twice that: the triangle above and to the right of the pixel grows with depth."""
  return {(-a, d) for a in range(1, layers) for d in range(radius * a + 1, radius * layers + 1)}


BS_KERNELS, BS_DEPTHS = (3, 5), tuple(range(1, 7))


def _bs_geometry(kernel_size):
  """One square image per kernel for every depth <= 6: side 12r + 4, output pixel (6r + 2,
  6r + 3), so the deepest window (6r rows above, 6r columns either side) fits with a margin of at
  least one pixel (a field leaking past the window would show) and the pixel is off the diagonal
  (a transposed field would show). The minimum for depth L alone is (Lr + 1) x (2Lr + 1)."""
  r = (kernel_size - 1) // 2
  return r, 12 * r + 4, (6 * r + 2, 6 * r + 3)


@functools.lru_cache(maxsize=None)
def _bs_fields(kernel_size):
  """Per-depth fields of the 6-layer masked stack (A, B x 5) and gated stack at the pixel, one
  compiled program each: pixel_field(layers=True) reads every layer's output."""
  r, size, pixel = _bs_geometry(kernel_size)
  stack = mc.MaskedStack(("A",) + ("B",) * (max(BS_DEPTHS) - 1), features=1, out_features=1,
                         kernel_size=kernel_size)
  gated = mc.GatedPixelCNN(num_layers=max(BS_DEPTHS), features=1, kernel_size=kernel_size)
  return (mc.pixel_field(stack, size, pixel, layers=True, num_draws=2),
          mc.pixel_field(gated, size, pixel, layers=True, num_draws=2))


def check_blind_spot_law(key, cfg: Config) -> Evidence:
  mismatch, rows, gated_bad = 0, [], 0
  wrong_law = 0  # kernel 3's count applied to every kernel: the plausible slip, for the record
  for k in BS_KERNELS:
    r, size, (pr, pc) = _bs_geometry(k)
    stack, gated = _bs_fields(k)
    for L in BS_DEPTHS:
      window = receptive_window(r, L)
      field = {(i - pr, j - pc) for i, j in stack[L - 1]}
      blind = window - field
      law = blind_spot_law(r, L)
      outside = field - window
      mismatch += len(blind ^ law) + len(outside)
      g = {(i - pr, j - pc) for i, j in gated[L - 1]}
      gated_bad += len(window ^ g)
      wrong_law += abs(len(law) - L * (L - 1) // 2)
      rows.append(f"k={k} L={L}: {len(blind)} (law {len(law)})")
  return Evidence(mismatch + gated_bad, 0, 0, "==",
                  "exact (set equality: Jacobian field vs the closed form, pixel by pixel)",
                  "blind spot of A + (L-1) x B inside the receptive window, from the flax stack's "
                  "Jacobian (pixel_field, random + structural draws) vs r L (L-1)/2: " +
                  "; ".join(rows) + f". Pixels off the law or outside the window: {mismatch}; "
                  f"gated stack (same kernels and depths) field vs the whole window: {gated_bad} "
                  f"pixels differ. Kernel 3's law L(L-1)/2 applied to kernel 5 would be off by "
                  f"{wrong_law} pixels over these depths.",
                  detects=0.5, effect=1, effect_what="one pixel in one (kernel, depth)")


#: Each field claim's own slips: the mask its pair is about (A with its centre, B without it), and
#: for the mixed pairs a stack that builds every layer with the first layer's mask.
FIELD_MISTAKES = {
    "AA": ("mask_a_leaks_centre",),
    "AB": ("mask_b_excludes_centre", "stack_first_kind_everywhere"),
    "BA": ("mask_a_leaks_centre", "stack_first_kind_everywhere"),
    "BB": ("mask_b_excludes_centre",),
}

CLAIMS = [
    *[Claim(f"q4.field_{a}{b}", f"Q4.{n + 1}", "theorem",
            f"receptive field of 33 under mask {a} then {b} (Jacobian = set propagation)",
            _field_check((a, b)), shares="q4.stacks", mistakes=FIELD_MISTAKES[a + b])
      for n, (a, b) in enumerate(itertools.product("AB", repeat=2))],
    Claim("q4.written_hidden_pixels", "Q4", "theorem",
          "Answer 4: layer 2 at 33 reads hidden 22,23,24,32 (A) and 22,23,24,32,33 (B)",
          check_written_hidden_pixels, shares="q4.stacks",
          mistakes=("mask_a_leaks_centre", "mask_b_excludes_centre")),
    Claim("q4.bb_breaks_autoregression", "Q4.4", "theorem",
          "with B then B, every output (33 too) depends on its own input: violations = oracle's",
          check_bb_breaks, shares="q4.stacks", mistakes=("violations_skip_diagonal",)),
    Claim("q4.a_layer_autoregressive", "Q4", "theorem",
          "stacks with an A layer (A first, or BA) have strictly lower-triangular Jacobians "
          "equal to set propagation (kernels 3 and 5)", check_a_first_autoregressive,
          shares="q4.stacks",
          mistakes=("mask_a_leaks_centre", "mask_a_row_below", "mask_rows_above_one")),
    Claim("q4.blind_spot", "Q4.2", "theorem",
          "AB's blind spot at 33 equals the set-propagation oracle's (25 among it)",
          check_blind_spot, shares="q4.stacks", mistakes=("blind_spot_off_by_one",)),
    Claim("q4.relu_stack_complete", "Q4", "theorem",
          "a width-1 ReLU stack's Jacobian dependencies equal set propagation (no path missed)",
          check_relu_stack, mistakes=("jacobian_no_structural_draw",)),
    Claim("q4.gated_no_blind_spot", "Q4", "theorem",
          "gated PixelCNN (vertical + horizontal stacks) sees every predecessor and nothing else",
          check_gated, mistakes=("gated_horizontal_sees_centre", "gated_no_vertical_link",
                                 "gated_vertical_sees_own_row")),
    Claim("q4.blind_spot_law", "Q4.2", "theorem",
          "A + (L-1) x B with kernel 2r+1 misses r L (L-1)/2 predecessors in its receptive window "
          "(Jacobian = closed form, k = 3, 5, L = 1..6); the gated stack misses none",
          check_blind_spot_law, mistakes=("pixel_field_transposed", "mask_rows_above_one")),
    Claim("q4.colour_channels", "Q4", "theorem",
          "PixelCNN R,G,B masks: the Jacobian over (pixel, colour) equals set propagation (off-"
          "centre taps read every colour; at the centre G sees R, B sees R and G)",
          check_colour, mistakes=("channel_mask_a_le", "colour_rule_every_tap")),
]
