"""XLA compile settings shared by the CLI, the tests, the experiments and the claims.

Nothing here imports jax: :func:`fast_compile_flags` must run before jax starts its backends.
"""
from __future__ import annotations

FAST_COMPILE = (("xla_backend_optimization_level", "0"), ("xla_cpu_use_fusion_emitters", "false"))


def fast_compile_flags(flags: str) -> str:
  """``flags`` (an ``XLA_FLAGS`` value) with the compile-time settings of :data:`FAST_COMPILE`
  added where ``flags`` does not set them already. Must be in the environment before jax starts
  its backends."""
  for name, value in FAST_COMPILE:
    if name not in flags:
      flags += f" --{name}={value}"
  return flags.strip()


#: ``jax.jit(..., compiler_options=FULL_OPT)`` for the few compute-heavy programs: the CLI lowers
#: XLA's CPU optimisation level for the many compile-bound ones (gdm_jax.cli.setup_jax).
FULL_OPT = {"xla_backend_optimization_level": 3}
