"""XLA compile settings and the accepted range of seeds, shared by the CLI, the tests, the
experiments and the claims.

Nothing here imports jax: :func:`fast_compile_flags` must run before jax starts its backends.
"""
from __future__ import annotations

import importlib.metadata

FAST_COMPILE = (("xla_backend_optimization_level", "0"), ("xla_cpu_use_fusion_emitters", "false"))

#: Flags that the installed XLA must know: an unknown flag in ``XLA_FLAGS`` is fatal (XLA aborts
#: the process). ``xla_cpu_use_fusion_emitters`` is gone from jaxlib 0.11 (seen on 0.11.2:
#: "Unknown flag in XLA_FLAGS", every command died at start), so it is set only below that.
FLAG_BEFORE = {"xla_cpu_use_fusion_emitters": (0, 11)}


def _jaxlib_version() -> tuple[int, int]:
  """(major, minor) of the installed jaxlib, read from its metadata (nothing is imported)."""
  try:
    major, minor = importlib.metadata.version("jaxlib").split(".")[:2]
    return int(major), int("".join(ch for ch in minor if ch.isdigit()) or 0)
  except (importlib.metadata.PackageNotFoundError, ValueError):
    return (0, 0)


def fast_compile_flags(flags: str, jaxlib_version: tuple[int, int] | None = None) -> str:
  """``flags`` (an ``XLA_FLAGS`` value) with the compile-time settings of :data:`FAST_COMPILE`
  added where ``flags`` does not set them already, each only for a jaxlib that knows it
  (:data:`FLAG_BEFORE`). Must be in the environment before jax starts its backends."""
  version = _jaxlib_version() if jaxlib_version is None else jaxlib_version
  for name, value in FAST_COMPILE:
    if name not in flags and version < FLAG_BEFORE.get(name, (10 ** 6, 0)):
      flags += f" --{name}={value}"
  return flags.strip()


#: ``jax.jit(..., compiler_options=FULL_OPT)`` for the few compute-heavy programs: the CLI lowers
#: XLA's CPU optimisation level for the many compile-bound ones (gdm_jax.cli.setup_jax).
FULL_OPT = {"xla_backend_optimization_level": 3}


#: The largest seed a run accepts: the PRNG key holds 32 bits of it (with x64 off), so a larger
#: one would run as another while the results report it.
MAX_SEED = 2 ** 32 - 1


def parse_seed(text: str) -> int:
  """A seed given as text (a command-line flag): a whole number in [0, :data:`MAX_SEED`], else a
  ``ValueError`` that says so."""
  try:
    n = int(text)
  except ValueError:
    raise ValueError(f"not a whole number: {text!r}") from None
  if not 0 <= n <= MAX_SEED:
    raise ValueError(f"a seed must lie in [0, {MAX_SEED}] (the PRNG key holds 32 bits of it); "
                     f"got {n}")
  return n
