r"""Planted mistakes against the q1.* claims: Q1 (change of variables).

See :mod:`gdm_jax.mutations`. Each is named by the claims whose ``mistakes`` list it; ``scope``
is the glob the whole-catalogue ``gdm-jax mutate`` reruns."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular

from gdm_jax.mutations import _COV, _LOG_2PI, Mutation


def _drop_logdet(orig):
  return lambda g, z0: jnp.zeros((), jnp.result_type(z0))


def _written_base(orig):
  from gdm_jax.claims.q1 import written_base_log_prob  # Answer 1's density, as q1 states it
  return written_base_log_prob


def _squared_det(orig):
  return lambda g, z0: 2.0 * orig(g, z0)  # |det J|^2 (|diag(sigma^2)|, |S S^T|) in place of |det J|


def _gaussian_kernel(upper: bool = False, halve: bool = True):
  """``change_of_variables._gaussian_log_prob`` with a transposed Cholesky factor (solving
  ``L^T y = x - m``, i.e. precision ``(L^T L)^-1``) or with ``log|Sigma|`` not halved."""
  def factory(orig):
    @jax.jit
    def _gaussian_log_prob(x, mean, cov):
      chol = jnp.linalg.cholesky(cov)
      diff = (x - mean).reshape(-1, mean.shape[0])
      if upper:
        sol = solve_triangular(chol.T, diff.T, lower=False)
      else:
        sol = solve_triangular(chol, diff.T, lower=True)
      maha = jnp.sum(sol * sol, axis=0).reshape(x.shape[:-1])
      logdet = jnp.sum(jnp.log(jnp.diagonal(chol))) * (1.0 if halve else 2.0)
      return -0.5 * maha - logdet - 0.5 * mean.shape[0] * _LOG_2PI
    return _gaussian_log_prob
  return factory


def _affine_transposed(orig):
  def affine(mu, scale):
    g = orig(mu, scale)  # validates
    if jnp.ndim(scale) != 2:
      return g
    m, s = jnp.asarray(mu), jnp.asarray(scale)
    return lambda z0: m + jnp.einsum("ji,...j->...i", s, z0)  # S^T z0
  return affine


def _affine_variance(orig):
  def affine(mu, scale):
    g = orig(mu, scale)
    if jnp.ndim(scale) != 1:
      return g
    m, s = jnp.asarray(mu), jnp.asarray(scale)
    return lambda z0: m + s * s * z0  # sigma^2 for sigma
  return affine


def _pushforward_plus_logdet(orig):
  def pushforward_log_prob(g, base_log_prob, z0):
    from gdm_jax import change_of_variables as cov
    z0 = jnp.asarray(z0)

    def one(z):
      return g(z), base_log_prob(z) + cov.log_abs_det_jacobian(g, z)

    return one(z0) if z0.ndim == 1 else jax.vmap(one)(z0)
  return pushforward_log_prob


def _std_normal_no_sqrt(orig):
  def standard_normal_log_prob(z):
    z = jnp.asarray(z)
    return -0.5 * jnp.sum(z * z, axis=-1) - z.shape[-1] * _LOG_2PI  # (2 pi)^-K
  return standard_normal_log_prob


def _logdet_without_abs(orig):
  return lambda g, z0: jnp.log(jnp.linalg.det(jax.jacfwd(g)(z0)))


def _bisect_flipped(orig):
  def bisect_inverse(f, y, lo, hi, num_iters=100):
    # The comparison f(m) < y flipped to f(m) > y, so the bracket runs to an end.
    y = jnp.asarray(y)
    a, b = jnp.full_like(y, lo), jnp.full_like(y, hi)

    def body(_, ab):
      a, b = ab
      m = 0.5 * (a + b)
      below = f(m) > y
      return jnp.where(below, m, a), jnp.where(below, b, m)

    a, b = jax.lax.fori_loop(0, num_iters, body, (a, b))
    return 0.5 * (a + b)
  return bisect_inverse


MUTATIONS: tuple[Mutation, ...] = (
    Mutation("drop_logdet", "Eq. (1) without the log|det J| term",
             (("gdm_jax.change_of_variables", "log_abs_det_jacobian", _drop_logdet),), "q1.*"),
    Mutation("written_base_normaliser", "Answer 1: N(0, I_K) normalised by (2 pi)^(-1/2)",
             (("gdm_jax.change_of_variables", "standard_normal_log_prob", _written_base),),
             "q1.*"),
    Mutation("written_det_normaliser", "Answer 1: |diag(sigma^2)| / |S S^T| for |det J|",
             (("gdm_jax.change_of_variables", "log_abs_det_jacobian", _squared_det),), "q1.*"),
    Mutation("gaussian_logdet_not_halved", "closed-form log N(x; m, Sigma) with log|Sigma| for "
             "log|Sigma|/2", ((_COV, "_gaussian_log_prob", _gaussian_kernel(halve=False)),),
             "q1.*"),
    Mutation("gaussian_cholesky_transposed", "closed-form log N(x; m, Sigma) solving L^T y = x - m "
             "(precision (L^T L)^-1)",
             ((_COV, "_gaussian_log_prob", _gaussian_kernel(upper=True)),), "q1.*"),
    Mutation("affine_transposed", "affine(mu, S) maps z0 to mu + S^T z0",
             ((_COV, "affine", _affine_transposed),), "q1.*"),
    Mutation("affine_variance", "affine(mu, sigma) maps z0 to mu + sigma^2 z0",
             ((_COV, "affine", _affine_variance),), "q1.*"),
    Mutation("pushforward_plus_logdet", "Eq. (1) with + log|det J| for - log|det J|",
             ((_COV, "pushforward_log_prob", _pushforward_plus_logdet),), "q1.*"),
    Mutation("standard_normal_no_sqrt", "N(0, I_K) normalised by (2 pi)^(-K), the square root "
             "forgotten", ((_COV, "standard_normal_log_prob", _std_normal_no_sqrt),), "q1.*,q3.*"),
    Mutation("logdet_without_abs", "log det J without the absolute value (NaN where det J < 0)",
             ((_COV, "log_abs_det_jacobian", _logdet_without_abs),), "q1.*"),
    Mutation("bisect_comparison_flipped", "bisection with f(m) > y for f(m) < y",
             ((_COV, "bisect_inverse", _bisect_flipped),), "q1.nonlinear*"),
)
