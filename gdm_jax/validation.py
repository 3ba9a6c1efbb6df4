# Not chex.assert_*: AssertionError, without the argument's name and the fix that users get here.
r"""Argument checks at the public boundary.

Every public function of ``gdm_jax`` validates its arguments here, in eager mode, before any XLA
computation: a bad argument raises ``ValueError`` whose message names the argument and says how to
fix it. Value checks (positivity, finiteness, singularity) need concrete arrays; under ``jit`` the
inputs are tracers and only the shape and dtype checks run (values cannot be inspected while
tracing: a traced NaN or a traced negative scale is not caught). Where a check must survive
tracing, wrap the jitted call in ``jax.experimental.checkify.checkify(f,
errors=checkify.float_checks)``: a traced bad value (a negative scale, a NaN input) then reports
the NaN it produces, with the primitive that produced it, instead of returning it silently
(``tests/test_bad_input.py`` shows it). Shape checks, and the checks on the shapes that a
user-supplied function returns (``jax.eval_shape``), run at trace time and so hold under ``jit``.

Complex dtypes are refused by every check here (:func:`as_array`): every quantity in gdm_jax is a
real density, log-density, scale or sample, and a complex input would silently drop or mix its
imaginary part.

The input rules (one place; :func:`real` applies them to every real-valued array argument):

- **dtypes.** float32 and float64 are computed in as given. Integer arrays (any width, signed or
  not) are promoted to the default float dtype (``jnp.result_type(float)``: float64 with
  ``jax_enable_x64``, else float32) before any arithmetic: an int grid, int8 samples or int
  log-densities give the number their float values give (no int overflow, no float scattered into
  an int array). bool, float16, bfloat16, complex and non-numeric arrays are refused with a
  ``ValueError`` naming the argument: a bool is a mask, not a number (cast it yourself if you
  mean 0 and 1), the 16-bit floats overflow at ``exp(11.1)`` (float16) and carry 2-3 significant
  digits, too few for the log-space arithmetic here (cast to float32), and complex numbers have
  no meaning as a density. The dtype rules are static, so they hold under ``jit`` too.
- **NaN and infinities** (concrete arrays). NaN is refused everywhere. ``+inf`` is refused
  everywhere (a density, a weight or a critic value of ``+inf`` has no finite estimate).
  ``-inf`` is accepted where it means a zero density: log-densities, log-weights and
  log-probabilities (``neg_inf=True``); elsewhere (samples, grids, scales, critic values and
  scores, logits) it is refused. Under ``jit`` the values are not inspected (see above).
- **sizes and counts.** Counts are Python ints checked against their range (:func:`check_int`,
  with ``maximum`` when a count indexes data), so 0, -1 and a count larger than the data are
  refused; an empty array is refused where a mean or a batch of samples is needed.
- **callables and keys.** A function argument must be callable (:func:`check_callable`); a
  ``key`` must be a PRNG key, ``jax.random.key(seed)`` or a legacy ``uint32 [2]``
  ``jax.random.PRNGKey(seed)`` (:func:`check_key`).
- **broadcasting.** Arguments are not broadcast silently: a scalar parameter (``rho``) must be a
  scalar where the formula has one (:func:`check_scalar`).
"""
from __future__ import annotations

import os
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

#: A covariance is refused when cond(R) * eps(dtype) exceeds this, R its correlation matrix (see
#: :func:`check_spd`).
MAX_COND_EPS = 1e-2


def is_concrete(x: Any) -> bool:
  """True when ``x`` holds values (not a tracer inside jit/vmap/grad)."""
  return not isinstance(x, jax.core.Tracer)


def _refuse_complex(name: str, dtype) -> None:
  if np.issubdtype(dtype, np.complexfloating):
    raise ValueError(f"`{name}` has complex dtype {dtype}; pass real numbers (take `.real` or "
                     "`abs` explicitly if that is what you mean).")


