r"""Planted mistakes against the q3.* claims (see :mod:`gdm_jax.mutations`): the referees' slips
that each passed one Q3 claim before it was redesigned."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from gdm_jax.mutations import _BOUNDS, _MODELS, Mutation, _at


def _diag_log_prob_no_2pi(orig):
  def diag_gaussian_log_prob(z, mean, std):
    r = (z - mean) / std
    return -0.5 * jnp.sum(r * r, -1) - jnp.sum(jnp.log(std), -1)  # -(d/2) log 2 pi dropped
  return diag_gaussian_log_prob


def _log_prior_no_2pi(orig):
  def log_prior(self, z):
    return -0.5 * jnp.sum(z * z, -1)  # log N(z; 0, I) without -(d/2) log 2 pi
  return log_prior


def _prefix_log_k_plus_one(orig):
  def prefix_bounds(log_w):
    log_w = jnp.asarray(log_w)
    k = jnp.arange(1, log_w.shape[-1] + 1, dtype=log_w.dtype)
    return jax.lax.cumlogsumexp(log_w, axis=log_w.ndim - 1) - jnp.log(k + 1)
  return prefix_bounds


def _prefix_running_mean(orig):
  def prefix_bounds(log_w):
    log_w = jnp.asarray(log_w)
    k = jnp.arange(1, log_w.shape[-1] + 1, dtype=log_w.dtype)
    return jnp.cumsum(log_w, axis=-1) / k  # the running ELBO, not log of the running mean
  return prefix_bounds



MUTATIONS: tuple[Mutation, ...] = (
    Mutation("diag_log_prob_drops_2pi", "diagonal Gaussian log-density without -(d/2) log 2 pi",
             _at("diag_gaussian_log_prob", _diag_log_prob_no_2pi, _MODELS, _BOUNDS,
                 "gdm_jax.vae"), "q3.*"),
    Mutation("log_prior_drops_2pi", "LinearGaussian.log_prior without -(d/2) log 2 pi (L_K "
             "above log p(x))", (("gdm_jax.models.LinearGaussian", "log_prior", _log_prior_no_2pi),),
             "q3.*"),
    Mutation("prefix_log_k_plus_one", "prefix bounds L_k with log(k + 1) for log k",
             ((_BOUNDS, "prefix_bounds", _prefix_log_k_plus_one),), "q3.*"),
    Mutation("prefix_running_mean_log_w", "prefix bounds as the running mean of log w (the "
             "running ELBO)", ((_BOUNDS, "prefix_bounds", _prefix_running_mean),), "q3.*"),
)
