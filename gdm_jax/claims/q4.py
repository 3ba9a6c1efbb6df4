r"""Q4 claims: receptive fields of masked stacks, read off the network's own Jacobian."""
from __future__ import annotations

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


def check_colour(key, cfg: Config) -> Evidence:
  size, ch = 4, 3
  dep = mc.stack_dependencies(("A", "B", "B"), size, channels=ch, features=6, groups=3)
  violations = len(mc.autoregressive_violations(dep))
  # Within one pixel: G must see R, B must see R and G (and A-first makes R see none of them).
  p = 5  # pixel (2, 2)
  blk = dep[p * ch:(p + 1) * ch, p * ch:(p + 1) * ch]
  expected = np.tril(np.ones((ch, ch), bool), k=-1)
  missing = int(np.sum(expected & ~blk))
  return Evidence(violations + missing, 0, 0, "==", "exact",
                  f"R,G,B masks (A,B,B; 4 x 4 x 3): {violations} violations of raster-then-RGB "
                  f"order, {missing} missing within-pixel links; within-pixel block:\n"
                  f"{blk.astype(int)}", effect=1, effect_what="one dependency")


CLAIMS = [
    *[Claim(f"q4.field_{a}{b}", f"Q4.{n + 1}", "theorem",
            f"receptive field of 33 under mask {a} then {b} (Jacobian = set propagation)",
            _field_check((a, b)), shares="q4.stacks")
      for n, (a, b) in enumerate(itertools.product("AB", repeat=2))],
    Claim("q4.written_hidden_pixels", "Q4", "theorem",
          "Answer 4: layer 2 at 33 reads hidden 22,23,24,32 (A) and 22,23,24,32,33 (B)",
          check_written_hidden_pixels, shares="q4.stacks"),
    Claim("q4.bb_breaks_autoregression", "Q4.4", "theorem",
          "with B then B, every output (33 too) depends on its own input: violations = oracle's",
          check_bb_breaks, shares="q4.stacks"),
    Claim("q4.a_layer_autoregressive", "Q4", "theorem",
          "stacks with an A layer (A first, or BA) have strictly lower-triangular Jacobians "
          "equal to set propagation (kernels 3 and 5)", check_a_first_autoregressive,
          shares="q4.stacks"),
    Claim("q4.blind_spot", "Q4.2", "theorem",
          "AB's blind spot at 33 equals the set-propagation oracle's (25 among it)",
          check_blind_spot, shares="q4.stacks"),
    Claim("q4.relu_stack_complete", "Q4", "theorem",
          "a width-1 ReLU stack's Jacobian dependencies equal set propagation (no path missed)",
          check_relu_stack),
    Claim("q4.gated_no_blind_spot", "Q4", "theorem",
          "gated PixelCNN (vertical + horizontal stacks) sees every predecessor and nothing else",
          check_gated),
    Claim("q4.colour_channels", "Q4", "theorem",
          "PixelCNN R,G,B masks: autoregressive over (pixel, channel); G sees R, B sees R and G",
          check_colour),
]
