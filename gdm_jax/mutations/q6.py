r"""Planted mistakes against the q6.* claims (see :mod:`gdm_jax.mutations`): slips in the very
functions the Q6 claims are about, each one that an earlier claim let through."""
from __future__ import annotations

import jax.numpy as jnp
from jax.scipy.special import logsumexp

from gdm_jax.mutations import Mutation

_KB = "gdm_jax.kl_bounds"


def _weights(grid):
  from gdm_jax import kl_bounds as kb
  return kb.trapezoid_weights(grid)


def _r1_quadrature_is_r2(orig):
  def r1_quadrature(t, log_p, log_q, grid):  # log E_q e^T where E_q e^(T-1) belongs
    w = _weights(grid)
    return jnp.sum(w * jnp.exp(log_p) * t) - logsumexp(log_q + t, b=w)
  return r1_quadrature


def _r2_quadrature_is_r1(orig):
  def r2_quadrature(t, log_p, log_q, grid):  # E_q e^(T-1) where log E_q e^T belongs
    w = _weights(grid)
    return jnp.sum(w * jnp.exp(log_p) * t) - jnp.sum(w * jnp.exp(log_q + t - 1.0))
  return r2_quadrature


def _r2_quadrature_jensen(orig):
  def r2_quadrature(t, log_p, log_q, grid):  # log E_q e^T replaced by E_q T (Jensen: larger R2)
    w = _weights(grid)
    return jnp.sum(w * jnp.exp(log_p) * t) - jnp.sum(w * jnp.exp(log_q) * t)
  return r2_quadrature


def _tilted_without_log_q(orig):
  def tilted_log_density(t, log_q, grid):
    from gdm_jax import kl_bounds as kb
    return jnp.asarray(t) - kb.log_expectation_quadrature(t, log_q, grid)  # log r, not log(r q)
  return tilted_log_density


def _tilted_r1_normaliser(orig):
  def tilted_log_density(t, log_q, grid):
    from gdm_jax import kl_bounds as kb
    log_z = kb.log_expectation_quadrature(t, log_q, grid) - 1.0  # log E_q e^(T-1)
    return jnp.asarray(t) + jnp.asarray(log_q) - log_z
  return tilted_log_density


def _log_expectation_no_weights(orig):
  return lambda t, log_q, grid: logsumexp(jnp.asarray(log_q) + jnp.asarray(t))  # a sum, no h


def _critic_always_r1(orig):
  def train_critic(key, sample_p, sample_q, bound="r2", **kwargs):
    return orig(key, sample_p, sample_q, "r1", **kwargs)
  return train_critic


MUTATIONS: tuple[Mutation, ...] = (
    Mutation("r1_quadrature_is_r2", "quadrature R1 with log E_q e^T for E_q e^(T-1) (R2)",
             ((_KB, "r1_quadrature", _r1_quadrature_is_r2),), "q6.*"),
    Mutation("r2_quadrature_is_r1", "quadrature R2 with E_q e^(T-1) for log E_q e^T (R1)",
             ((_KB, "r2_quadrature", _r2_quadrature_is_r1),), "q6.*"),
    Mutation("r2_quadrature_jensen", "quadrature R2 = E_p T - E_q T (log E_q e^T replaced by "
             "E_q T: overestimates)", ((_KB, "r2_quadrature", _r2_quadrature_jensen),), "q6.*"),
    Mutation("tilted_without_log_q", "tilted_log_density = T - log E_q e^T (log r, the + log q "
             "forgotten)", ((_KB, "tilted_log_density", _tilted_without_log_q),), "q6.*"),
    Mutation("tilted_r1_normaliser", "tilted_log_density normalised by E_q e^(T-1) (R1's term)",
             ((_KB, "tilted_log_density", _tilted_r1_normaliser),), "q6.*"),
    Mutation("log_expectation_no_weights", "log E_q e^T as logsumexp(log q + T) without the "
             "trapezoid weights (a sum, not an integral)",
             ((_KB, "log_expectation_quadrature", _log_expectation_no_weights),), "q6.*"),
    Mutation("critic_always_r1", "train_critic trains on R1 whatever `bound` says",
             ((_KB, "train_critic", _critic_always_r1),), "q6.*"),
)


def _r1_quadrature_t_minus_two(orig):
  def r1_quadrature(t, log_p, log_q, grid):  # E_q f*(T - 1) = E_q e^(T-2): the -1 taken twice
    from gdm_jax import kl_bounds as kb
    w = _weights(grid)
    return (jnp.sum(w * jnp.exp(log_p) * t)
            - jnp.sum(w * jnp.exp(log_q) * kb.conjugate_u_log_u(jnp.asarray(t) - 1.0)))
  return r1_quadrature


def _r2_log_m_plus_one(orig):
  def r2(t_p, t_q):
    t_q = jnp.asarray(t_q)
    return jnp.mean(t_p) - (logsumexp(t_q) - jnp.log(jnp.asarray(t_q.size + 1, t_q.dtype)))
  return r2


MUTATIONS = MUTATIONS + (
    Mutation("r1_quadrature_conjugate_of_t_minus_one", "quadrature R1 as E_p T - E_q f*(T - 1) "
             "= E_p T - E_q e^(T-2) (the -1 of f*(t) = e^(t-1) applied twice)",
             ((_KB, "r1_quadrature", _r1_quadrature_t_minus_two),), "q6.*"),
    Mutation("r2_log_m_plus_one", "sample R2 normalised by log(M + 1) for log M",
             ((_KB, "r2", _r2_log_m_plus_one),), "q6.*"),
)
