r"""Q3's problem, shared by the Q3 claims (:mod:`gdm_jax.claims.q3`) and the experiment
(:mod:`gdm_jax.experiments.q3_iwae`): one LinearGaussian, one x, a proposal q and the exact answers
of the float64 oracles."""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdm_jax import models
from gdm_jax.problems import claim_key, oracles

LATENT, DATA, NOISE = 2, 4, 0.7
@functools.partial(jax.jit, static_argnums=(1,))
def _problem(key, dtype):
  k1, k2 = jax.random.split(key)
  model = models.random_linear_gaussian(k1, LATENT, DATA, NOISE, dtype)
  x = model.sample(k2, 1)[0][0]
  return model, x


class Problem(NamedTuple):
  model: models.LinearGaussian
  x: jax.Array
  q_mean: np.ndarray   # [d] the proposal: shifted, inflated mean-field
  q_std: np.ndarray    # [d]
  post_mean: np.ndarray  # [d] float64 oracle (dense Bayes' rule, not the library's posterior)
  post_cov: np.ndarray   # [d, d]
  log_px: float          # float64 oracle
  c2: float              # Var(W), W = w / p(x): chi^2(p(z|x) || q) (closed-form moments)
  c3: float              # E (W - 1)^3


@functools.lru_cache(maxsize=4)
def problem(seed: int, x64: bool) -> Problem:
  """One LinearGaussian, one x, a proposal q, and exact answers from the float64 oracles."""
  dtype = jnp.float64 if x64 else jnp.float32
  model, x = _problem(claim_key(seed, "q3.problem"), dtype)
  pm, pc, log_px = oracles.linear_gaussian64(model.W, model.b, model.noise_std, x)
  q_mean = (pm + np.array([0.25, -0.15])).astype(dtype)
  q_std = (1.25 * np.sqrt(np.diag(pc))).astype(dtype)
  c2, c3 = oracles.weight_central_moments64(pm, pc, q_mean, np.diag(np.asarray(q_std,
                                                                                  np.float64) ** 2))
  return Problem(model, x, q_mean, q_std, pm, pc, log_px, c2, c3)
