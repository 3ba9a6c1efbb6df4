r"""Planted mistakes against the q6.* claims: Q6 (KL bounds, trained critics).

See :mod:`gdm_jax.mutations`. Each is named by the claims whose ``mistakes`` list it; ``scope``
is the glob the whole-catalogue ``gdm-jax mutate`` reruns."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.scipy.special import logsumexp

from gdm_jax.mutations import _KB, Mutation


def _dv_wrong_sign(orig):
  def r2(t_p, t_q):
    t_q = jnp.asarray(t_q)
    return jnp.mean(t_p) + (logsumexp(t_q) - jnp.log(t_q.size))
  return r2


def _nwj_no_minus_one(orig):
  return lambda t_p, t_q: jnp.mean(t_p) - jnp.mean(jnp.exp(jnp.asarray(t_q)))


def _nwj_quad_no_minus_one(orig):
  # r1(T + 1) - 1 = E_p T + 1 - E_q e^T - 1 = E_p T - E_q e^T
  return lambda t, log_p, log_q, grid: orig(t + 1.0, log_p, log_q, grid) - 1.0


def _conjugate_e_t(orig):
  return lambda t: jnp.exp(t)


def _r1_jensen(orig):
  return lambda t_p, t_q: jnp.mean(t_p) - jnp.exp(jnp.mean(jnp.asarray(t_q)) - 1.0)


def _r1_quadrature_under_p(orig):
  def r1_quadrature(t, log_p, log_q, grid):
    from gdm_jax import kl_bounds as kb
    w = kb.trapezoid_weights(grid)
    return jnp.sum(w * jnp.exp(log_p) * t) - jnp.sum(w * jnp.exp(log_p + t - 1.0))  # E_p, not E_q
  return r1_quadrature


def _r2_mean_not_log_mean_exp(orig):
  return lambda t_p, t_q: jnp.mean(t_p) - jnp.mean(t_q)


def _r2_quadrature_no_weights(orig):
  def r2_quadrature(t, log_p, log_q, grid):
    from gdm_jax import kl_bounds as kb
    w = kb.trapezoid_weights(grid)
    return jnp.sum(w * jnp.exp(log_p) * t) - logsumexp(log_q + t)  # a sum, not an integral
  return r2_quadrature


def _critic_minimises(orig):
  @functools.partial(jax.jit, static_argnames=("sample_p", "sample_q", "bound", "steps", "batch",
                                               "hidden"))
  def train_critic(key, sample_p, sample_q, bound="r2", steps=1500, batch=512, hidden=32,
                   learning_rate=5e-3):
    from gdm_jax import kl_bounds as kb
    objective = kb.r1 if bound == "r1" else kb.r2
    net = kb.MLP((hidden, hidden, 1))
    kinit, kloop = jax.random.split(key)
    params = net.init(kinit, sample_p(kinit, 1))
    opt = optax.adam(learning_rate)

    def step(carry, k):
      params, state = carry
      kp, kq = jax.random.split(k)
      xp, xq = sample_p(kp, batch), sample_q(kq, batch)
      val, g = jax.value_and_grad(
          lambda pr: objective(net.apply(pr, xp)[:, 0], net.apply(pr, xq)[:, 0]))(params)
      upd, state = opt.update(g, state, params)  # descends the bound
      return (optax.apply_updates(params, upd), state), val

    (params, _), curve = jax.lax.scan(step, (params, opt.init(params)),
                                      jax.random.split(kloop, steps))
    return params, curve
  return train_critic


def _critic_ignores_bound(orig):
  def train_critic(key, sample_p, sample_q, bound="r2", **kwargs):
    return orig(key, sample_p, sample_q, "r2", **kwargs)
  return train_critic


def _r1_lse_no_logn(orig):
  def r1(t_p, t_q):
    t1 = jnp.asarray(t_q) - 1.0
    log_max = float(np.log(np.finfo(t1.dtype).max))
    safe = jnp.max(t1) + jnp.log(jnp.asarray(t1.size, t1.dtype)) < log_max - 1.0
    plain = jnp.mean(jnp.exp(jnp.where(safe, t1, 0.0)))
    return jnp.mean(t_p) - jnp.where(safe, plain, jnp.exp(logsumexp(t1)))  # - log M dropped
  return r1


def _r2_quad_linear(orig):
  from gdm_jax import divergences as dv
  def r2_quadrature(t, log_p, log_q, grid):
    w = dv.trapezoid_weights(grid)
    return jnp.sum(w * jnp.exp(log_p) * t) - jnp.log(jnp.sum(w * jnp.exp(log_q + t)))
  return r2_quadrature




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


def _r1_log_branch_geometric(orig):
  def r1(t_p, t_q):
    t_p, t_q = jnp.asarray(t_p), jnp.asarray(t_q)
    t1 = t_q - 1.0
    log_n = jnp.log(jnp.asarray(t1.size, t1.dtype))
    log_max = float(np.log(np.finfo(t1.dtype).max))
    safe = jnp.max(t1) + log_n < log_max - 1.0
    plain = jnp.mean(jnp.exp(jnp.where(safe, t1, 0.0)))
    geometric = jnp.exp(jnp.mean(t1))  # the log-space branch as exp(mean), not log-mean-exp
    return jnp.mean(t_p) - jnp.where(safe, plain, geometric)
  return r1


MUTATIONS: tuple[Mutation, ...] = (
    Mutation("dv_wrong_sign", "R2 = E_p T + log E_q e^T",
             (("gdm_jax.kl_bounds", "r2", _dv_wrong_sign),), "q6.*"),
    Mutation("nwj_without_minus_one", "R1 = E_p T - E_q e^T (the -1 dropped)",
             (("gdm_jax.kl_bounds", "r1", _nwj_no_minus_one),
              ("gdm_jax.kl_bounds", "r1_quadrature", _nwj_quad_no_minus_one)), "q6.*"),
    Mutation("conjugate_e_t", "(u log u)* = e^t for e^(t - 1)",
             ((_KB, "conjugate_u_log_u", _conjugate_e_t),), "q6.*"),
    Mutation("r1_jensen", "R1 = E_p T - exp(E_q T - 1) (E and exp swapped)",
             ((_KB, "r1", _r1_jensen),), "q6.*"),
    Mutation("r1_quadrature_under_p", "quadrature R1 with E_p e^(T-1) for E_q e^(T-1)",
             ((_KB, "r1_quadrature", _r1_quadrature_under_p),), "q6.*"),
    Mutation("r2_mean_not_log_mean_exp", "R2 = E_p T - E_q T (log E e^T replaced by E T)",
             ((_KB, "r2", _r2_mean_not_log_mean_exp),), "q6.*"),
    Mutation("r2_quadrature_no_weights", "quadrature R2: log sum e^(log q + T), no trapezoid "
             "weights", ((_KB, "r2_quadrature", _r2_quadrature_no_weights),), "q6.*"),
    Mutation("critic_minimises", "train_critic descends the bound", ((_KB, "train_critic",
                                                                        _critic_minimises),),
             "q6.*"),
    Mutation("critic_ignores_bound", "train_critic trains on R2 whatever `bound` says",
             ((_KB, "train_critic", _critic_ignores_bound),), "q6.*"),
    Mutation("r1_lse_branch_no_logn", "r1's log-space branch without - log M",
             ((_KB, "r1", _r1_lse_no_logn),), "q6.*"),
    Mutation("r2_quadrature_linear", "R2 by quadrature with log(sum w e^(log q + T)) in linear "
             "space", ((_KB, "r2_quadrature", _r2_quad_linear),), "q6.*"),
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
    Mutation("r1_log_branch_geometric", "r1's overflow branch as exp(mean(t - 1)) (a geometric "
             "mean: exact only for equal critic values)", ((_KB, "r1", _r1_log_branch_geometric),),
             "q6.*"),
)
