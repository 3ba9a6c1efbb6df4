"""gdm_jax.experiments.q4_masks's helper: the blind spot of A-then-B stacks versus depth."""
from gdm_jax.experiments import q4_masks


def test_blind_spot_vs_depth_shrinks_but_never_closes():
  rows = q4_masks.blind_spot_vs_depth(size=6, max_layers=3)
  unseen = [r[1] for r in rows]
  assert unseen[0] >= unseen[1] >= unseen[2] > 0
