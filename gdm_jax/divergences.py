r"""Q7: Kullback-Leibler and Jensen-Shannon divergences, by quadrature and by Monte Carlo.

With the problem set's convention (natural log, a half on each side):

.. math::
   D_{JS}(p \| q) = \tfrac12 D_{KL}(p \| m) + \tfrac12 D_{KL}(q \| m), \quad m = \tfrac{p + q}{2},
   \qquad 0 \le D_{JS} \le \log 2,

with :math:`D_{JS} = \log 2` exactly when the supports are disjoint (Q7). Densities are passed as
log-densities (``-inf`` off the support); :math:`0 \log 0 = 0` is honoured.

The quadrature functions need what makes the bounds true: a strictly increasing grid (a decreasing
one has negative trapezoid weights and gives negative divergences) and normalised densities on it
(an unnormalised ``p`` gives a "JSD" above log 2). With concrete arguments both are checked
(:func:`gdm_jax.validation.check_increasing`, :func:`gdm_jax.validation.check_normalised`: the
trapezoid mass must be 1 within max cell width x total variation of the density); traced
arguments (under ``jit``) are not.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from gdm_jax import validation as v

Array = jax.Array
LOG2 = math.log(2.0)


def trapezoid_weights(grid: Array) -> Array:
  r"""Trapezoid weights :math:`w_i = (h_{i-1} + h_i) / 2` on a strictly increasing 1-D ``grid``
  (``[n] -> [n]``, :math:`h_i = x_{i+1} - x_i`; the ends get half a cell)."""
  grid = v.real("grid", grid)  # an int grid is promoted: its weights are not truncated to 0
  v.check_increasing("grid", grid)
  h = jnp.diff(grid)
  w = jnp.zeros_like(grid)
  return w.at[:-1].add(0.5 * h).at[1:].add(0.5 * h)


def _xlogy_exp(log_a: Array, log_b: Array) -> Array:
  """a log(a/b) with a = exp(log_a); 0 where a = 0 (0 log 0 = 0)."""
  a = jnp.exp(log_a)
  safe = jnp.where(jnp.isfinite(log_a), log_a - log_b, 0.0)
  return jnp.where(a > 0, a * safe, 0.0)


def check_quadrature_args(log_p: Array, log_q: Array, grid: Array) -> tuple[Array, Array, Array]:
  """Validates log-densities on a grid: a strictly increasing 1-D ``grid``, ``log_p`` and ``log_q``
  of its shape without NaN or +inf (-inf is a zero density), and (concrete) each a normalised
  density on it. Returns the three as float arrays (:func:`gdm_jax.validation.real`)."""
  grid = v.real("grid", grid)
  log_p = v.real("log_p", log_p, neg_inf=True)
  log_q = v.real("log_q", log_q, neg_inf=True)
  v.check_ndim("grid", grid, (1,))
  v.check_same_shape("log_p", log_p, "grid", grid)
  v.check_same_shape("log_q", log_q, "grid", grid)
  v.check_increasing("grid", grid)
  v.check_normalised("log_p", log_p, grid)
  v.check_normalised("log_q", log_q, grid)
  return log_p, log_q, grid


def kl_quadrature(log_p: Array, log_q: Array, grid: Array) -> Array:
  r""":math:`\int p \log(p/q)` by the trapezoid rule on a 1-D ``grid`` (log-densities on it)."""
  log_p, log_q, grid = check_quadrature_args(log_p, log_q, grid)
  return jnp.sum(trapezoid_weights(grid) * _xlogy_exp(log_p, log_q))


def log_mixture(log_p: Array, log_q: Array) -> Array:
  r""":math:`\log m = \log\frac{p + q}{2}` (stable, ``-inf`` where both vanish)."""
  return jnp.logaddexp(log_p, log_q) - LOG2


def jsd_quadrature(log_p: Array, log_q: Array, grid: Array) -> Array:
  r""":math:`D_{JS}(p\|q)` by the trapezoid rule on a 1-D ``grid``."""
  log_p, log_q, grid = check_quadrature_args(log_p, log_q, grid)
  log_m = log_mixture(log_p, log_q)
  w = trapezoid_weights(grid)
  return 0.5 * jnp.sum(w * _xlogy_exp(log_p, log_m)) + 0.5 * jnp.sum(w * _xlogy_exp(log_q, log_m))


def jsd_monte_carlo_terms(log_p_at_p: Array, log_q_at_p: Array, log_p_at_q: Array,
                          log_q_at_q: Array) -> tuple[Array, Array]:
  r"""Per-sample terms whose means give :math:`D_{JS}`:

  .. math:: D_{JS} = \tfrac12\mathbb{E}_p[\log p - \log m] + \tfrac12\mathbb{E}_q[\log q - \log m].

  Args: log-densities of both distributions at samples ``x ~ p`` (``[N]``) and ``y ~ q``
  (``[M]``). Returns ``(terms_p [N], terms_q [M])``; ``0.5 * (mean(terms_p) + mean(terms_q))``
  is the estimate.
  """
  names = ("log_p_at_p", "log_q_at_p", "log_p_at_q", "log_q_at_q")
  args = (log_p_at_p, log_q_at_p, log_p_at_q, log_q_at_q)
  for name, a in zip(names, args):
    v.check_ndim(name, a, (1,))
    v.check_nonempty(name, a)
  log_p_at_p, log_q_at_p, log_p_at_q, log_q_at_q = (
      v.real(n, a, neg_inf=True) for n, a in zip(names, args))
  v.check_same_shape("log_p_at_p", log_p_at_p, "log_q_at_p", log_q_at_p)
  v.check_same_shape("log_p_at_q", log_p_at_q, "log_q_at_q", log_q_at_q)
  # Samples of p have p > 0 (and of q, q > 0): log p(x ~ p) = -inf is a sample off p's support,
  # and its term would be -inf - -inf = NaN (or the estimate leave [0, log 2]).
  for name, a in (("log_p_at_p", log_p_at_p), ("log_q_at_q", log_q_at_q)):
    if v.is_concrete(a) and np.any(np.isneginf(np.asarray(a))):
      raise ValueError(f"`{name}` has -inf entries: a sample of a distribution has positive "
                       "density under it. Pass the log-density at samples drawn from it.")
  tp = log_p_at_p - log_mixture(log_p_at_p, log_q_at_p)
  tq = log_q_at_q - log_mixture(log_p_at_q, log_q_at_q)
  return tp, tq


def jsd_monte_carlo(log_p_at_p, log_q_at_p, log_p_at_q, log_q_at_q, with_se: bool = False):
  r""":math:`\hat D_{JS} = \tfrac12(\overline{t_p} + \overline{t_q})` from the terms of
  :func:`jsd_monte_carlo_terms`; with ``with_se=True`` also its standard error
  :math:`\tfrac12\sqrt{s_p^2/N + s_q^2/M}` (independent samples of p and q; ``N, M >= 2``)."""
  tp, tq = jsd_monte_carlo_terms(log_p_at_p, log_q_at_p, log_p_at_q, log_q_at_q)
  est = 0.5 * (jnp.mean(tp) + jnp.mean(tq))
  if not with_se:
    return est
  if tp.size < 2 or tq.size < 2:
    raise ValueError("`with_se=True` needs at least 2 samples of each distribution.")
  se = 0.5 * jnp.sqrt(jnp.var(tp, ddof=1) / tp.size + jnp.var(tq, ddof=1) / tq.size)
  return est, se


def wasserstein1_1d(x: Array, y: Array) -> Array:
  r"""Empirical :math:`W_1` between equal-size 1-D samples: mean of ``|sorted x - sorted y|`` (the
  monotone coupling is optimal in 1-D). Differentiable in the sample values. ``x, y [N] -> []``
  (an ``[N, 2]`` array is refused: sorting would pool its columns)."""
  v.check_ndim("x", x, (1,))
  v.check_nonempty("x", x)
  v.check_same_shape("x", x, "y", y)
  x, y = v.real("x", x), v.real("y", y)  # int8 samples promoted: no wrap-around
  return jnp.mean(jnp.abs(jnp.sort(x) - jnp.sort(y)))
