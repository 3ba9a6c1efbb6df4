r"""Argument checks at the public boundary.

Every public function of ``gdm_jax`` validates its arguments here, in eager mode, before any XLA
computation: a bad argument raises ``ValueError`` whose message names the argument and says how to
fix it. Value checks (positivity, finiteness, singularity) need concrete arrays; under ``jit`` the
inputs are tracers and only the shape checks run (values cannot be inspected while tracing).
"""
from __future__ import annotations

from typing import Any, Sequence

import jax
import numpy as np


def is_concrete(x: Any) -> bool:
  """True when ``x`` holds values (not a tracer inside jit/vmap/grad)."""
  return not isinstance(x, jax.core.Tracer)


def as_array(name: str, x: Any) -> Any:
  """Returns ``x`` as an array, or raises a ValueError naming ``name`` for non-numeric input."""
  if isinstance(x, jax.core.Tracer) or isinstance(x, jax.Array):
    return x
  try:
    arr = np.asarray(x)
  except Exception as e:  # pragma: no cover - exotic objects
    raise ValueError(f"`{name}` must be an array of numbers; got {type(x).__name__}.") from e
  if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
    raise ValueError(f"`{name}` must be an array of numbers; got dtype {arr.dtype}.")
  return arr


def check_finite(name: str, x: Any) -> None:
  """Raises if a concrete ``x`` has a NaN or an infinite entry."""
  x = as_array(name, x)
  if is_concrete(x):
    arr = np.asarray(x)
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
      n_bad = int(np.sum(~np.isfinite(arr)))
      raise ValueError(
          f"`{name}` has {n_bad} NaN or infinite entr{'y' if n_bad == 1 else 'ies'}; "
          "pass finite values.")


def check_not_nan(name: str, x: Any) -> None:
  """Raises if a concrete ``x`` has a NaN (infinities are allowed, e.g. log-weights of -inf)."""
  x = as_array(name, x)
  if is_concrete(x):
    arr = np.asarray(x)
    if np.issubdtype(arr.dtype, np.floating) and np.any(np.isnan(arr)):
      raise ValueError(f"`{name}` has NaN entries; pass numbers (-inf is allowed, NaN is not).")


def check_positive(name: str, x: Any) -> None:
  """Raises if a concrete ``x`` has an entry <= 0 (or NaN)."""
  check_finite(name, x)
  if is_concrete(x):
    arr = np.asarray(x)
    if np.any(arr <= 0):
      raise ValueError(
          f"`{name}` must be strictly positive; got minimum {float(np.min(arr)):.4g}. "
          "A scale or standard deviation must be > 0.")


def check_ndim(name: str, x: Any, ndims: Sequence[int]) -> None:
  if np.ndim(x) not in tuple(ndims):
    raise ValueError(
        f"`{name}` must have {' or '.join(map(str, ndims))} dimension(s); got shape "
        f"{tuple(np.shape(x))}.")


def check_last_dim(name: str, x: Any, size: int, other: str) -> None:
  if np.ndim(x) == 0 or np.shape(x)[-1] != size:
    raise ValueError(
        f"`{name}` has shape {tuple(np.shape(x))}; its last axis must have size {size} to match "
        f"{other}.")


def check_same_shape(name_a: str, a: Any, name_b: str, b: Any) -> None:
  if tuple(np.shape(a)) != tuple(np.shape(b)):
    raise ValueError(
        f"`{name_a}` has shape {tuple(np.shape(a))} but `{name_b}` has shape "
        f"{tuple(np.shape(b))}; they must match.")


def check_nonempty(name: str, x: Any) -> None:
  if np.size(x) == 0:
    raise ValueError(f"`{name}` is empty; pass at least one sample.")


def check_int(name: str, k: Any, minimum: int = 1) -> int:
  """Returns ``k`` as an int >= ``minimum`` or raises (bools and non-integers are refused)."""
  if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
    raise ValueError(f"`{name}` must be a Python int >= {minimum}; got {k!r} "
                     f"({type(k).__name__}).")
  if k < minimum:
    raise ValueError(f"`{name}` must be >= {minimum}; got {k}.")
  return int(k)


def check_square_nonsingular(name: str, s: Any) -> None:
  """Raises if ``s`` is not a square matrix or, when concrete, is (numerically) singular."""
  if np.ndim(s) != 2 or np.shape(s)[0] != np.shape(s)[1]:
    raise ValueError(f"`{name}` must be a square K x K matrix; got shape {tuple(np.shape(s))}.")
  check_finite(name, s)
  if is_concrete(s):
    arr = np.asarray(s, dtype=np.float64)
    cond = np.linalg.cond(arr)
    if not np.isfinite(cond) or cond > 1.0 / np.finfo(np.asarray(s).dtype if np.issubdtype(
        np.asarray(s).dtype, np.floating) else np.float64).eps:
      raise ValueError(
          f"`{name}` is singular (condition number {cond:.3g}); a change of variables needs a "
          "non-singular matrix.")


def check_probability(name: str, d: Any, open_interval: bool = False) -> None:
  """Raises if a concrete ``d`` has entries outside [0, 1] (or (0, 1) when ``open_interval``)."""
  check_finite(name, d)
  if is_concrete(d):
    arr = np.asarray(d)
    bad = (arr <= 0) | (arr >= 1) if open_interval else (arr < 0) | (arr > 1)
    if np.any(bad):
      interval = "(0, 1)" if open_interval else "[0, 1]"
      raise ValueError(f"`{name}` must lie in {interval} (a discriminator output); got values in "
                       f"[{float(arr.min()):.4g}, {float(arr.max()):.4g}].")
