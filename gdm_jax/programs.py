r"""`program`: ``jax.jit`` with a cache of *traced* programs, for warm runs of ``gdm-jax verify``.

jax's persistent compilation cache keys an executable on the lowered program, so every run still
traces and lowers each program before it can look the executable up: ~60% of a warm verify's CPU
time. :func:`program` adds a second cache in front of it. On a miss it exports the jitted function
(``jax.export``: its StableHLO) and stores it; on a hit it deserialises that module and calls it
(``Exported.call``, jitted with the same compiler options), so the executable comes straight from
the compilation cache and the Python function is not traced at all.

A stored program is reused only when nothing that shapes the trace has changed. Its key is
  * the function's module and qualified name, its compiler options;
  * the call's static arguments (by value; a module-level function by its qualified name) and the
    tree structure, shapes, dtypes and weak types of its array arguments;
  * a *fingerprint*: the bytes of every module of ``gdm_jax``, the versions of python, jax, jaxlib,
    flax, optax, chex, numpy, scipy, ml_dtypes and opt_einsum, jax's configuration (x64, PRNG,
    promotion rules, ...), ``XLA_FLAGS`` and the devices.
Any edit to the package's source starts a new cache. What the key cannot see is a function
replaced at run time without changing the source: ``gdm-jax mutate`` does exactly that, so it
runs with the cache off (:func:`disabled`). Calls the key cannot describe (a static argument that
is not plain data, an array spread over several devices) and functions ``jax.export`` cannot
serialise go to plain ``jax.jit``.

Off by default: a :func:`program` is then ``jax.jit``. ``gdm-jax verify`` (and ``report``,
``seeds``) turn it on with the compilation cache; ``--no-cache`` or ``GDM_JAX_NO_CACHE=1`` turn
both off.
"""
from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import hashlib
import importlib.metadata
import inspect
import os
import pickle
import sys
import tempfile
import types
from pathlib import Path
from typing import Callable, Sequence

import jax
import numpy as np

# jax and what runs at trace time: its einsum path search, dtypes; the libraries the claims call.
_DIST = ("jax", "jaxlib", "flax", "optax", "chex", "numpy", "scipy", "ml_dtypes", "opt_einsum")
# jax options that cannot change a trace: where caches and logs go, timeouts.
_CONFIG_IGNORED = ("cache", "log", "explain", "timeout", "_dir", "traceback", "profil")
_KEEP_FINGERPRINTS = 6

_store: Path | None = None
_off = False
_MISSING = object()


class _Uncacheable(Exception):
  pass


def enable(root: str | os.PathLike) -> None:
  """Turns the program cache on, storing under ``root/<fingerprint>/``."""
  global _store
  _store = Path(root)


def disable() -> None:
  global _store
  _store = None


def enabled() -> bool:
  return _store is not None and not _off


@contextlib.contextmanager
def disabled():
  """No program is read from or written to the cache inside this block: for code that replaces
  functions at run time (their source, and so the key, stays the same)."""
  global _off
  before, _off = _off, True
  try:
    yield
  finally:
    _off = before


def _package_source_digest(root: Path | None = None) -> str:
  """sha256 over the path and bytes of every ``.py`` file under ``root`` (default: gdm_jax)."""
  root = Path(__file__).resolve().parent if root is None else Path(root)
  h = hashlib.sha256()
  for p in sorted(root.rglob("*.py")):
    h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes() + b"\0")
  return h.hexdigest()


def fingerprint() -> str:
  """What every stored program depends on besides its own arguments (see the module docstring).
  Recomputed whenever ``XLA_FLAGS`` or a configuration value that jax retraces on changes."""
  parts = [sys.version, _package_source_digest(), os.environ.get("XLA_FLAGS", "")]
  for name in _DIST:
    try:
      parts.append(f"{name}=={importlib.metadata.version(name)}")
    except importlib.metadata.PackageNotFoundError:
      parts.append(f"{name} missing")
  parts += [f"{k}={v!r}" for k, v in sorted(jax.config.values.items())
            if not any(s in k for s in _CONFIG_IGNORED)]
  parts += [str(d) + d.device_kind for d in jax.devices()]
  return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def _trace_state() -> tuple:
  """What jax itself retraces on (its jit cache's configuration context), and ``XLA_FLAGS``."""
  try:
    from jax._src.config import trace_context
    ctx = trace_context()
  except (ImportError, AttributeError):  # a private API: without it, every configuration value
    ctx = tuple((k, repr(v)) for k, v in sorted(jax.config.values.items()))
  return os.environ.get("XLA_FLAGS", ""), ctx


def _fingerprint() -> str:
  return _fingerprint_of(_trace_state())


