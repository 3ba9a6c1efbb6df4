r"""Planted mistakes against the grad.* claims: the gradient estimators
(bounds.iwae_surrogates, sweeps.snr_rms).

See :mod:`gdm_jax.mutations`. Each is named by the claims whose ``mistakes`` list it; ``scope``
is the glob the whole-catalogue ``gdm-jax mutate`` reruns."""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from gdm_jax.mutations import _BOUNDS, _SWEEPS, Mutation


def _surrogates(square: bool = True, stop: bool = True, stl: str = "ok"):
  """The three surrogates with one slip: DReG's ``square``/``stop``, or STL's ``stl`` =
  ``"no_stop"`` (q's parameters not stopped in log q: STL is IWAE) or ``"stop_z"`` (the sample
  z stopped as well: the path term is gone and the encoder gradient is 0)."""
  def factory(orig):
    def iwae_surrogates(eps, theta, q_mean, q_log_std, x):
      from gdm_jax import bounds, models
      sg = jax.lax.stop_gradient
      std = jnp.exp(q_log_std)
      z = q_mean + std * eps
      log_w = theta.log_joint(x, z) - models.diag_gaussian_log_prob(z, q_mean, std)
      log_w_stop = theta.log_joint(x, z) - models.diag_gaussian_log_prob(z, sg(q_mean), sg(std))
      w_tilde = jax.nn.softmax(log_w_stop)
      if stop:
        w_tilde = sg(w_tilde)
      dreg = jnp.sum((w_tilde ** 2 if square else w_tilde) * log_w_stop)
      if stl == "no_stop":
        stl_w = log_w
      elif stl == "stop_z":
        stl_w = sg(log_w_stop)
      else:
        stl_w = log_w_stop
      return bounds.Surrogates(bounds.iwae_bound(log_w), bounds.iwae_bound(stl_w), dreg)
    return iwae_surrogates
  return factory


def _snr_rms_over_variance(orig):
  def snr_rms(g, blocks=20):
    g = np.asarray(g, np.float64)
    g = g[:, None] if g.ndim == 1 else g

    def snr2(a):  # |mean| / variance, the std's square root forgotten
      return float(np.mean(a.mean(0) ** 2 / a.var(0, ddof=1) ** 2 - 1.0 / a.shape[0]))

    a2 = snr2(g)
    loo = np.array([snr2(np.delete(g, b, 0))
                    for b in np.array_split(np.arange(g.shape[0]), blocks)])
    se2 = math.sqrt((blocks - 1) / blocks * np.sum((loo - loo.mean()) ** 2))
    snr = math.sqrt(max(a2, 0.0))
    return snr, (se2 / (2 * snr) if snr > 0 else math.inf)
  return snr_rms


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


def _vimco_baselines_keep_k(orig):
  """Leave-one-out that forgets to leave out: row k keeps log w_k (the diagonal not replaced by
  the others' geometric mean), so every baseline is L_K itself and the learning signal is 0."""
  def vimco_baselines(log_w):
    log_w = jnp.asarray(log_w)
    k = log_w.shape[-1]
    rows = jnp.broadcast_to(log_w[..., None, :], log_w.shape + (k,))
    return jax.scipy.special.logsumexp(rows, axis=-1) - jnp.log(jnp.asarray(k, log_w.dtype))
  return vimco_baselines


def _score_surrogates(slip: str):
  """Score-function surrogates with one slip: ``"no_baseline"``, VIMCO's signal L_K (REINFORCE
  in its place: unbiased, no variance reduction); ``"not_stopped"``, the signal L_K - L^{-k}
  differentiated too (a term sum_k grad(L_K - L^{-k}) log q_k that biases it)."""
  def factory(orig):
    def score_function_surrogates(log_joint, log_q):
      from gdm_jax import bounds
      sg = jax.lax.stop_gradient
      log_w = jnp.asarray(log_joint) - log_q
      lk = bounds.iwae_bound(log_w)
      reinforce = jnp.sum(lk + jnp.sum(sg(lk)[..., None] * log_q, -1))
      if slip == "no_baseline":
        vimco = reinforce
      else:
        vimco = jnp.sum(lk + jnp.sum((lk[..., None] - bounds.vimco_baselines(log_w)) * log_q, -1))
      return bounds.ScoreSurrogates(reinforce, vimco)
    return score_function_surrogates
  return factory


MUTATIONS: tuple[Mutation, ...] = (
    Mutation("dreg_weights_not_squared", "DReG surrogate with w_tilde for w_tilde^2",
             ((_BOUNDS, "iwae_surrogates", _surrogates(square=False)),), "grad.*"),
    Mutation("dreg_no_stop_gradient", "DReG surrogate differentiating through w_tilde",
             ((_BOUNDS, "iwae_surrogates", _surrogates(stop=False)),), "grad.*"),
    Mutation("stl_no_stop_gradient", "STL surrogate with log q(z; phi) not stopped in phi "
             "(STL = IWAE)", ((_BOUNDS, "iwae_surrogates", _surrogates(stl="no_stop")),),
             "grad.*"),
    Mutation("stl_stops_z", "STL surrogate with the sample z stopped too (no path term)",
             ((_BOUNDS, "iwae_surrogates", _surrogates(stl="stop_z")),), "grad.*"),
    Mutation("snr_rms_over_variance", "gradient SNR as |mean| / variance, not / std",
             ((_SWEEPS, "snr_rms", _snr_rms_over_variance),), "grad.snr_slopes"),
    Mutation("stl_uniform_weights", "STL surrogate as mean(log w_stop): uniform weights 1/K for "
             "w_tilde", ((_BOUNDS, "iwae_surrogates", _surrogate_slip("stl_uniform")),),
             "grad.*"),
    Mutation("dreg_log_q_not_stopped", "DReG surrogate with log q's parameters not stopped (a "
             "score term left)",
             ((_BOUNDS, "iwae_surrogates", _surrogate_slip("dreg_log_q_live")),),
             "grad.*"),
    Mutation("vimco_baseline_keeps_k", "VIMCO's leave-one-out baseline keeping sample k (the "
             "diagonal not replaced): signal 0", ((_BOUNDS, "vimco_baselines",
                                                   _vimco_baselines_keep_k),), "grad.vimco_*"),
    Mutation("vimco_signal_not_stopped", "VIMCO's learning signal L_K - L^{-k} not stopped",
             ((_BOUNDS, "score_function_surrogates", _score_surrogates("not_stopped")),),
             "grad.vimco_*"),
    Mutation("vimco_no_baseline", "VIMCO's learning signal L_K without the leave-one-out "
             "baseline (REINFORCE)",
             ((_BOUNDS, "score_function_surrogates", _score_surrogates("no_baseline")),),
             "grad.vimco_*"),
)
