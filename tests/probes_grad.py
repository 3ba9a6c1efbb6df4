"""Probes for gdm_jax/mutations/grad.py (collected by tests/test_mutations.py): each surrogate's
encoder gradient on a small float64 LinearGaussian problem."""
import jax
import jax.numpy as jnp

from gdm_jax import bounds, models

_F64 = jnp.float64
_LG = models.LinearGaussian(jnp.array([[1.0, 0.5], [-0.3, 0.8], [0.2, -1.1]], _F64),
                            jnp.array([0.1, 0.2, -0.3], _F64), jnp.asarray(0.7, _F64))
_X = jnp.array([0.5, -0.4, 1.2], _F64)
_EPS = jax.random.normal(jax.random.key(0), (5, 2), _F64)


def _grad(name):
  return jax.grad(lambda m, s: getattr(bounds.iwae_surrogates(_EPS, _LG, m, s, _X), name),
                  (0, 1))(jnp.array([0.2, -0.1], _F64), jnp.array([-0.3, 0.2], _F64))


_LW = jnp.array([0.3, -1.2, 2.0, 0.5], _F64)


def _score(name):
  """The score-function gradient in a Bernoulli logit phi at fixed samples z."""
  z = jnp.array([1.0, 0.0, 1.0, 1.0], _F64)
  return jax.grad(lambda ph: getattr(bounds.score_function_surrogates(
      _LW, z * -jax.nn.softplus(-ph) + (1 - z) * -jax.nn.softplus(ph)), name))(
          jnp.asarray(0.3, _F64))


PROBES = {
    "stl_uniform_weights": lambda: _grad("stl"),
    "dreg_log_q_not_stopped": lambda: _grad("dreg"),
    "vimco_baseline_keeps_k": lambda: bounds.vimco_baselines(_LW),
    "vimco_signal_not_stopped": lambda: _score("vimco"),
    "vimco_no_baseline": lambda: _score("vimco"),
}
