"""Probes for the q4 mutations of gdm_jax/mutations/q4.py (collected by tests/test_mutations.py):
each evaluates the mutation's target on a small input where the slip shows."""
from gdm_jax import masked_conv as mc


def _gated_field():
  return mc.pixel_field(mc.GatedPixelCNN(num_layers=2, features=1), 4, (3, 2), num_draws=1)


PROBES = {
    "colour_rule_every_tap": lambda: mc.channel_mask("B", 3, 3, 3, groups=3),
    "stack_first_kind_everywhere": lambda: mc.receptive_field(("A", "B"), 5, (3, 3)),
    "gated_no_vertical_link": _gated_field,
    "gated_vertical_sees_own_row": _gated_field,
}