@functools.lru_cache(maxsize=8)
def _fingerprint_of(state: tuple) -> str:
  del state  # the lru key: the rest (sources, versions, devices) is read once
  return fingerprint()


def _static_token(x) -> str:
  """A stable, process-independent description of a static argument, or _Uncacheable."""
  if x is None or isinstance(x, (bool, int, float, complex, str, bytes)):
    return f"{type(x).__name__}:{x!r}"
  if isinstance(x, enum.Enum):
    return f"{type(x).__module__}.{type(x).__qualname__}.{x.name}"
  if isinstance(x, type):
    return f"type:{x.__module__}.{x.__qualname__}"
  if isinstance(x, np.dtype):
    return f"dtype:{x.str}"
  if isinstance(x, types.FunctionType) and not x.__closure__ and "<" not in x.__qualname__:
    return f"function:{x.__module__}.{x.__qualname__}"  # its source is in the fingerprint
  if isinstance(x, (tuple, list, frozenset)):
    items = sorted(map(_static_token, x)) if isinstance(x, frozenset) else map(_static_token, x)
    return f"{type(x).__qualname__}({','.join(items)})"
  if dataclasses.is_dataclass(x) and not isinstance(x, type):
    # flax.linen modules are dataclasses; an unbound one is its fields (parent: unset/None).
    fields = []
    for f in dataclasses.fields(x):
      v = getattr(x, f.name)
      if f.name == "parent" and (v is None or type(v).__name__ == "_Sentinel"):
        continue
      fields.append(f"{f.name}={_static_token(v)}")
    if getattr(x, "scope", None) is not None:
      raise _Uncacheable("bound flax module")
    return f"{type(x).__module__}.{type(x).__qualname__}({','.join(fields)})"
  raise _Uncacheable(f"static argument of type {type(x).__name__}")


def _leaf_token(x) -> str:
  return "{}{}{}{}".format(*_leaf_signature(x))


def _leaf_signature(x) -> tuple:
  """(kind, dtype, shape, weak-type mark) of an array argument, or _Uncacheable."""
  if isinstance(x, jax.Array):
    if len(x.sharding.device_set) != 1:
      raise _Uncacheable("array on several devices")
    return "", x.dtype, x.shape, "w" if getattr(x, "weak_type", False) else ""
  if isinstance(x, (np.ndarray, np.generic)):
    return "np", x.dtype, x.shape, ""
  if isinstance(x, (bool, int, float, complex)):
    return "py", type(x).__name__, (), ""
  raise _Uncacheable(f"argument of type {type(x).__name__}")