def as_array(name: str, x: Any) -> Any:
  """Returns ``x`` as an array, or raises a ValueError naming ``name`` for non-numeric or complex
  input."""
  if isinstance(x, jax.core.Tracer) or isinstance(x, jax.Array):
    if not jax.dtypes.issubdtype(x.dtype, jax.dtypes.extended):
      _refuse_complex(name, x.dtype)
    return x
  try:
    arr = np.asarray(x)
  except Exception as e:  # pragma: no cover - exotic objects
    raise ValueError(f"`{name}` must be an array of numbers; got {type(x).__name__}.") from e
  if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
    raise ValueError(f"`{name}` must be an array of numbers; got dtype {arr.dtype}.")
  _refuse_complex(name, arr.dtype)
  return arr


#: dtypes refused by :func:`real`, with the reason given in the error.
_REFUSED_FLOATS = ("float16", "bfloat16")


def default_float():
  """The dtype integer arrays are promoted to: float64 with ``jax_enable_x64``, else float32."""
  return jnp.result_type(float)


def real(name: str, x: Any, *, neg_inf: bool = False, pos_inf: bool = False) -> Any:
  """``x`` as a real float array under the package's input rules (module docstring): float32 and
  float64 as given, integers promoted to :func:`default_float`; bool, float16, bfloat16, complex,
  keys and non-numbers refused. On a concrete array NaN is refused, ``+inf`` unless ``pos_inf``
  and ``-inf`` unless ``neg_inf`` (a log-density of a zero density). Returns a jax array (a
  tracer unchanged in dtype when it is float32/float64)."""
  if isinstance(x, jax.core.Tracer) or isinstance(x, jax.Array):
    dtype = x.dtype
  else:
    x = as_array(name, x)
    dtype = x.dtype
  if jax.dtypes.issubdtype(dtype, jax.dtypes.extended):
    raise ValueError(f"`{name}` is a PRNG key array ({dtype}); pass an array of real numbers.")
  _refuse_complex(name, dtype)
  dtype = np.dtype(dtype)
  if dtype == np.bool_:
    raise ValueError(f"`{name}` has dtype bool; a mask is not a number here. Pass real numbers "
                     f"(`{name}.astype(float)` if you mean 0 and 1).")
  if dtype.name in _REFUSED_FLOATS:
    raise ValueError(f"`{name}` has dtype {dtype.name}, too narrow for this log-space arithmetic "
                     "(exp overflows at 11.1 in float16, 2-3 significant digits); pass float32 "
                     f"or float64 (`{name}.astype(jnp.float32)`).")
  if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)):
    raise ValueError(f"`{name}` must be an array of real numbers; got dtype {dtype}.")
  if np.issubdtype(dtype, np.integer):
    if is_concrete(x):
      x = np.asarray(x).astype(default_float())
    else:
      x = x.astype(default_float())
  if is_concrete(x):
    arr = np.asarray(x)
    refused = [("NaN", np.isnan(arr))]
    if not pos_inf:
      refused.append(("+inf", arr == np.inf))
    if not neg_inf:
      refused.append(("-inf", arr == -np.inf))
    found = [(w, int(np.sum(b))) for w, b in refused if np.any(b)]
    if found:
      counts = ", ".join(f"{n} {w}" for w, n in found)
      allowed = " (-inf, a zero density, is allowed)" if neg_inf else ""
      plural = "y" if sum(n for _, n in found) == 1 else "ies"
      raise ValueError(f"`{name}` has {counts} entr{plural}; pass finite values{allowed}.")
  return jnp.asarray(x)


def check_scalar(name: str, x: Any) -> None:
  """Raises unless ``x`` is a scalar (0-d): a parameter that the formula takes as one number."""
  if np.ndim(x) != 0:
    raise ValueError(f"`{name}` must be a scalar; got shape {tuple(np.shape(x))}. Call once per "
                     "value (or jax.vmap over them) instead of passing an array.")


def check_callable(name: str, f: Any, signature: str) -> None:
  """Raises unless ``f`` is callable, naming the signature it should have."""
  if not callable(f):
    raise ValueError(f"`{name}` must be a function {signature}; got {type(f).__name__} "
                     f"{f!r:.60}.")


