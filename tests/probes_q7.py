"""Probes for gdm_jax/mutations/q7.py's newer mistakes (collected by tests/test_mutations.py): an
uneven grid and a q that is not uniform."""
import jax.numpy as jnp
import numpy as np

from gdm_jax import divergences as dv

_X = jnp.asarray(2.0 * np.sinh(np.linspace(-2.5, 2.5, 41)), jnp.float64)
_LP = -0.5 * _X ** 2 - 0.5 * np.log(2 * np.pi)
_LQ = -0.5 * ((_X - 1.0) / 2.0) ** 2 - np.log(2.0) - 0.5 * np.log(2 * np.pi)

PROBES = {
    "kl_quadrature_drops_q_weight": lambda: dv.kl_quadrature(_LP, _LQ, _X),
    "kl_quadrature_cross_term_sign": lambda: dv.kl_quadrature(_LP, _LQ, _X),
    "trapezoid_even_spacing": lambda: dv.trapezoid_weights(_X),
}
