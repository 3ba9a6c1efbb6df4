"""The problems that the claims and the experiments share: test distributions, set-ups and their
exact answers. Below both (never imports :mod:`gdm_jax.claims` or the experiments), above the math
modules.

``densities``  the 1-D distributions of Q5-Q7 (log-densities, samplers)
``oracles``    float64 numpy closed forms, independent of the math modules
``q3``         Q3's LinearGaussian, x, proposal and exact answers (memoised)
``q6``         Q6's quadrature grid and its trained critics (memoised)

The memoised set-ups (``functools.lru_cache``) are cleared by :func:`gdm_jax.claims.clear_caches`,
through :func:`modules`.
"""
from __future__ import annotations

import sys
import zlib

import jax
import numpy as np

from gdm_jax.jaxconfig import MAX_SEED, parse_seed  # noqa: F401 (re-exported)


def claim_key(seed: int, claim_id: str) -> jax.Array:
  """A key per claim, stable across runs and independent of which other claims run. ``seed`` is
  an int in [0, 2**32 - 1]: the key holds 32 bits of it with x64 off, so a larger seed would run
  as another (2**32 as 0) while the results report it."""
  if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
    raise ValueError(f"`seed` must be an int in [0, 2**32 - 1] (what the PRNG key holds); got "
                     f"{seed!r}.")
  return jax.random.fold_in(jax.random.key(seed), zlib.crc32(claim_id.encode()) & 0x7FFFFFFF)


def modules() -> list:
  """The modules of this package that are loaded (those whose caches may hold something)."""
  return [m for name, m in list(sys.modules.items())
          if name.startswith(__name__ + ".") and getattr(m, "__name__", None) == name]
