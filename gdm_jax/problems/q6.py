r"""Q6's set-up, shared by the Q6 claims (:mod:`gdm_jax.claims.q6`) and the experiment
(:mod:`gdm_jax.experiments.q6_critics`): the quadrature grid, and flax critics trained on R1 and on
R2 for p = N(0, 1), q = N(1, 1.5^2) (:mod:`gdm_jax.problems.densities`)."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from gdm_jax import kl_bounds as kb
from gdm_jax.jaxconfig import FULL_OPT
from gdm_jax.models import MLP
from gdm_jax.problems import claim_key, densities as ds

GRID = np.linspace(-14.0, 16.0, 3001)


@functools.partial(jax.jit, static_argnums=(1,), compiler_options=FULL_OPT)
def _trained_bounds(key, dtype):
  x = jnp.asarray(GRID, dtype)
  lp, lq = ds.log_p6(x), ds.log_q6(x)
  out = {}
  for i, b in enumerate(("r1", "r2")):
    params, curve = kb.train_critic(jax.random.fold_in(key, i), ds.sample_p6, ds.sample_q6, b,
                                    steps=800)
    t = kb.critic_values(params, x[:, None])
    out[b] = (kb.r1_quadrature(t, lp, lq, x), kb.r2_quadrature(t, lp, lq, x), curve)
  # An untrained critic (flax's initialisation), for the effect size.
  t0 = kb.critic_values(MLP((32, 32, 1)).init(jax.random.fold_in(key, 9), x[:1, None]),
                        x[:, None])
  out["untrained"] = (kb.r1_quadrature(t0, lp, lq, x), kb.r2_quadrature(t0, lp, lq, x),
                      jnp.zeros((1,), dtype))
  return out


@functools.lru_cache(maxsize=4)
def trained_bounds(seed: int, x64: bool):
  out = _trained_bounds(claim_key(seed, "q6.trained"), jnp.float64 if x64 else jnp.float32)
  return jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), out)
