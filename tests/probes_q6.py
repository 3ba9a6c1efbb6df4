"""Probes for the mutations of gdm_jax/mutations/q6.py (collected by tests/test_mutations.py)."""
import jax
import jax.numpy as jnp
import numpy as np

from gdm_jax import kl_bounds as kb
from gdm_jax.claims import densities as ds

F64 = jnp.float64
_GRID = jnp.linspace(-3.0, 4.0, 71, dtype=F64)
_LP = -0.5 * _GRID ** 2 - 0.5 * np.log(2 * np.pi)
_LQ = -0.5 * ((_GRID - 1.0) / 1.5) ** 2 - np.log(1.5) - 0.5 * np.log(2 * np.pi)
_T = _LP - _LQ + 0.5 + 0.3 * jnp.sin(_GRID)

PROBES = {
    "r1_log_branch_geometric": lambda: kb.r1(
        jnp.array([1.0, 2.0], jnp.float32), 87.0 + jnp.sin(jnp.arange(1000.0, dtype=jnp.float32))),
    "r1_quadrature_is_r2": lambda: kb.r1_quadrature(_T, _LP, _LQ, _GRID),
    "r2_quadrature_is_r1": lambda: kb.r2_quadrature(_T, _LP, _LQ, _GRID),
    "r2_quadrature_jensen": lambda: kb.r2_quadrature(_T, _LP, _LQ, _GRID),
    "tilted_without_log_q": lambda: kb.tilted_log_density(_T, _LQ, _GRID),
    "tilted_r1_normaliser": lambda: kb.tilted_log_density(_T, _LQ, _GRID),
    "log_expectation_no_weights": lambda: kb.log_expectation_quadrature(_T, _LQ, _GRID),
    "critic_always_r1": lambda: kb.train_critic(jax.random.key(4), ds.sample_p6, ds.sample_q6,
                                                "r2", steps=3, batch=8, hidden=4)[1],
}
PROBES.update({
    "r1_quadrature_conjugate_of_t_minus_one": lambda: kb.r1_quadrature(_T, _LP, _LQ, _GRID),
    "r2_log_m_plus_one": lambda: kb.r2(_T[:5], _T[5:12]),
})
