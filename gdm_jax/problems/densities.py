"""Shared 1-D test distributions for the GAN claims (Q5-Q7): log-densities and samplers."""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp
from jax.scipy.stats import norm

# P1: a two-component Gaussian mixture; P0: a wide Gaussian (same support, R).
_W = (0.4, 0.6)
_MU = (-1.0, 1.5)
_SD = (0.6, 0.5)
SD0 = 1.5
#: (weights, means, sds) of P1 and P0, for the float64 oracles of ``problems.oracles``.
P1_MIXTURE = (_W, _MU, _SD)
P0_MIXTURE = ((1.0,), (0.0,), (SD0,))


def log_f1(x):
  comps = jnp.stack([math.log(w) + norm.logpdf(x, m, s) for w, m, s in zip(_W, _MU, _SD)], 0)
  return logsumexp(comps, axis=0)


def log_f0(x):
  return norm.logpdf(x, 0.0, SD0)


def sample_p1(key, n):
  kc, kz = jax.random.split(key)
  comp = jax.random.bernoulli(kc, _W[1], (n, 1)).astype(jnp.int32)
  mu = jnp.asarray(_MU)[comp]
  sd = jnp.asarray(_SD)[comp]
  return mu + sd * jax.random.normal(kz, (n, 1))


def sample_p0(key, n):
  return SD0 * jax.random.normal(key, (n, 1))


# Q6: p = N(0, 1), q = N(1, 1.5^2).
P_MU, P_SD, Q_MU, Q_SD = 0.0, 1.0, 1.0, 1.5


def log_p6(x):
  return norm.logpdf(x, P_MU, P_SD)


def log_q6(x):
  return norm.logpdf(x, Q_MU, Q_SD)


def sample_p6(key, n):
  return P_MU + P_SD * jax.random.normal(key, (n, 1))


def sample_q6(key, n):
  return Q_MU + Q_SD * jax.random.normal(key, (n, 1))


def kl_p6_q6() -> float:
  return math.log(Q_SD / P_SD) + (P_SD ** 2 + (P_MU - Q_MU) ** 2) / (2 * Q_SD ** 2) - 0.5
