"""An alias of :mod:`gdm_jax.problems.oracles` (the float64 oracles), which moved below the claims and
the experiments that share it: ``gdm_jax.claims.oracles`` is that very module (one set of names, so
a patch of one is a patch of the other)."""
import sys

from gdm_jax.problems import oracles as _oracles

sys.modules[__name__] = _oracles
