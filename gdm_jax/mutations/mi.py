r"""Planted mistakes against the mi.* claims: the mutual-information bounds (gdm_jax.mi).

See :mod:`gdm_jax.mutations`. Each is named by the claims whose ``mistakes`` list it; ``scope``
is the glob the whole-catalogue ``gdm-jax mutate`` reruns."""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from gdm_jax.mutations import _LOG_2PI, _MI, Mutation


def _mi_offdiag(s):
  b = s.shape[0]
  rows, cols = np.nonzero(~np.eye(b, dtype=bool))
  return jnp.diagonal(s), s[rows, cols]


def _infonce_no_log_b(orig):
  def infonce(scores):
    s = jnp.asarray(scores)
    return jnp.mean(jnp.diagonal(s) - logsumexp(s, axis=1))  # + log B forgotten
  return infonce


def _infonce_without_positive(orig):
  def infonce(scores):
    s = jnp.asarray(scores)
    b = s.shape[0]
    off = jnp.where(jnp.eye(b, dtype=bool), -jnp.inf, s)
    return jnp.mean(jnp.diagonal(s) - logsumexp(off, axis=1)) + jnp.log(jnp.asarray(b, s.dtype))
  return infonce


def _nwj_no_e_minus_one(orig):
  def nwj(scores):
    diag, off = _mi_offdiag(jnp.asarray(scores))
    return jnp.mean(diag) - jnp.mean(jnp.exp(off))  # e^f for e^(f - 1)
  return nwj


def _dv_mean(orig):
  def dv(scores):
    diag, off = _mi_offdiag(jnp.asarray(scores))
    return jnp.mean(diag) - jnp.mean(off)  # log E e^f replaced by E f
  return dv


def _gaussian_mi_one_minus_rho(orig):
  return lambda rho, d: -0.5 * d * jnp.log1p(-jnp.abs(jnp.asarray(rho)))


def _rho_for_mi_no_sqrt(orig):
  return lambda value, d: -jnp.expm1(-2.0 * jnp.asarray(value) / d)


def _optimal_scores_no_marginal(orig):
  def optimal_scores(x, y, rho):
    y = jnp.asarray(y)
    d = y.shape[-1]
    log_py = -0.5 * jnp.sum(y * y, -1) - 0.5 * d * _LOG_2PI
    return orig(x, y, rho) + log_py[None, :]  # log p(y|x), the - log p(y) forgotten
  return optimal_scores


def _sample_no_sqrt(orig):
  def correlated_gaussian_sample(key, rho, d, n, dtype=None):
    rho = jnp.asarray(rho, dtype)
    kx, ke = jax.random.split(key)
    x = jax.random.normal(kx, (n, d), rho.dtype)
    return x, rho * x + (1.0 - rho * rho) * jax.random.normal(ke, (n, d), rho.dtype)
  return correlated_gaussian_sample


def _nwj_variance_e_i(orig):
  def nwj_variance(rho, d, batch):
    r2 = jnp.asarray(rho) ** 2
    marg = jnp.exp(-0.5 * d * jnp.log1p(-r2)) + jnp.exp(-d * jnp.log1p(-r2 * r2)) - 2.0
    return d * r2 / batch + marg / (batch * (batch - 1))  # e^I where e^(2I) belongs
  return nwj_variance


def _critic_minimises(orig):
  # The public train_critic refuses a negative learning rate, so the mistake is planted in the
  # jitted training loop it calls: Adam with -learning_rate there is the loop with the gradient's
  # negation forgotten (it descends the bound).
  def _train_critic(key, rho, index, d, steps, batch, hidden, embed, learning_rate):
    return orig(key, rho, index, d, steps, batch, hidden, embed, -learning_rate)  # descends
  return _train_critic


def _nwj_variance_no_swap(orig):
  def nwj_variance(rho, d, batch):
    r2 = jnp.asarray(rho) ** 2
    marg = jnp.exp(-d * jnp.log1p(-r2)) - 1.0  # r_ij and r_ji taken as uncorrelated
    return d * r2 / batch + marg / (batch * (batch - 1))
  return nwj_variance


def _nwj_variance_joint_over_one_minus(orig):
  def nwj_variance(rho, d, batch):
    r2 = jnp.asarray(rho) ** 2
    marg = jnp.exp(-d * jnp.log1p(-r2)) + jnp.exp(-d * jnp.log1p(-r2 * r2)) - 2.0
    return d * r2 / (1.0 - r2) / batch + marg / (batch * (batch - 1))  # Var_p log r per coord.
  return nwj_variance


def _train_critic_always_infonce(orig):
  def train_critic(key, rho, d, estimator="infonce", steps=1000, batch=64, hidden=64, embed=32,
                   learning_rate=1e-3):
    # objectives = [lambda s: _estimator(name)(s) for name in ESTIMATORS]: the late-binding
    # closure makes every entry InfoNCE, so the estimator argument is ignored
    return orig(key, rho, d, "infonce", steps, batch, hidden, embed, learning_rate)
  return train_critic


def _gaussian_mi_log(orig):
  return lambda rho, d: -0.5 * d * jnp.log(1.0 - jnp.asarray(rho) ** 2)


def _rho_for_mi_exp(orig):
  return lambda value, d: jnp.sqrt(1.0 - jnp.exp(-2.0 * jnp.asarray(value) / d))


