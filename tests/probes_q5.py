"""Probes for the q5 mutations of gdm_jax/mutations/q5.py (collected by tests/test_mutations.py):
each evaluates the mutation's target on a small float64 input where the slip shows."""
import jax
import jax.numpy as jnp

from gdm_jax import gan

F64 = jnp.float64
_L1, _L0 = jnp.array([1.5, -0.3, 0.7], F64), jnp.array([-2.0, 0.4], F64)


def _disc():
  x1 = jax.random.normal(jax.random.key(1), (32, 1), F64) + 1.0
  x0 = jax.random.normal(jax.random.key(2), (32, 1), F64)
  return gan.train_discriminator(jax.random.key(3), x1, x0, 16, steps=3, batch=8, hidden=4)


PROBES = {
    "objective_terms_swapped": lambda: gan.gan_objective_terms(
        jnp.array([0.3, -1.2, 2.0], jnp.float64), jnp.array([1.1, -0.4], jnp.float64)),
    "objective_terms_d_for_p0": lambda: gan.gan_objective_terms(_L1, _L0),
    "discriminator_labels_swapped": _disc,
    "discriminator_updates_not_applied": _disc,
}
