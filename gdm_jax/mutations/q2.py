r"""Planted mistakes against the q2.* claims (see :mod:`gdm_jax.mutations`).

Each is a plausible wrong implementation of the function a q2 claim is about, or (for an
erratum) the written answer planted in the library: an erratum must then hold.
"""
from __future__ import annotations

import importlib

import flax.linen as nn
import jax
import jax.numpy as jnp

from gdm_jax.mutations import Mutation, _at

_AM, _VAE = "gdm_jax.amortized", "gdm_jax.vae"


def _am():
  return importlib.import_module(_AM)


def _log_weights_sampler_variance(orig):
  """z = m + s^2 eps (the variance where the std belongs), log q evaluated at z correctly: for a
  target equal to the proposal times e^c every log-weight is still c."""
  def diag_gaussian_log_weights(key, log_joint_fn, x, mean, std, n):
    from gdm_jax.models import diag_gaussian_log_prob
    keys = jax.random.split(key, jnp.shape(mean)[0])

    def one(k, xi, m, s):
      eps = jax.random.normal(k, (n,) + m.shape, m.dtype)
      z = m + s ** 2 * eps
      return log_joint_fn(xi, z) - diag_gaussian_log_prob(z, m, s)
    return jax.vmap(one)(keys, jnp.asarray(x), jnp.asarray(mean), jnp.asarray(std))
  return diag_gaussian_log_weights


def _amortised_35_steps(orig):
  return lambda key, model, x, encoder, num_steps=300: orig(key, model, x, encoder, 35)


def _encoder_ignores_mean_rank(orig):
  class Encoder(orig):
    """The mean's rank-r bottleneck dropped: every encoder has full capacity."""

    @nn.compact
    def __call__(self, x):
      h = x
      for f in self.hidden:
        h = jnp.tanh(nn.Dense(f)(h))
      return nn.Dense(self.latent_dim)(h), jnp.exp(nn.Dense(self.latent_dim)(h))
  Encoder.__name__ = Encoder.__qualname__ = "Encoder"
  return Encoder


def _encoder_ignores_input(orig):
  class Encoder(orig):
    """q(z|x) = q(z): a mean and a log-std as free parameters, broadcast over the batch (the
    'amortised' q no function of x: 2d parameters, like one q_i)."""

    @nn.compact
    def __call__(self, x):
      shape = jnp.shape(x)[:-1] + (self.latent_dim,)
      mean = self.param("mean", nn.initializers.zeros, (self.latent_dim,))
      log_std = self.param("log_std", nn.initializers.zeros, (self.latent_dim,))
      return jnp.broadcast_to(mean, shape), jnp.broadcast_to(jnp.exp(log_std), shape)
  Encoder.__name__ = Encoder.__qualname__ = "Encoder"
  return Encoder


def _written_expected_log_likelihood(orig):
  """Answer 2.1 as the implementation: E_q log p(x|z) = log p(x) + KL(q || p(z))."""
  def expected_log_likelihood(model, x, q_mean, q_std):
    from gdm_jax.models import kl_diag_gaussians
    return model.log_marginal(x) + kl_diag_gaussians(q_mean, q_std, jnp.zeros_like(q_mean),
                                                     jnp.ones_like(q_std))
  return expected_log_likelihood


def _elbo_likelihood_dropped(orig):
  """Answer 2.2 as the implementation: with theta fixed, E_q log p(x|z) taken for a constant and
  dropped, so the ELBO is -KL(q || p(z))."""
  def closed_form_elbo(model, x, q_mean, q_std):
    from gdm_jax.models import kl_diag_gaussians
    return -kl_diag_gaussians(q_mean, q_std, jnp.zeros_like(q_mean), jnp.ones_like(q_std))
  return closed_form_elbo


def _gaps_prior_is_posterior(orig):
  """Answer 2.2/2.3a as the implementation: the 'KL to the prior' fields of Gaps measured
  against the posterior p(z|x_i)."""
  def gaps(model, x, inst, amort_mean, amort_std):
    g = orig(model, x, inst, amort_mean, amort_std)
    return g._replace(kl_prior_instance=g.kl_instance, kl_prior_amortised=g.kl_amortised)
  return gaps


MUTATIONS: tuple[Mutation, ...] = (
    Mutation("log_weights_sampler_variance", "log-weights drawn at z = m + s^2 eps (the variance "
             "as the std), log q(z) evaluated correctly",
             ((_VAE, "diag_gaussian_log_weights", _log_weights_sampler_variance),),
             "q2.vae_log_weights_exact"),
    Mutation("amortised_fit_35_steps", "amortised L-BFGS stopped after 35 steps (a gap of ~1e-2 "
             "nats left)", ((_AM, "fit_amortised", _amortised_35_steps),),
             "q2.amortisation_gap_vanishes"),
    Mutation("encoder_ignores_mean_rank", "Encoder without the mean's rank-r bottleneck",
             _at("Encoder", _encoder_ignores_mean_rank, _AM, _VAE),
             "q2.amortisation_gap_positive"),
    Mutation("encoder_ignores_input", "Encoder whose mean and std are free parameters, not "
             "functions of x (2d parameters)", _at("Encoder", _encoder_ignores_input, _AM, _VAE),
             "q2.written_same_per_iteration,q2.storage_law,q2.cost_law"),
    Mutation("written_expected_log_likelihood", "Answer 2.1: E_q log p(x|z) = log p(x) + "
             "KL(q || p(z))", ((_AM, "expected_log_likelihood", _written_expected_log_likelihood),),
             "q2.written_b_theta"),
    Mutation("elbo_likelihood_dropped", "Answer 2.2: the ELBO as -KL(q || p(z)), E_q log p(x|z) "
             "dropped as a constant in theta",
             ((_AM, "closed_form_elbo", _elbo_likelihood_dropped),),
             "q2.written_elbo_is_kl_to_prior"),
    Mutation("gaps_prior_is_posterior", "Answer 2.2: Gaps' KL to the prior measured against the "
             "posterior", ((_AM, "gaps", _gaps_prior_is_posterior),), "q2.written_kl_to_prior"),
)
