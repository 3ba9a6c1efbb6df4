"""Test configuration: float64 available (tests choose dtypes explicitly), key-reuse checks on,
and the CLI's compile-time XLA settings (the suite is compile-bound)."""
import os

from gdm_jax.jaxconfig import fast_compile_flags

os.environ["XLA_FLAGS"] = fast_compile_flags(os.environ.get("XLA_FLAGS", ""))

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_debug_key_reuse", True)
jax.config.update("jax_threefry_partitionable", False)  # as the CLI: ~10x faster compiles on CPU

# jax's persistent compilation cache (keyed on the lowered program, so it cannot answer for
# changed code), in the CLI's folder: a second run of the suite on one machine skips most XLA
# compilations. Without a writable cache folder the suite simply compiles everything.
from gdm_jax.cli import cache_dir  # noqa: E402

try:
  cache_dir().mkdir(parents=True, exist_ok=True)
  jax.config.update("jax_compilation_cache_dir", str(cache_dir()))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
except OSError:
  pass

import numpy as np  # noqa: E402
import pytest  # noqa: E402

#: dtype-keyed tolerances for deterministic math (the jax scipy-test habit).
RTOL = {np.float32: 2e-5, np.float64: 1e-10}


@pytest.fixture(params=[np.float32, np.float64], ids=["f32", "f64"])
def dtype(request):
  return request.param