def check_key(name: str, key: Any) -> None:
  """Raises unless ``key`` is one PRNG key: a typed key of shape ``()`` (``jax.random.key``) or
  a legacy raw ``uint32 [2]`` key (``jax.random.PRNGKey``). Integer or float arrays, Python
  ints and batches of keys are refused (holds under ``jit``: dtypes and shapes are static)."""
  dtype = getattr(key, "dtype", None)
  shape = tuple(np.shape(key)) if dtype is not None else None
  if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
    if shape == ():
      return
  elif dtype is not None and np.dtype(dtype) == np.uint32 and shape == (2,):
    return
  got = (f"{type(key).__name__}" if dtype is None else f"an array of dtype {dtype} and shape "
         f"{shape}")
  raise ValueError(f"`{name}` must be one PRNG key, jax.random.key(seed); got {got}. Make one "
                   "with jax.random.key(seed) (split it for several calls).")


def check_rate(name: str, x: Any) -> float:
  """Returns a learning rate as a float: a finite real number >= 0 (0 leaves the parameters at
  their initialisation). Traced values pass unchecked."""
  if not is_concrete(x):
    return x
  if isinstance(x, bool) or np.ndim(x) != 0:
    raise ValueError(f"`{name}` must be a real number >= 0; got {x!r}.")
  try:
    f = float(x)
  except (TypeError, ValueError):
    raise ValueError(f"`{name}` must be a real number >= 0; got {x!r}.") from None
  if not (np.isfinite(f) and f >= 0):
    raise ValueError(f"`{name}` must be a finite number >= 0 (a step size; a negative one "
                     f"ascends the loss); got {f}.")
  return x


def _real_dtype(name: str, x: Any) -> Any:
  """:func:`as_array` plus the dtype rule of :func:`real` (bool, float16, bfloat16 refused)."""
  x = as_array(name, x)
  if not jax.dtypes.issubdtype(x.dtype, jax.dtypes.extended):
    if np.dtype(x.dtype) == np.bool_ or np.dtype(x.dtype).name in _REFUSED_FLOATS:
      real(name, jnp.zeros((), x.dtype))  # raises the rule's message
  return x


def apply_net(name: str, net: Any, params: Any, *args: Any, **kwargs: Any) -> Any:
  """``net.apply(params, *args, **kwargs)``, with a flax error (parameters of another network: a missing
  collection, a wrong shape) turned into one ``ValueError`` naming ``name``."""
  from flax import errors as flax_errors
  try:
    return net.apply(params, *args, **kwargs)
  except flax_errors.FlaxError as e:
    first = str(e).splitlines()[0][:200]
    raise ValueError(f"`{name}` do not fit the network {type(net).__name__} (the parameters of "
                     f"another network or another `hidden`?): {first}") from None


def check_finite(name: str, x: Any) -> None:
  """Raises if a concrete ``x`` has a NaN or an infinite entry."""
  x = _real_dtype(name, x)
  if is_concrete(x):
    arr = np.asarray(x)
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
      n_bad = int(np.sum(~np.isfinite(arr)))
      raise ValueError(
          f"`{name}` has {n_bad} NaN or infinite entr{'y' if n_bad == 1 else 'ies'}; "
          "pass finite values.")


def check_not_nan(name: str, x: Any) -> None:
  """Raises if a concrete ``x`` has a NaN (infinities are allowed, e.g. log-weights of -inf)."""
  x = _real_dtype(name, x)
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


def check_int(name: str, k: Any, minimum: int = 1, maximum: int | None = None,
              what: str = "") -> int:
  """Returns ``k`` as an int in ``[minimum, maximum]`` or raises (bools and non-integers are
  refused); ``what`` says where the maximum comes from."""
  if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
    raise ValueError(f"`{name}` must be a Python int >= {minimum}; got {k!r} "
                     f"({type(k).__name__}).")
  if k < minimum:
    raise ValueError(f"`{name}` must be >= {minimum}; got {k}.")
  if maximum is not None and k > maximum:
    raise ValueError(f"`{name}` must be <= {maximum}{what}; got {k}.")
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


def _float_dtype(arr) -> np.dtype:
  """The array's dtype when floating, else float64 (integers are exact)."""
  return arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.dtype(np.float64)


