"""Probes for the q2 mutations (gdm_jax/mutations/q2.py): each evaluates the mutation's target on
a small float64 input where the slip shows (collected by tests/test_mutations.py)."""
import jax
import jax.numpy as jnp

from gdm_jax import amortized as am, models, vae as vl

F64 = jnp.float64
_W = jnp.array([[1.0, 0.5], [-0.3, 0.8], [0.2, -1.1], [0.7, 0.4]], F64)
_X = jnp.array([[0.5, -1.0, 0.2, 1.5], [1.0, 0.3, -0.4, 0.0], [-0.6, 0.8, 1.1, 0.2]], F64)
_M = jnp.array([[0.3, -0.5], [1.2, 0.4], [-0.7, 0.9]], F64)
_S = jnp.array([[0.6, 1.3], [0.5, 2.0], [1.7, 0.4]], F64)   # stds != 1: s^2 != s


def _lg():
  return models.LinearGaussian(_W, jnp.array([0.3, -0.2, 0.5, 0.1], F64), jnp.asarray(0.7, F64))


def _encoder_out(**kw):
  """An encoder's outputs on _X at parameters drawn by its own init (float64)."""
  enc = am.Encoder(2, **kw)
  params = jax.tree_util.tree_map(lambda p: p.astype(F64) + 0.3,
                                  enc.init(jax.random.key(1), _X[:1]))
  return enc.apply(params, _X)


def _log_weights():
  # the target is the proposal itself: every log-weight is 0 whatever the draws, so the probe
  # reads a different target, N(z; 0, I), at which the draws' spread shows.
  return vl.diag_gaussian_log_weights(jax.random.key(0), lambda x, z: _lg().log_joint(x, z), _X,
                                      _M, _S, 4)


PROBES = {
    "log_weights_sampler_variance": _log_weights,
    "amortised_fit_35_steps": lambda: am.fit_amortised(  # 32 points: not converged at 35 steps
        jax.random.key(2), _lg(), _lg().sample(jax.random.key(3), 32)[0], am.Encoder(2),
        num_steps=60),
    "encoder_ignores_mean_rank": lambda: _encoder_out(mean_rank=1),
    "encoder_ignores_input": lambda: _encoder_out(),
    "written_expected_log_likelihood": lambda: am.expected_log_likelihood(_lg(), _X, _M, _S),
    "elbo_likelihood_dropped": lambda: am.closed_form_elbo(_lg(), _X, _M, _S),
    "gaps_prior_is_posterior": lambda: am.gaps(_lg(), _X, am.InstanceFit(_M, _S), -_M, _S[::-1]),
}
