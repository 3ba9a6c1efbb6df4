r"""Planted mistakes against the grad.* claims (see :mod:`gdm_jax.mutations`): slips in
``bounds.iwae_surrogates`` that each passed a grad claim before it was redesigned."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from gdm_jax.mutations import _BOUNDS, Mutation


def _surrogate_slip(slip: str):
  """The three surrogates with one slip: ``"stl_uniform"``, STL as the mean of the stopped
  log-weights (uniform weights 1/K for w_tilde: unbiased at K = 1, 0 at the posterior, biased for
  K > 1, but not by STL's bias); ``"dreg_log_q_live"``, DReG's log-weights with q's parameters
  not stopped (its encoder gradient keeps a score term, nonzero at the posterior)."""
  def factory(orig):
    def iwae_surrogates(eps, theta, q_mean, q_log_std, x):
      from gdm_jax import bounds, models
      sg = jax.lax.stop_gradient
      std = jnp.exp(q_log_std)
      z = q_mean + std * eps
      log_w = theta.log_joint(x, z) - models.diag_gaussian_log_prob(z, q_mean, std)
      log_w_stop = theta.log_joint(x, z) - models.diag_gaussian_log_prob(z, sg(q_mean), sg(std))
      w_tilde = sg(jax.nn.softmax(log_w_stop))
      stl = bounds.iwae_bound(log_w_stop)
      dreg = jnp.sum(w_tilde ** 2 * log_w_stop)
      if slip == "stl_uniform":
        stl = jnp.mean(log_w_stop)
      elif slip == "dreg_log_q_live":
        dreg = jnp.sum(w_tilde ** 2 * log_w)
      return bounds.Surrogates(bounds.iwae_bound(log_w), stl, dreg)
    return iwae_surrogates
  return factory


MUTATIONS: tuple[Mutation, ...] = (
    Mutation("stl_uniform_weights", "STL surrogate as mean(log w_stop): uniform weights 1/K for "
             "w_tilde", ((_BOUNDS, "iwae_surrogates", _surrogate_slip("stl_uniform")),),
             "grad.*"),
    Mutation("dreg_log_q_not_stopped", "DReG surrogate with log q's parameters not stopped (a "
             "score term left)",
             ((_BOUNDS, "iwae_surrogates", _surrogate_slip("dreg_log_q_live")),),
             "grad.*"),
)