def check_axis(name: str, axis: Any, ndim: int) -> int:
  """Returns ``axis`` normalised to ``[0, ndim)`` or raises (non-integers, out of range)."""
  if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
    raise ValueError(f"`{name}` must be an int; got {axis!r} ({type(axis).__name__}).")
  if not -ndim <= axis < ndim:
    raise ValueError(f"`{name}` = {axis} is out of range for an array with {ndim} dimension(s); "
                     f"pass an axis in [{-ndim}, {ndim - 1}].")
  return int(axis) % ndim


def check_less(name_lo: str, lo: Any, name_hi: str, hi: Any) -> None:
  """Raises if concrete ``lo`` and ``hi`` have an entry with ``lo >= hi`` (or are not finite)."""
  check_finite(name_lo, lo)
  check_finite(name_hi, hi)
  if is_concrete(lo) and is_concrete(hi) and np.any(np.asarray(lo) >= np.asarray(hi)):
    raise ValueError(f"`{name_lo}` must be < `{name_hi}`; got {name_lo} = {np.asarray(lo)}, "
                     f"{name_hi} = {np.asarray(hi)}. Swap them or widen the interval.")


def check_spd(name: str, c: Any, size: int | None = None, other: str = "") -> None:
  r"""Raises unless ``c`` is a ``size x size`` matrix and, when concrete, a covariance that the
  dtype can factorise: symmetric, positive definite and well conditioned.

  - Symmetric: :math:`\max|C - C^\top| \le \sqrt{\epsilon}\,\max|C|` (rounding of a product
    such as :math:`A A^\top` stays far below; a genuinely non-symmetric matrix does not). The
    Cholesky factorisation reads one triangle only, so a non-symmetric matrix would silently be
    replaced by its symmetric part.
  - Positive definite: the smallest eigenvalue (float64) is > 0.
  - Conditioned: the Cholesky factorisation is backward stable relative to the diagonal (van der
    Sluis; Demmel 1989), so what matters is the condition number of the correlation matrix
    :math:`R = D^{-1/2} C D^{-1/2}`, :math:`D = \mathrm{diag}(C)` (a badly scaled but weakly
    correlated ``C`` is fine). A log-density computed through it carries an absolute error of
    about :math:`\mathrm{cond}(R)\,\epsilon\,(K + \text{Mahalanobis}^2)` nats, and the
    factorisation fails (NaN) near :math:`\mathrm{cond}(R)\,\epsilon = 1`. We refuse
    :math:`\mathrm{cond}(R)\,\epsilon >` :data:`MAX_COND_EPS` ``= 1e-2``: there the measured error
    at typical points is already about 1e-2 nats (1% in the density), and it grows linearly. That
    admits :math:`\mathrm{cond}(R) \le 8.4 \times 10^4` in float32 and :math:`4.5 \times 10^{13}`
    in float64: the advice is float64.
  """
  shape = tuple(np.shape(c))
  if len(shape) != 2 or shape[0] != shape[1] or (size is not None and shape[0] != size):
    want = f"[{size}, {size}]" if size is not None else "square [K, K]"
    raise ValueError(f"`{name}` must be a {want} matrix{other}; got shape {shape}.")
  check_finite(name, c)
  if not is_concrete(c) or shape[0] == 0:
    return
  arr = np.asarray(c)
  dtype = _float_dtype(arr)
  a = arr.astype(np.float64)
  scale = float(np.max(np.abs(a)))
  asym = float(np.max(np.abs(a - a.T)))
  if asym > np.sqrt(np.finfo(dtype).eps) * scale:
    raise ValueError(f"`{name}` is not symmetric (max |C - C^T| = {asym:.3g}, max |C| = "
                     f"{scale:.3g}); a covariance must be symmetric (pass (C + C.T) / 2 if the "
                     "difference is rounding).")
  lam_min = float(np.min(np.linalg.eigvalsh(a)))
  if not lam_min > 0:
    raise ValueError(f"`{name}` must be positive definite; its minimum eigenvalue is "
                     f"{lam_min:.4g}. Pass a covariance with all eigenvalues > 0 (e.g. add a "
                     "small multiple of the identity).")
  d = np.sqrt(np.diagonal(a))
  cond = float(np.linalg.cond(a / np.outer(d, d)))
  eps = float(np.finfo(dtype).eps)
  if not cond * eps <= MAX_COND_EPS:
    raise ValueError(
        f"`{name}` is too ill-conditioned for {dtype.name}: its correlation matrix has condition "
        f"number {cond:.3g}, and cond x eps = {cond * eps:.2g} > {MAX_COND_EPS} (a Cholesky "
        f"factor in {dtype.name} gives log-densities off by about cond x eps x (K + "
        "Mahalanobis^2) nats, or NaN). "
        "Pass float64 arrays (jax.config.update('jax_enable_x64', True)) or a better "
        "conditioned covariance.")


