"""Test configuration: float64 available (tests choose dtypes explicitly), key-reuse checks on,
and the CLI's compile-time XLA settings (the suite is compile-bound)."""
import os

from gdm_jax.cli import fast_compile_flags

os.environ["XLA_FLAGS"] = fast_compile_flags(os.environ.get("XLA_FLAGS", ""))

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_debug_key_reuse", True)
jax.config.update("jax_threefry_partitionable", False)  # as the CLI: ~10x faster compiles on CPU

import numpy as np  # noqa: E402
import pytest  # noqa: E402

#: dtype-keyed tolerances for deterministic math (the jax scipy-test habit).
RTOL = {np.float32: 2e-5, np.float64: 1e-10}


@pytest.fixture(params=[np.float32, np.float64], ids=["f32", "f64"])
def dtype(request):
  return request.param
