r"""Q1: the change of variables (reparameterisation) of a density.

For a differentiable bijection :math:`g: \mathbb{R}^K \to \mathbb{R}^K` and :math:`Z_0 \sim q_0`,
Equation (1) of the problem set gives the density of :math:`X = g(Z_0)`:

.. math::
   \log q(g(z_0)) = \log q_0(z_0) - \log\left|\det \frac{\partial g(z_0)}{\partial z_0}\right|.

With :math:`q_0 = \mathcal{N}(0, I_K)` and :math:`g(z_0) = \mu + S z_0`, :math:`X \sim
\mathcal{N}(\mu, S S^\top)`, whose normaliser is :math:`(2\pi)^{-K/2} |\det S|^{-1} =
(2\pi)^{-K/2} \det(S S^\top)^{-1/2}` (Q1.2); the diagonal case :math:`S = \mathrm{diag}(\sigma)`
is Q1.1.
"""
from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular

from gdm_jax import validation as v

Array = jax.Array

_LOG_2PI = math.log(2.0 * math.pi)


def standard_normal_log_prob(z: Array) -> Array:
  r"""log N(z; 0, I_K), summed over the last axis.

  .. math:: \log \mathcal{N}(z; 0, I_K) = -\tfrac12 z^\top z - \tfrac{K}{2}\log 2\pi

  Args:
    z: ``[..., K]``.
  Returns:
    ``[...]``.
  """
  v.check_ndim("z", z, range(1, 16))
  z = v.real("z", z)  # int8 z promoted: z * z does not wrap around
  return -0.5 * jnp.sum(z * z, axis=-1) - 0.5 * z.shape[-1] * _LOG_2PI


def affine(mu: Array, scale: Array) -> Callable[[Array], Array]:
  r"""The affine reparameterisation of Q1.

  ``scale`` a vector :math:`\sigma \in \mathbb{R}^K_{>0}`: :math:`g(z_0) = \mu + \sigma \odot z_0`
  (Q1.1). ``scale`` a non-singular ``K x K`` matrix :math:`S`: :math:`g(z_0) = \mu + S z_0` (Q1.2).

  Args:
    mu: ``[K]`` location.
    scale: ``[K]`` positive scales or ``[K, K]`` non-singular matrix.
  Returns:
    ``g`` mapping ``[..., K] -> [..., K]``.
  Raises:
    ValueError: non-positive ``scale`` entries, a singular or non-square matrix, NaN, or a shape
      mismatch between ``mu`` and ``scale``.
  """
  v.check_ndim("mu", mu, (1,))
  v.check_finite("mu", mu)
  k = jnp.shape(mu)[0]
  if jnp.ndim(scale) == 1:
    v.check_last_dim("scale", scale, k, "`mu`")
    v.check_positive("scale", scale)
    mu_, s_ = v.real("mu", mu), v.real("scale", scale)
    return lambda z0: mu_ + s_ * z0
  if jnp.ndim(scale) == 2:
    v.check_square_nonsingular("scale", scale)
    v.check_last_dim("scale", scale, k, "`mu`")
    mu_, s_ = v.real("mu", mu), v.real("scale", scale)
    return lambda z0: mu_ + jnp.einsum("ij,...j->...i", s_, z0)
  raise ValueError(f"`scale` must be a [K] vector or a [K, K] matrix; got shape "
                   f"{tuple(jnp.shape(scale))}.")


def log_abs_det_jacobian(g: Callable[[Array], Array], z0: Array) -> Array:
  r""":math:`\log|\det \partial g(z_0)/\partial z_0|` by forward-mode autodiff and ``slogdet``.

  Args:
    g: a differentiable map ``[K] -> [K]``.
    z0: ``[K]`` (one point; vmap for batches).
  Returns:
    scalar.
  """
  v.check_callable("g", g, "g(z [K]) -> [K]")
  v.check_ndim("z0", z0, (1,))
  jac = jax.jacfwd(g)(v.real("z0", z0))
  return jnp.linalg.slogdet(jac)[1]


def pushforward_log_prob(g: Callable[[Array], Array],
                         base_log_prob: Callable[[Array], Array],
                         z0: Array) -> tuple[Array, Array]:
  r"""Equation (1): :math:`x = g(z_0)` and :math:`\log q(x) = \log q_0(z_0) - \log|\det J_g(z_0)|`.

  Works for any differentiable bijection ``g``; the Jacobian comes from ``jax.jacfwd``, so nothing
  about ``g`` is assumed. Batches through ``vmap``.

  Args:
    g: bijection ``[K] -> [K]`` (applied pointwise).
    base_log_prob: ``log q_0``, ``[K] -> []``.
    z0: ``[K]`` or ``[N, K]``.
  Returns:
    ``(x, log_q_x)`` of shapes ``z0.shape`` and ``z0.shape[:-1]``.
  Raises:
    ValueError: ``z0`` of the wrong rank or NaN; ``g`` not ``[K] -> [K]`` or ``base_log_prob``
      not ``[K] -> []`` (checked with :func:`jax.eval_shape` on one point, so also under
      ``jit``: a per-dimension base density would otherwise give ``[N, K]`` silently).
  """
  v.check_callable("g", g, "g(z [K]) -> [K]")
  v.check_callable("base_log_prob", base_log_prob, "base_log_prob(z [K]) -> []")
  v.check_ndim("z0", z0, (1, 2))
  z0 = v.real("z0", z0)
  one_z = jax.ShapeDtypeStruct(z0.shape[-1:], z0.dtype)
  for name, fn, want, what in (("g", g, z0.shape[-1:], "[K] -> [K] (a bijection of one point)"),
                               ("base_log_prob", base_log_prob, (),
                                "[K] -> [] (one log-density per point: sum over dimensions)")):
    out = jax.eval_shape(fn, one_z)
    if getattr(out, "shape", None) != want:
      raise ValueError(f"`{name}` must map {what}; for K = {z0.shape[-1]} it returns shape "
                       f"{getattr(out, 'shape', type(out).__name__)}.")

  def one(z):
    return g(z), base_log_prob(z) - log_abs_det_jacobian(g, z)

  if z0.ndim == 1:
    return one(z0)
  return jax.vmap(one)(z0)


