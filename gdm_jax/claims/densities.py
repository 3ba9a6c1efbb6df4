"""An alias of :mod:`gdm_jax.problems.densities` (the 1-D test distributions of Q5-Q7), which moved below the claims and
the experiments that share it: ``gdm_jax.claims.densities`` is that very module (one set of names, so
a patch of one is a patch of the other)."""
import sys

from gdm_jax.problems import densities as _densities

sys.modules[__name__] = _densities