class Program:
  """``jax.jit(fun, ...)`` that reads and writes traced programs while the cache is on."""

  def __init__(self, fun: Callable, static_argnums: int | Sequence[int] | None = None,
               static_argnames: str | Sequence[str] | None = None,
               compiler_options: dict | None = None):
    self._fun = fun
    self._jit = jax.jit(fun, static_argnums=static_argnums, static_argnames=static_argnames,
                        compiler_options=compiler_options)
    # As jax.jit: a static argument may be named by position or by name.
    params = list(inspect.signature(fun).parameters)
    nums = (static_argnums,) if isinstance(static_argnums, int) else (static_argnums or ())
    names = (static_argnames,) if isinstance(static_argnames, str) else (static_argnames or ())
    self._static = {params[i] for i in nums} | set(names)
    self._params = params
    self._options = dict(compiler_options or {})
    # A closure's captured values are not in the key: such a function is never cached.
    self._cacheable = not getattr(fun, "__closure__", None) and "<locals>" not in fun.__qualname__
    self._calls: dict[tuple, tuple | None] = {}  # call signature -> (program, out tree)
    functools.update_wrapper(self, fun)

  def __getattr__(self, name):  # lower, trace, eval_shape, clear_cache ... of the jitted function
    if name.startswith("__") or name == "_jit":  # (copy and pickle probe before __init__ ran)
      raise AttributeError(name)
    return getattr(self._jit, name)

  def __call__(self, *args, **kwargs):
    if not (enabled() and self._cacheable) or len(args) > len(self._params):
      return self._jit(*args, **kwargs)
    dyn_args, dyn_kwargs, statics = self._split(args, kwargs)
    try:  # the in-process table: cheap to build, hashed as jax.jit hashes its static arguments
      leaves, tree = jax.tree_util.tree_flatten((dyn_args, dyn_kwargs))
      signature = (_store, _trace_state(), tuple(statics), tree,
                   tuple(map(_leaf_signature, leaves)))
      call = self._calls.get(signature, _MISSING)
    except (_Uncacheable, TypeError):
      return self._jit(*args, **kwargs)
    if call is _MISSING:  # the stable key, and the stored program, once per signature
      try:
        key = self._key(statics, dyn_args, dyn_kwargs)
      except _Uncacheable:
        call = None
      else:
        call = self._load_or_export(key, args, kwargs, leaves, tree)
      self._calls[signature] = call
    if call is None:  # not describable, or not exportable: plain jit
      return self._jit(*args, **kwargs)
    fn, out_tree = call
    return jax.tree_util.tree_unflatten(out_tree, fn(*leaves))

  def _split(self, args, kwargs) -> tuple[list, dict, list]:
    """The dynamic positional and keyword arguments (what the exported program takes), and the
    ``(name, value)`` static ones."""
    dyn_args, dyn_kwargs, statics = [], {}, []
    for name, a in zip(self._params, args):
      (statics.append((name, a)) if name in self._static else dyn_args.append(a))
    for name, a in sorted(kwargs.items()):
      (statics.append((name, a)) if name in self._static else dyn_kwargs.__setitem__(name, a))
    return dyn_args, dyn_kwargs, statics

  def _key(self, statics, dyn_args, dyn_kwargs) -> str:
    """The process-independent cache key of a call (see the module docstring)."""
    parts = [f"{self._fun.__module__}.{self._fun.__qualname__}",
             repr(sorted(self._options.items())), _fingerprint()]
    parts += [f"{name}={_static_token(a)}" for name, a in statics]
    for name, a in [*zip(self._params, dyn_args), *dyn_kwargs.items()]:
      leaves, tree = jax.tree_util.tree_flatten(a)
      parts.append(f"{name}:{tree}:{','.join(map(_leaf_token, leaves))}")
    text = "\n".join(parts)
    if " at 0x" in text:  # a memory address in a repr: not stable across processes
      raise _Uncacheable("unstable repr")
    return hashlib.sha256(text.encode()).hexdigest()

  def _load_or_export(self, key, args, kwargs, leaves, in_tree):
    """``(jitted Exported.call on the flat array arguments, output tree)``, or None where the
    program cannot be exported. The program is exported on flat leaves, so the stored module
    needs no pytree registration; the output tree is stored next to it (pickled)."""
    from jax import export
    path = _store / _fingerprint() / f"{key}.exported"
    try:
      blob, out_tree = pickle.loads(path.read_bytes())
      return jax.jit(export.deserialize(bytearray(blob)).call,
                     compiler_options=self._options or None), out_tree
    except Exception:  # absent or unreadable: export it again
      pass
    out_trees = []

    def flat(*flat_args):
      dyn, dyn_kw = jax.tree_util.tree_unflatten(in_tree, flat_args)
      dyn = iter(dyn)
      full = [a if self._params[i] in self._static else next(dyn) for i, a in enumerate(args)]
      static_kw = {k: v for k, v in kwargs.items() if k in self._static}
      out, tree = jax.tree_util.tree_flatten(self._fun(*full, **dyn_kw, **static_kw))
      out_trees.append(tree)
      return out

    try:
      exp = export.export(jax.jit(flat))(*leaves)
    except Exception:  # not exportable (callbacks, unstable custom calls, ...): plain jit,
      return None      # which raises again if the function itself is at fault
    try:
      _write(path, pickle.dumps((exp.serialize(), out_trees[0])))
    except Exception:  # an output tree that does not pickle: kept in this process only
      pass
    return jax.jit(exp.call, compiler_options=self._options or None), out_trees[0]


def _write(path: Path, data: bytes) -> None:
  """Atomic write (worker processes may write the same entry); prunes old fingerprints."""
  try:
    new_dir = not path.parent.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as f:
      f.write(data)
    os.replace(f.name, path)
    if new_dir:
      dirs = sorted((d for d in path.parent.parent.iterdir() if d.is_dir()),
                    key=lambda d: d.stat().st_mtime, reverse=True)
      for d in dirs[_KEEP_FINGERPRINTS:]:
        for p in d.iterdir():
          p.unlink(missing_ok=True)
        d.rmdir()
  except OSError:
    pass


def program(fun: Callable | None = None, *, static_argnums: int | Sequence[int] | None = None,
            static_argnames: str | Sequence[str] | None = None,
            compiler_options: dict | None = None):
  """Decorator: ``jax.jit`` with the same arguments, plus the traced-program cache when it is on.

  >>> @program(static_argnums=1)
  ... def f(x, n):
  ...   return x * n
  """
  if fun is None:
    return functools.partial(program, static_argnums=static_argnums,
                             static_argnames=static_argnames, compiler_options=compiler_options)
  return Program(fun, static_argnums, static_argnames, compiler_options)
