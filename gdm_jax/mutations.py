r"""Planted mistakes: each :class:`Mutation` replaces a piece of the mathematics with a known
wrong version (the problem set's written answers among them). ``gdm-jax mutate`` applies them one
at a time, reruns the claims of the affected questions, and counts a mutation *caught* when at
least one claim's verdict changes from what it should be. The mutation score is caught / total.

A mutation patches module attributes; functions are looked up through their modules at trace
time, so ``jax.clear_caches()`` plus clearing the claims' memoised set-ups makes the patch visible.
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib
import math
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp



@dataclasses.dataclass(frozen=True)
class Mutation:
  name: str
  description: str
  patches: tuple[tuple[str, str, Callable], ...]  # (module, attribute, factory(original) -> new)
  scope: str                                       # glob of claim ids to rerun


def _drop_logdet(orig):
  return lambda g, z0: jnp.zeros((), jnp.result_type(z0))


def _written_base(orig):
  from gdm_jax.claims.q1 import written_base_log_prob  # Answer 1's density, as q1 states it
  return written_base_log_prob


def _squared_det(orig):
  return lambda g, z0: 2.0 * orig(g, z0)  # |det J|^2 (|diag(sigma^2)|, |S S^T|) in place of |det J|


def _log_k_plus_one(orig):
  def iwae_bound(log_w, axis=-1):
    log_w = jnp.asarray(log_w)
    return logsumexp(log_w, axis=axis) - jnp.log(log_w.shape[axis] + 1.0)
  return iwae_bound


def _mean_log_w(orig):
  return lambda log_w, axis=-1: jnp.mean(jnp.asarray(log_w), axis=axis)


def _prefix_mean_log_w(orig):
  def prefix_bounds(log_w):
    log_w = jnp.asarray(log_w)
    k = jnp.arange(1, log_w.shape[-1] + 1, dtype=log_w.dtype)
    return jnp.cumsum(log_w, axis=-1) / k
  return prefix_bounds


def _chunk_no_rescale(orig):
  def iwae_estimate(key, log_joint, sample_and_log_q, K, chunk_size=None):
    if chunk_size is None or chunk_size >= K:
      return orig(key, log_joint, sample_and_log_q, K, chunk_size)
    n = K // chunk_size
    def body(carry, i):
      m, s = carry
      z, lq = sample_and_log_q(jax.random.fold_in(key, i), chunk_size)
      lw = log_joint(z) - lq
      m2 = jnp.maximum(m, jnp.max(lw))
      return (m2, s + jnp.sum(jnp.exp(lw - m2))), None  # forgets s * exp(m - m2)
    (m, s), _ = jax.lax.scan(body, (jnp.asarray(-jnp.inf), jnp.asarray(0.0)), jnp.arange(n))
    rem = K - n * chunk_size
    if rem:
      z, lq = sample_and_log_q(jax.random.fold_in(key, n), rem)
      lw = log_joint(z) - lq
      m2 = jnp.maximum(m, jnp.max(lw))
      s, m = s + jnp.sum(jnp.exp(lw - m2)), m2
    return m + jnp.log(s) - jnp.log(K)
  return iwae_estimate


def _elbo_no_trace(orig):
  def expected_log_likelihood(model, x, q_mean, q_std):
    r = x - (q_mean @ model.W.T + model.b)
    d = model.data_dim
    return (-d * jnp.log(model.noise_std) - 0.5 * d * math.log(2 * math.pi)
            - jnp.sum(r * r, -1) / (2 * model.noise_std ** 2))
  return expected_log_likelihood


def _kl_to_prior(orig):
  from gdm_jax.models import kl_diag_gaussians
  return lambda model, x, m, s: kl_diag_gaussians(m, s, jnp.zeros_like(m), jnp.ones_like(s))


def _marginal_drops_noise_det(orig):
  def log_marginal(self, x):
    return orig(self, x) + 0.5 * self.data_dim * jnp.log(self.noise_std ** 2)
  return log_marginal


def _leaky_mask_a(orig):
  def mask(kind, kernel_size=3):
    return orig("B", kernel_size)  # type A lets the centre through
  return mask


def _flipped_kernel(orig):
  def channel_mask(kind, kernel_size, in_features, out_features, groups=1):
    return orig(kind, kernel_size, in_features, out_features, groups)[::-1, ::-1].copy()
  return channel_mask


def _d_star_swapped(orig):
  return lambda log_f1_x, log_f0_x: orig(log_f0_x, log_f1_x)  # f0 / (f0 + f1)


def _jsd_no_half_mc(orig):
  return lambda *a: 2.0 * orig(*a)


def _jsd_no_half_quad(orig):
  return lambda log_p, log_q, grid: 2.0 * orig(log_p, log_q, grid)


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


MUTATIONS: tuple[Mutation, ...] = (
    Mutation("drop_logdet", "Eq. (1) without the log|det J| term",
             (("gdm_jax.change_of_variables", "log_abs_det_jacobian", _drop_logdet),), "q1.*"),
    Mutation("written_base_normaliser", "Answer 1: N(0, I_K) normalised by (2 pi)^(-1/2)",
             (("gdm_jax.change_of_variables", "standard_normal_log_prob", _written_base),),
             "q1.*"),
    Mutation("written_det_normaliser", "Answer 1: |diag(sigma^2)| / |S S^T| for |det J|",
             (("gdm_jax.change_of_variables", "log_abs_det_jacobian", _squared_det),), "q1.*"),
    Mutation("log_k_off_by_one", "L_K with log(K + 1) in place of log K",
             (("gdm_jax.bounds", "iwae_bound", _log_k_plus_one),), "q3.*"),
    Mutation("mean_of_log_weights", "L_K as the mean of log-weights, not the log of the mean",
             (("gdm_jax.bounds", "iwae_bound", _mean_log_w),
              ("gdm_jax.bounds", "prefix_bounds", _prefix_mean_log_w)), "q3.*"),
    Mutation("chunk_forgets_rescale", "running log-sum-exp without rescaling the partial sum",
             (("gdm_jax.bounds", "iwae_estimate", _chunk_no_rescale),), "q3.*"),
    Mutation("elbo_drops_trace", "closed-form ELBO without the tr(W S W^T) term",
             (("gdm_jax.amortized", "expected_log_likelihood", _elbo_no_trace),), "q2.*,q3.elbo*"),
    Mutation("b_theta_kl_to_prior", "Answer 2.1: KL to the prior where the posterior belongs",
             (("gdm_jax.amortized", "kl_to_posterior", _kl_to_prior),), "q2.*"),
    Mutation("marginal_drops_noise_det", "log p(x) without the D log s^2 determinant term",
             (("gdm_jax.models.LinearGaussian", "log_marginal", _marginal_drops_noise_det),),
             "q2.*,q3.*"),
    Mutation("mask_a_leaks_centre", "mask A lets the centre pixel through",
             (("gdm_jax.masked_conv", "mask", _leaky_mask_a),), "q4.*"),
    Mutation("kernel_flipping", "masks applied to a flipped kernel (true convolution)",
             (("gdm_jax.masked_conv", "channel_mask", _flipped_kernel),), "q4.*"),
    Mutation("d_star_swapped", "D* = f0 / (f0 + f1)",
             (("gdm_jax.gan", "optimal_discriminator", _d_star_swapped),), "q5.*"),
    Mutation("jsd_without_half", "JSD = KL(p||m) + KL(q||m), without the 1/2",
             (("gdm_jax.divergences", "jsd_monte_carlo", _jsd_no_half_mc),
              ("gdm_jax.divergences", "jsd_quadrature", _jsd_no_half_quad)), "q5.*,q7.*"),
    Mutation("dv_wrong_sign", "R2 = E_p T + log E_q e^T",
             (("gdm_jax.kl_bounds", "r2", _dv_wrong_sign),), "q6.*"),
    Mutation("nwj_without_minus_one", "R1 = E_p T - E_q e^T (the -1 dropped)",
             (("gdm_jax.kl_bounds", "r1", _nwj_no_minus_one),
              ("gdm_jax.kl_bounds", "r1_quadrature", _nwj_quad_no_minus_one)), "q6.*"),
)


def _resolve(path: str):
  parts = path.split(".")
  for i in range(len(parts), 0, -1):
    try:
      obj = importlib.import_module(".".join(parts[:i]))
    except ModuleNotFoundError:
      continue
    for p in parts[i:]:
      obj = getattr(obj, p)
    return obj
  raise ImportError(path)


@contextlib.contextmanager
def applied(m: Mutation):
  """Applies ``m``'s patches inside the block (jax's in-memory caches and the claims' memoised
  set-ups are cleared on entry and exit, so every program is traced anew with the patch)."""
  saved = []
  try:
    for mod, attr, factory in m.patches:
      target = _resolve(mod)
      orig = getattr(target, attr)
      saved.append((target, attr, orig))
      setattr(target, attr, factory(orig))
    _clear()
    yield
  finally:
    for target, attr, orig in reversed(saved):
      setattr(target, attr, orig)
    _clear()


def _clear():
  jax.clear_caches()
  from gdm_jax import claims
  claims.clear_caches()


def run(mutations: Sequence[Mutation], config, on_result=None):
  """Returns ``[(mutation, caught, [ids of claims whose verdict flipped])]``."""
  from gdm_jax import claims
  from gdm_jax.claims.core import run_claims
  out = []
  for m in mutations:
    selected = claims.select(m.scope)
    with applied(m):
      results = run_claims(selected, config)
    flipped = [r.claim.id for r in results if not r.ok]
    out.append((m, bool(flipped), flipped))
    if on_result is not None:
      on_result(out[-1])
  return out