def check_increasing(name: str, grid: Any) -> None:
  """Raises unless ``grid`` is 1-D with >= 2 finite points and, when concrete, strictly
  increasing (a decreasing grid gives negative trapezoid weights: negative divergences)."""
  check_ndim(name, grid, (1,))
  if np.shape(grid)[0] < 2:
    raise ValueError(f"`{name}` needs at least 2 points for the trapezoid rule; got "
                     f"{np.shape(grid)[0]}.")
  check_finite(name, grid)
  if is_concrete(grid):
    steps = np.diff(np.asarray(grid))
    bad = np.flatnonzero(~(steps > 0))
    if bad.size:
      i = int(bad[0])
      g = np.asarray(grid)
      raise ValueError(
          f"`{name}` must be strictly increasing; it has {bad.size} non-increasing step(s), the "
          f"first from {name}[{i}] = {g[i]:.6g} to {name}[{i + 1}] = {g[i + 1]:.6g}. Sort it "
          "(with the values on it) or pass np.linspace(lo, hi, n) with lo < hi.")


def check_normalised(name: str, log_p: Any, grid: Any) -> None:
  r"""Raises if the trapezoid mass of :math:`p = e^{\log p}` on a concrete increasing ``grid``
  differs from 1 by more than the quadrature can explain.

  On a cell of width :math:`h_i` where :math:`p` is monotone the trapezoid rule misses at most
  :math:`h_i |p_{i+1} - p_i| / 2`; a density that does not vanish at the grid's ends is treated as
  jumping to 0 there (its tails beyond the grid are unknown). So an honest density satisfies

  .. math:: |\textstyle\sum_i w_i p_i - 1| \le \max_i h_i\,\Big(p_0 + \sum_i |p_{i+1} - p_i|
     + p_{n-1}\Big) + n\,\epsilon,

  a factor 2 above the bound for peaks between nodes, plus the summation's rounding. A
  ``log_p`` off by a constant (unnormalised), under-resolved, or cut by a grid that misses its
  support fails.
  """
  if not (is_concrete(log_p) and is_concrete(grid)):
    return
  g = np.asarray(grid, np.float64)
  p = np.exp(np.asarray(log_p, np.float64))
  h = np.diff(g)
  mass = float(np.sum(0.5 * h * (p[:-1] + p[1:])))
  tv = float(p[0] + np.sum(np.abs(np.diff(p))) + p[-1])
  eps = float(np.finfo(_float_dtype(np.asarray(log_p))).eps)
  tol = float(np.max(h)) * tv + g.size * eps
  if not abs(mass - 1.0) <= tol:
    raise ValueError(
        f"`{name}` is not a normalised density on `grid`: its trapezoid mass is {mass:.6g}, "
        f"|mass - 1| = {abs(mass - 1.0):.3g} > {tol:.3g} (the most the trapezoid rule can miss "
        "on this grid: max cell width x total variation of the density). Pass log-densities "
        "that integrate to 1 (subtract log(mass) to normalise), on a grid that covers the "
        "support and resolves the density.")


def memory_budget_bytes(device: Any = None) -> int:
  """The memory of ``device`` (default: the first device): the allocator's ``bytes_limit`` where
  the backend reports it (GPU/TPU), else the host's physical memory (CPU)."""
  device = device if device is not None else jax.devices()[0]
  try:
    stats = device.memory_stats()
  except Exception:  # pragma: no cover - backends without memory_stats
    stats = None
  if stats and stats.get("bytes_limit"):
    return int(stats["bytes_limit"])
  return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
