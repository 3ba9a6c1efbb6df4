r"""The course's reference answers to homework 1 (Gaussians and the ELBO), in JAX.

The model of the homework: :math:`z \sim N(0, 1)`, :math:`x \mid z \sim N(z, 1)`, so that
:math:`p(x) = N(x; 0, 2)` and :math:`p(z \mid x) = N(x/2, 1/2)`; the variational family is
:math:`q(z) = N(m, s^2)`.

``claims.py`` checks these functions against independent oracles (quadrature, closed forms written
in the claims from the definitions); ``mutations.py`` plants the mistakes students make in them.
Claims and tests call them through the module (``solutions.kl_normal``), so a planted mistake is
seen.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

LOG_2PI = math.log(2.0 * math.pi)


def normal_log_prob(x, mean, std):
  r""":math:`\log N(x; m, s^2) = -\frac{(x - m)^2}{2 s^2} - \log s - \frac12 \log 2\pi`."""
  return -0.5 * ((x - mean) / std) ** 2 - jnp.log(std) - 0.5 * LOG_2PI


def kl_normal(m1, s1, m2, s2):
  r"""Question 1: :math:`KL(N(m_1, s_1^2) \,\|\, N(m_2, s_2^2)) = \log\frac{s_2}{s_1} +
  \frac{s_1^2 + (m_1 - m_2)^2}{2 s_2^2} - \frac12`."""
  return jnp.log(s2 / s1) + (s1 ** 2 + (m1 - m2) ** 2) / (2.0 * s2 ** 2) - 0.5


def elbo_samples(key, x, m, s, n: int):
  r"""Question 3: ``n`` draws of :math:`\log p(x, z) - \log q(z)`, :math:`z = m + s\,\epsilon`,
  :math:`\epsilon \sim N(0, 1)`; their mean estimates the ELBO
  :math:`\mathcal{L}(q) = \log p(x) - KL(q \,\|\, p(z \mid x)) \le \log p(x)`.

  Returns: shape ``[n]``.
  """
  eps = jax.random.normal(key, (n,))
  z = m + s * eps
  log_joint = normal_log_prob(z, 0.0, 1.0) + normal_log_prob(x, z, 1.0)
  return log_joint - normal_log_prob(z, m, s)
