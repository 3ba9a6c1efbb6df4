"""Probes for gdm_jax/mutations/q3.py (collected by tests/test_mutations.py)."""
import jax
import jax.numpy as jnp

from gdm_jax import bounds, models

_F64 = jnp.float64
_LW = jnp.array([0.3, -1.2, 2.0, 0.5, -0.1], _F64)
_Z = jnp.array([[0.4, -1.3], [2.0, 0.1]], _F64)

_LG = models.LinearGaussian(jnp.array([[1.0, 0.5], [-0.3, 0.8], [0.2, -1.1]], _F64),
                            jnp.array([0.1, 0.2, -0.3], _F64), jnp.asarray(0.7, _F64))

def _chunked_far():
  prop = bounds.diag_gaussian_proposal(jnp.zeros(1, _F64), jnp.ones(1, _F64))
  return bounds.iwae_estimate(jax.random.key(1), lambda z: -1000.0 - 0.5 * z[:, 0] ** 2, prop, 8, 4)


def _bernoulli():
  from gdm_jax import vae
  return vae.bernoulli_log_prob(jnp.array([1.0, 0.0, 1.0, 0.0], _F64),
                                jnp.array([40.0, -40.0, -100.0, 0.5], _F64))


def _nonlinear(method):
  model = models.NonlinearModel.create(jax.random.key(2), data_dim=3, hidden=4, dtype=_F64)
  x = jnp.array([0.4, -1.1, 0.8], _F64)
  if method == "log_joint":
    return model.log_joint(x, jnp.array([[0.3], [-1.2]], _F64))
  return model.log_marginal(x, num_nodes=201), model.log_marginal(30.0 * x, num_nodes=201)


PROBES = {
    "nonlinear_log_joint_prior_2pi": lambda: _nonlinear("log_joint"),
    "nonlinear_log_joint_log_s2": lambda: _nonlinear("log_joint"),
    "nonlinear_marginal_h_off_by_one": lambda: _nonlinear("log_marginal"),
    "nonlinear_marginal_linear": lambda: _nonlinear("log_marginal"),
    "bernoulli_probability_space": _bernoulli,
    "bernoulli_probability_floor": _bernoulli,
    "prefix_global_max": lambda: bounds.prefix_bounds(jnp.array([-1e4, -1e4 + 50.0, 1e4], _F64)),
    "lse_init_zero": _chunked_far,
    "full_proposal_diagonal_only": lambda: bounds.full_gaussian_proposal(
        jnp.array([0.3, -0.5], _F64), jnp.array([[1.0, 0.8], [0.8, 2.0]], _F64))(
            jax.random.key(0), 4),
    "models_log_2pi_rounded": lambda: _LG.log_joint(jnp.array([0.5, -0.4, 1.2], _F64), _Z),
    "log_prior_drops_2pi": lambda: _LG.log_prior(_Z),
    "diag_log_prob_drops_2pi": lambda: models.diag_gaussian_log_prob(
        _Z, jnp.array([0.1, -0.2], _F64), jnp.array([0.7, 1.6], _F64)),
    "prefix_log_k_plus_one": lambda: bounds.prefix_bounds(_LW),
    "prefix_running_mean_log_w": lambda: bounds.prefix_bounds(_LW),
    "renyi_no_prefactor": lambda: bounds.renyi_bound(_LW, 0.5),
    "renyi_exponent_sign": lambda: bounds.renyi_bound(_LW, 0.5),
}
