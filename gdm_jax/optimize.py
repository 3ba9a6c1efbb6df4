r"""Derivative-free 1-D maximisation, vectorised: the numerical oracle for the pointwise optima of
Q5 and Q6 (it knows nothing of the closed forms it is compared with)."""
from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp

from gdm_jax import validation as v

_INV_PHI = (math.sqrt(5.0) - 1.0) / 2.0


def golden_section_max(f: Callable, lo, hi, num_iters: int = 120):
  r"""Elementwise argmax and max of a unimodal ``f`` on ``[lo, hi]`` by golden-section search.

  ``f`` maps an array of candidates (the shape of ``lo``) to values of the same shape. The
  bracket shrinks by :math:`1/\varphi` per iteration: 120 iterations reach the dtype's resolution
  for any bracket below 1e20. Returns ``(x_max, f(x_max))``.

  ``lo`` and ``hi``: finite real numbers (ints promoted, :func:`gdm_jax.validation.real`),
  broadcast together, ``lo < hi`` where concrete; ``num_iters >= 0``.
  """
  v.check_callable("f", f, "(x [...]) -> [...] (values of the candidates)")
  num_iters = v.check_int("num_iters", num_iters, minimum=0)
  a, b = v.real("lo", lo), v.real("hi", hi)
  try:
    a, b = jnp.broadcast_arrays(a, b)
  except ValueError:
    raise ValueError(f"`lo` has shape {a.shape} and `hi` {b.shape}; they must broadcast.") from None
  v.check_less("lo", a, "hi", b)
  dtype = jnp.result_type(a, b)
  a, b = a.astype(dtype), b.astype(dtype)
  out = jax.eval_shape(f, jax.ShapeDtypeStruct(a.shape, dtype))
  if getattr(out, "shape", None) != a.shape:
    raise ValueError(f"`f` must map candidates of shape {a.shape} to values of that shape; it "
                     f"returns {getattr(out, 'shape', type(out).__name__)}.")
  c = b - _INV_PHI * (b - a)
  d = a + _INV_PHI * (b - a)
  fc, fd = f(c), f(d)

  def body(_, s):
    a, b, c, d, fc, fd = s
    left = fc > fd  # the maximum lies in [a, d]
    a2 = jnp.where(left, a, c)
    b2 = jnp.where(left, d, b)
    c2 = jnp.where(left, b2 - _INV_PHI * (b2 - a2), d)
    d2 = jnp.where(left, c, a2 + _INV_PHI * (b2 - a2))
    fnew = f(jnp.where(left, c2, d2))
    fc2 = jnp.where(left, fnew, fd)
    fd2 = jnp.where(left, fc, fnew)
    return a2, b2, c2, d2, fc2, fd2

  a, b, c, d, fc, fd = jax.lax.fori_loop(0, num_iters, body, (a, b, c, d, fc, fd))
  x = jnp.where(fc > fd, c, d)
  return x, jnp.maximum(fc, fd)
