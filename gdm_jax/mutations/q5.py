r"""Planted mistakes against the q5.* claims: Q5 (discriminators).

See :mod:`gdm_jax.mutations`. Each is named by the claims whose ``mistakes`` list it; ``scope``
is the glob the whole-catalogue ``gdm-jax mutate`` reruns."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax

from gdm_jax.mutations import _DV, _GAN, Mutation


def _d_star_swapped(orig):
  return lambda log_f1_x, log_f0_x: orig(log_f0_x, log_f1_x)  # f0 / (f0 + f1)


def _density_log_d_plus_log_1md(orig):
  def density_from_discriminator(log_f0_x, d_x):
    d = jnp.asarray(d_x)
    return jnp.asarray(log_f0_x) + jnp.log(d) + jnp.log1p(-d)  # + log(1 - D) for - log(1 - D)
  return density_from_discriminator


def _objective_terms_sign(orig):
  return lambda logit_at_p1, logit_at_p0: (jax.nn.log_sigmoid(logit_at_p1),
                                           jax.nn.log_sigmoid(logit_at_p0))


def _pointwise_swapped(orig):
  return lambda d, f1, f0: f1 * jnp.log1p(-d) + f0 * jnp.log(d)


def _density_minus_logit(orig):
  return lambda log_f0_x, logit_x: jnp.asarray(log_f0_x) - jnp.asarray(logit_x)


def _ignores_n_used(orig):
  def train_discriminator(key, x1, x0, n_used=None, **kwargs):
    return orig(key, x1, x0, None, **kwargs)  # always every sample
  return train_discriminator


def _discriminator_ascent(orig):
  @functools.partial(jax.jit, static_argnames=("steps", "batch", "hidden"))
  def train_discriminator(key, x1, x0, n_used=None, steps=1500, batch=256, hidden=32,
                          learning_rate=1e-2):
    from gdm_jax import gan
    n = x1.shape[0] if n_used is None else n_used
    ki, kb = jax.random.split(key)
    net = gan.MLP((hidden, hidden, 1))
    params = net.init(ki, x1[:1])
    opt = optax.adam(learning_rate)

    def step(carry, k):
      params, state = carry
      ka, kb_ = jax.random.split(k)
      i1 = jax.random.randint(ka, (batch,), 0, n)
      i0 = jax.random.randint(kb_, (batch,), 0, n)
      loss, g = jax.value_and_grad(gan.bce_loss)(params, net.apply, x1[i1], x0[i0])
      upd, state = opt.update(jax.tree_util.tree_map(jnp.negative, g), state, params)  # ascent
      return (optax.apply_updates(params, upd), state), loss

    (params, _), losses = jax.lax.scan(step, (params, opt.init(params)),
                                       jax.random.split(kb, steps))
    return params, losses
  return train_discriminator


def _jsd_terms_wrong_numerator(orig):
  def jsd_monte_carlo_terms(log_p_at_p, log_q_at_p, log_p_at_q, log_q_at_q):
    from gdm_jax import divergences as dv
    tp = log_p_at_p - dv.log_mixture(log_p_at_p, log_q_at_p)
    tq = log_p_at_q - dv.log_mixture(log_p_at_q, log_q_at_q)  # log p where log q belongs
    return tp, tq
  return jsd_monte_carlo_terms


def _dstar_linear(orig):
  def optimal_discriminator(log_f1_x, log_f0_x):
    f1, f0 = jnp.exp(jnp.asarray(log_f1_x)), jnp.exp(jnp.asarray(log_f0_x))
    return f1 / (f0 + f1)
  return optimal_discriminator


def _density_linear(orig):
  def density_from_discriminator(log_f0_x, d_x):
    d = jnp.asarray(d_x)
    return jnp.log(jnp.exp(jnp.asarray(log_f0_x)) * d / (1 - d))
  return density_from_discriminator




def _objective_terms_d_for_p0(orig):
  # D read as the probability of P0: log(1 - D) on P1's samples and log D on P0's.
  return lambda logit_at_p1, logit_at_p0: (jax.nn.log_sigmoid(-logit_at_p1),
                                           jax.nn.log_sigmoid(logit_at_p0))


def _labels_swapped(orig):
  def train_discriminator(key, x1, x0, n_used=None, **kwargs):
    return orig(key, x0, x1, n_used, **kwargs)  # P0's samples labelled 1: D learns f0/(f0+f1)
  return train_discriminator


def _updates_not_applied(orig):
  def train_discriminator(key, x1, x0, n_used=None, **kwargs):
    # Adam's updates computed but never applied (a step size of 0): the initial network, whose
    # logit is near 0 (D near 1/2, f1_hat near f0), is returned.
    return orig(key, x1, x0, n_used, **{**kwargs, "learning_rate": 0.0})
  return train_discriminator


def _objective_terms_swapped(orig):
  def gan_objective_terms(logit_at_p1, logit_at_p0):
    return jax.nn.log_sigmoid(-logit_at_p0), jax.nn.log_sigmoid(logit_at_p1)  # order swapped
  return gan_objective_terms


MUTATIONS: tuple[Mutation, ...] = (
    Mutation("d_star_swapped", "D* = f0 / (f0 + f1)",
             (("gdm_jax.gan", "optimal_discriminator", _d_star_swapped),), "q5.*"),
    Mutation("density_log_d_plus_log_1md", "log f1 = log f0 + log D + log(1 - D)",
             ((_GAN, "density_from_discriminator", _density_log_d_plus_log_1md),), "q5.*"),
    Mutation("objective_terms_sign", "the P0 term log sigma(l) for log(1 - sigma(l))",
             ((_GAN, "gan_objective_terms", _objective_terms_sign),), "q5.*"),
    Mutation("pointwise_objective_swapped", "pointwise objective f1 log(1 - D) + f0 log D",
             ((_GAN, "pointwise_objective", _pointwise_swapped),), "q5.*"),
    Mutation("density_minus_logit", "log f1 = log f0 - logit D",
             ((_GAN, "density_from_logit", _density_minus_logit),), "q5.*"),
    Mutation("discriminator_ignores_n_used", "train_discriminator always trains on every sample",
             ((_GAN, "train_discriminator", _ignores_n_used),), "q5.*"),
    Mutation("discriminator_gradient_ascent", "train_discriminator ascends the BCE loss",
             ((_GAN, "train_discriminator", _discriminator_ascent),), "q5.*"),
    Mutation("jsd_terms_wrong_numerator", "Monte Carlo JSD's q term log p(y) - log m(y)",
             ((_DV, "jsd_monte_carlo_terms", _jsd_terms_wrong_numerator),), "q5.*,q7.*"),
    Mutation("d_star_linear_space", "D* = f1 / (f0 + f1) from exp(log f)",
             ((_GAN, "optimal_discriminator", _dstar_linear),), "q5.*"),
    Mutation("density_linear_space", "log f1 = log(f0 D / (1 - D)) in linear space",
             ((_GAN, "density_from_discriminator", _density_linear),), "q5.*"),
    Mutation("objective_terms_d_for_p0", "the objective's terms with D as the probability of "
             "P0: log(1 - D) on P1, log D on P0",
             ((_GAN, "gan_objective_terms", _objective_terms_d_for_p0),), "q5.*"),
    Mutation("discriminator_labels_swapped", "train_discriminator labels P0's samples 1 and "
             "P1's 0 (x1 and x0 exchanged)", ((_GAN, "train_discriminator", _labels_swapped),),
             "q5.*"),
    Mutation("discriminator_updates_not_applied", "train_discriminator computes Adam's updates "
             "and never applies them (the initial network, D near 1/2, is returned)",
             ((_GAN, "train_discriminator", _updates_not_applied),), "q5.*"),
    Mutation("objective_terms_swapped", "gan_objective_terms returns (log(1 - D) on P0, log D "
             "on P1): the pair in the wrong order (the sum unchanged)",
             ((_GAN, "gan_objective_terms", _objective_terms_swapped),), "q5.*"),
)
