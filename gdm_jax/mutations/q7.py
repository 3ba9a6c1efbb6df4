r"""Planted mistakes against the q7.* claims: Q7 (divergences).

See :mod:`gdm_jax.mutations`. Each is named by the claims whose ``mistakes`` list it; ``scope``
is the glob the whole-catalogue ``gdm-jax mutate`` reruns."""
from __future__ import annotations

import jax.numpy as jnp

from gdm_jax.mutations import _DV, _KB, Mutation, _at


def _jsd_no_half_mc(orig):
  return lambda *a: 2.0 * orig(*a)


def _jsd_no_half_quad(orig):
  return lambda log_p, log_q, grid: 2.0 * orig(log_p, log_q, grid)


def _trapezoid_riemann(orig):
  def trapezoid_weights(grid):
    h = jnp.diff(grid)
    return orig(grid).at[0].add(0.5 * h[0]).at[-1].add(0.5 * h[-1])  # end weights h, not h/2
  return trapezoid_weights


def _kl_quadrature_swapped(orig):
  return lambda log_p, log_q, grid: orig(log_q, log_p, grid)


def _log_mixture_no_half(orig):
  return lambda log_p, log_q: jnp.logaddexp(log_p, log_q)


def _wasserstein_unsorted(orig):
  return lambda x, y: jnp.mean(jnp.abs(jnp.asarray(x) - jnp.asarray(y)))


def _w1_abs_outside(orig):
  return lambda x, y: jnp.abs(jnp.mean(jnp.sort(x) - jnp.sort(y)))


def _jsd_quad_one_side(orig):
  from gdm_jax import divergences as dv
  def jsd_quadrature(log_p, log_q, grid):
    log_m = dv.log_mixture(log_p, log_q)
    return jnp.sum(dv.trapezoid_weights(grid) * dv._xlogy_exp(log_p, log_m))
  return jsd_quadrature


def _jsd_mc_pooled(orig):
  from gdm_jax import divergences as dv
  def jsd_monte_carlo(a, b, c, d, with_se=False):
    tp, tq = dv.jsd_monte_carlo_terms(a, b, c, d)
    est = jnp.mean(jnp.concatenate([tp, tq]))
    if not with_se:
      return est
    return est, 0.5 * jnp.sqrt(jnp.var(tp, ddof=1) / tp.size + jnp.var(tq, ddof=1) / tq.size)
  return jsd_monte_carlo


def _jsd_se_no_half(orig):
  def jsd_monte_carlo(a, b, c, d, with_se=False):
    out = orig(a, b, c, d, with_se=with_se)
    return (out[0], 2.0 * out[1]) if with_se else out
  return jsd_monte_carlo


def _kl_drops_q_weight(orig):
  def kl_quadrature(log_p, log_q, grid):
    from gdm_jax import divergences as dv
    lr = jnp.asarray(log_p) - jnp.asarray(log_q)
    return jnp.sum(dv.trapezoid_weights(grid) * jnp.exp(lr) * lr)  # int (p/q) log(p/q): q dropped
  return kl_quadrature


def _kl_cross_term_sign(orig):
  def kl_quadrature(log_p, log_q, grid):
    from gdm_jax import divergences as dv
    w, p = dv.trapezoid_weights(grid), jnp.exp(jnp.asarray(log_p))
    return jnp.sum(w * p * log_p) + jnp.sum(w * p * log_q)  # + int p log q for - int p log q
  return kl_quadrature


def _trapezoid_even(orig):
  def trapezoid_weights(grid):
    grid = jnp.asarray(grid)
    h = (grid[-1] - grid[0]) / (grid.shape[0] - 1)  # the spacing assumed even
    return jnp.full_like(grid, h).at[0].multiply(0.5).at[-1].multiply(0.5)
  return trapezoid_weights


MUTATIONS: tuple[Mutation, ...] = (
    Mutation("jsd_without_half", "JSD = KL(p||m) + KL(q||m), without the 1/2",
             (("gdm_jax.divergences", "jsd_monte_carlo", _jsd_no_half_mc),
              ("gdm_jax.divergences", "jsd_quadrature", _jsd_no_half_quad)), "q5.*,q7.*"),
    Mutation("kl_quadrature_drops_q_weight", "kl_quadrature integrates (p/q) log(p/q) (the "
             "weight q dropped)", ((_DV, "kl_quadrature", _kl_drops_q_weight),), "q7.*"),
    Mutation("kl_quadrature_cross_term_sign", "kl_quadrature as int p log p + int p log q",
             ((_DV, "kl_quadrature", _kl_cross_term_sign),), "q7.*"),
    Mutation("trapezoid_even_spacing", "trapezoid weights with one spacing (last - first)/(n - 1) "
             "for an uneven grid", _at("trapezoid_weights", _trapezoid_even, _DV, _KB,
                                       "gdm_jax.claims.q6"), "q5.*,q6.*,q7.*"),
    Mutation("trapezoid_riemann", "trapezoid end weights h for h/2 (a Riemann sum)",
             _at("trapezoid_weights", _trapezoid_riemann, _DV, _KB, "gdm_jax.claims.q6"),
             "q5.*,q6.*,q7.*"),
    Mutation("kl_quadrature_swapped", "kl_quadrature computes KL(q || p)",
             ((_DV, "kl_quadrature", _kl_quadrature_swapped),), "q6.*,q7.*"),
    Mutation("log_mixture_no_half", "log m = log(p + q), the 1/2 (- log 2) forgotten",
             ((_DV, "log_mixture", _log_mixture_no_half),), "q5.*,q7.*"),
    Mutation("wasserstein_unsorted", "W1 = mean |x - y| without sorting",
             ((_DV, "wasserstein1_1d", _wasserstein_unsorted),), "q7.*"),
    Mutation("w1_abs_outside", "W1 = |mean(sorted x - sorted y)| (abs outside the mean)",
             ((_DV, "wasserstein1_1d", _w1_abs_outside),), "q7.*"),
    Mutation("jsd_quadrature_one_side", "JSD by quadrature = KL(p || m) alone, no 1/2",
             ((_DV, "jsd_quadrature", _jsd_quad_one_side),), "q5.*,q7.*"),
    Mutation("jsd_mc_pooled", "Monte Carlo JSD as the pooled mean of both samples' terms",
             ((_DV, "jsd_monte_carlo", _jsd_mc_pooled),), "q5.*,q7.*"),
    Mutation("jsd_se_no_half", "the Monte Carlo JSD's standard error without the 1/2",
             ((_DV, "jsd_monte_carlo", _jsd_se_no_half),), "q7.*"),
)