def gaussian_log_prob(x: Array, mean: Array, cov: Array) -> Array:
  r"""Closed-form :math:`\log \mathcal{N}(x; m, \Sigma)` through the Cholesky factor :math:`L`.

  .. math::
     \log \mathcal{N}(x; m, \Sigma) = -\tfrac12 \|L^{-1}(x - m)\|^2 - \sum_i \log L_{ii}
       - \tfrac{K}{2} \log 2\pi, \qquad \Sigma = L L^\top.

  Args:
    x: ``[..., K]``.
    mean: ``[K]``.
    cov: ``[K, K]`` symmetric positive definite.
  Returns:
    ``[...]``.
  Raises:
    ValueError: shape mismatches, NaN, and (for a concrete ``cov``) a covariance that is not
      symmetric, not positive definite, or too ill-conditioned for its dtype: the Cholesky factor
      in float32 of a covariance whose correlation matrix has condition number 1e8 gives NaN or
      errors of tens of percent, so ``cov`` is refused once cond x eps > 1e-2 (cond <= 8.4e4 in
      float32) with the advice to use float64 (:func:`gdm_jax.validation.check_spd` derives the
      threshold). A traced ``cov`` (under ``jit``) is not checked.
  """
  v.check_ndim("mean", mean, (1,))
  v.check_finite("mean", mean)
  k = jnp.shape(mean)[0]
  v.check_last_dim("x", x, k, "`mean`")
  x = v.real("x", x)
  v.check_spd("cov", cov, k, " to match `mean`")
  return _gaussian_log_prob(x, v.real("mean", mean), v.real("cov", cov))


@jax.jit
def _gaussian_log_prob(x, mean, cov):
  chol = jnp.linalg.cholesky(cov)
  diff = (x - mean).reshape(-1, mean.shape[0])
  sol = solve_triangular(chol, diff.T, lower=True)  # [K, N]
  maha = jnp.sum(sol * sol, axis=0).reshape(x.shape[:-1])
  half_logdet = jnp.sum(jnp.log(jnp.diagonal(chol)))
  return -0.5 * maha - half_logdet - 0.5 * mean.shape[0] * _LOG_2PI


def bisect_inverse(f: Callable[[Array], Array], y: Array, lo: float, hi: float,
                   num_iters: int = 100) -> Array:
  r"""Elementwise inverse of an increasing scalar map ``f`` by bisection on ``[lo, hi]``.

  Used as an inverse-free oracle: it needs nothing about ``f`` but monotonicity. The bracket must
  hold the answer: with concrete ``y``, ``lo`` and ``hi`` it is checked that ``lo < hi``,
  ``f(lo) <= f(hi)`` (``f`` increasing) and ``f(lo) <= y <= f(hi)``; otherwise bisection would
  silently return an end of the bracket. Traced values (under ``jit``) are not checked.

  Raises:
    ValueError: ``lo >= hi``, a decreasing ``f``, ``y`` outside ``[f(lo), f(hi)]`` or NaN, or
      ``num_iters < 1``.
  """
  v.check_int("num_iters", num_iters)
  v.check_less("lo", lo, "hi", hi)
  v.check_not_nan("y", y)
  y = jnp.asarray(y)
  if v.is_concrete(y) and v.is_concrete(lo) and v.is_concrete(hi):
    import numpy as np
    f_lo = np.asarray(f(jnp.full_like(y, lo)))
    f_hi = np.asarray(f(jnp.full_like(y, hi)))
    if np.any(f_lo > f_hi):
      raise ValueError("`f` must be increasing on [`lo`, `hi`]; f(lo) > f(hi). Pass -f and -y "
                       "for a decreasing map.")
    yy = np.asarray(y)
    out = (yy < f_lo) | (yy > f_hi)
    if np.any(out):
      raise ValueError(
          f"`y` has {int(np.sum(out))} value(s) outside [f(lo), f(hi)] = "
          f"[{float(np.min(f_lo)):.6g}, {float(np.max(f_hi)):.6g}]: the inverse is not in "
          "[`lo`, `hi`]. Widen the bracket.")
  a = jnp.full_like(y, lo)
  b = jnp.full_like(y, hi)

  def body(_, ab):
    a, b = ab
    m = 0.5 * (a + b)
    below = f(m) < y
    return jnp.where(below, m, a), jnp.where(below, b, m)

  a, b = jax.lax.fori_loop(0, num_iters, body, (a, b))
  return 0.5 * (a + b)