def _sample_shared_eps(orig):
  def correlated_gaussian_sample(key, rho, d, n, dtype=None):
    rho = jnp.asarray(rho, dtype)
    kx, ke = jax.random.split(key)
    x = jax.random.normal(kx, (n, d), rho.dtype)
    eps = jax.random.normal(ke, (n, 1), rho.dtype)  # one noise per pair, broadcast over d
    return x, rho * x + jnp.sqrt(1.0 - rho * rho) * eps
  return correlated_gaussian_sample


def _critic_transposed(orig):
  class SeparableCritic(orig):
    """scores[i, j] = g(x_j)^T h(y_i): the score matrix transposed (h @ g.T)."""

    @nn.compact
    def __call__(self, x, y):
      g = _mi_mlp()((self.hidden, self.hidden, self.embed), name="g")(x)
      h = _mi_mlp()((self.hidden, self.hidden, self.embed), name="h")(y)
      return h @ g.T
  SeparableCritic.__name__ = SeparableCritic.__qualname__ = "SeparableCritic"
  return SeparableCritic


def _mi_mlp():
  from gdm_jax.models import MLP
  return MLP


MUTATIONS: tuple[Mutation, ...] = (
    Mutation("mi_infonce_no_log_b", "InfoNCE without the + log B",
             ((_MI, "infonce", _infonce_no_log_b),), "mi.*"),
    Mutation("mi_infonce_without_positive", "InfoNCE's denominator without the positive pair",
             ((_MI, "infonce", _infonce_without_positive),), "mi.*"),
    Mutation("mi_nwj_no_e_minus_one", "NWJ with E e^f for e^-1 E e^f",
             ((_MI, "nwj", _nwj_no_e_minus_one),), "mi.*"),
    Mutation("mi_dv_mean_not_log_mean_exp", "DV with the mean of f for the log-mean-exp",
             ((_MI, "dv", _dv_mean),), "mi.*"),
    Mutation("mi_gaussian_mi_one_minus_rho", "the benchmark's I with log(1 - |rho|) for "
             "log(1 - rho^2)", ((_MI, "gaussian_mi", _gaussian_mi_one_minus_rho),), "mi.*"),
    Mutation("mi_rho_for_mi_no_sqrt", "rho_for_mi returns rho^2 (the square root forgotten)",
             ((_MI, "rho_for_mi", _rho_for_mi_no_sqrt),), "mi.*"),
    Mutation("mi_optimal_scores_no_marginal", "the optimal critic log p(y|x) without - log p(y)",
             ((_MI, "optimal_scores", _optimal_scores_no_marginal),), "mi.*"),
    Mutation("mi_sample_no_sqrt", "the benchmark's y = rho x + (1 - rho^2) eps (no square root)",
             ((_MI, "correlated_gaussian_sample", _sample_no_sqrt),), "mi.*"),
    Mutation("mi_nwj_variance_e_i", "NWJ's variance with e^I for e^(2I) = (1 - rho^2)^-d",
             ((_MI, "nwj_variance", _nwj_variance_e_i),), "mi.*"),
    Mutation("mi_critic_minimises", "train_critic descends the bound (its training loop steps "
             "along the gradient of the loss's negation: Adam with -learning_rate)",
             ((_MI, "_train_critic", _critic_minimises),), "mi.*"),
    Mutation("mi_nwj_variance_no_swap", "NWJ's variance with r_ij and r_ji uncorrelated (the "
             "(1 - rho^4)^-d - 1 swap covariance dropped)",
             ((_MI, "nwj_variance", _nwj_variance_no_swap),), "mi.*"),
    Mutation("mi_nwj_variance_joint_term", "NWJ's variance with Var_p log r = rho^2/(1 - rho^2) "
             "per coordinate (rho^2 is right)",
             ((_MI, "nwj_variance", _nwj_variance_joint_over_one_minus),), "mi.*"),
    Mutation("mi_train_critic_ignores_estimator", "train_critic optimises InfoNCE whatever "
             "estimator is asked for (a late-binding closure over the names)",
             ((_MI, "train_critic", _train_critic_always_infonce),), "mi.*"),
    Mutation("mi_gaussian_mi_log_not_log1p", "the benchmark's I as -(d/2) log(1 - rho^2) "
             "(1 - rho^2 rounds: no relative accuracy at small rho)",
             ((_MI, "gaussian_mi", _gaussian_mi_log),), "mi.*"),
    Mutation("mi_sample_shared_noise", "the benchmark's y with one noise per pair broadcast over "
             "the d coordinates (eps of shape [n, 1]): every estimator's mean is unchanged",
             ((_MI, "correlated_gaussian_sample", _sample_shared_eps),), "mi.*"),
    Mutation("mi_critic_transposed", "SeparableCritic returns h(y) g(x)^T: scores[i, j] = "
             "f(x_j, y_i) (the symmetric benchmark trains it just as well)",
             ((_MI, "SeparableCritic", _critic_transposed),), "mi.*"),
    Mutation("mi_rho_for_mi_exp_not_expm1", "rho_for_mi as sqrt(1 - exp(-2I/d)) (1 - exp "
             "cancels at small I)", ((_MI, "rho_for_mi", _rho_for_mi_exp),), "mi.*"),
)
