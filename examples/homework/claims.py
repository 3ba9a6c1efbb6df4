r"""Homework 1's claims: what the course's answers state, checked against independent oracles.

Run them with ``gdm-jax verify --claims examples/homework``. Each claim names the oracle it trusts
(quadrature of a definition, written here in float64 numpy, never ``solutions``), states its power
(``detects``) and the effect it is about, and names the planted mistake (``mutations.py``) it must
catch: ``gdm-jax mutate --per-claim --claims examples/homework --mutations examples/homework``.
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

import solutions  # the code under test: called through the module, so a planted mistake is seen
from gdm_jax.claims import Claim, Config, Evidence, dtype_close, mean_test, quadrature, samples_for

X = 1.0                  # the observation of questions 2 and 3
M, S = 0.2, 0.4          # q(z) = N(M, S^2)
POST_M, POST_S = X / 2.0, math.sqrt(0.5)  # p(z | x) = N(x/2, 1/2)
LO, HI, NODES = -40.0, 40.0, 16001        # quadrature mesh, h = 0.005


def _log_normal(x, m, s):
  """log N(x; m, s^2) in float64, from the definition (the oracle's own, not solutions')."""
  return -0.5 * ((x - m) / s) ** 2 - np.log(s) - 0.5 * np.log(2.0 * np.pi)


def _kl_quad(m1, s1, m2, s2):
  r""":math:`\int p (\log p - \log q)` by the trapezoid rule."""
  return quadrature(lambda x: np.exp(_log_normal(x, m1, s1)) * (_log_normal(x, m1, s1)
                                                                 - _log_normal(x, m2, s2)),
                    LO, HI, NODES)


def _elbo_quad(draw_std):
  r""":math:`\int N(z; M, draw\_std^2) (\log p(x, z) - \log q(z))\,dz`, q = N(M, S^2): the ELBO
  when ``draw_std = S``, the mean the draws :math:`z = M + S^2 \epsilon` give when it is S^2."""
  f = lambda z: np.exp(_log_normal(z, M, draw_std)) * (
      _log_normal(z, 0.0, 1.0) + _log_normal(X, z, 1.0) - _log_normal(z, M, S))
  return quadrature(f, LO, HI, NODES)


# ---------------------------------------------------------------------------------------------
# Question 1 (theorem): the closed-form KL between Gaussians equals its definition.

PAIRS = ((0.0, 1.0, 1.0, 1.5), (0.5, 0.7, -1.0, 2.0), (-1.0, 2.0, 0.0, 1.0), (2.0, 1.0, 2.0, 0.5))


def check_kl(key, cfg: Config) -> Evidence:
  del key
  args = jnp.asarray(PAIRS, cfg.dtype).T
  got = np.asarray(solutions.kl_normal(*args), np.float64)
  quads = [_kl_quad(*p) for p in PAIRS]
  ref = np.array([q.value for q in quads])
  err = max(q.error / max(1.0, abs(q.value)) for q in quads)
  effect = min(0.5 / max(1.0, abs(r)) for r in ref)
  return dtype_close(got, ref, cfg, oracle_error=err, oracle_origin=quads[0].origin,
                     effect=effect, effect_what="the closed form's -1/2, relative to max(1, KL)",
                     detail=f"KL closed form {np.round(got, 5).tolist()} vs quadrature "
                            f"{np.round(ref, 5).tolist()}")


# ---------------------------------------------------------------------------------------------
# Question 2 (erratum): the written answer says log p(x) - ELBO(q) = KL(p(z|x) || q).

def check_written_gap(key, cfg: Config) -> Evidence:
  del key
  f = lambda *a: jnp.asarray(a, cfg.dtype)
  written = float(solutions.kl_normal(*f(POST_M, POST_S, M, S)))  # the written KL(p(z|x) || q)
  elbo = _elbo_quad(S)
  gap = float(_log_normal(X, 0.0, math.sqrt(2.0))) - elbo.value   # the truth, from definitions
  forward, reverse = _kl_quad(POST_M, POST_S, M, S), _kl_quad(M, S, POST_M, POST_S)
  scale = max(1.0, abs(gap))
  return dtype_close(written, gap, cfg, oracle_error=elbo.error / scale,
                     oracle_origin=elbo.origin,
                     effect=abs(forward.value - reverse.value) / scale,
                     effect_what="|KL(p||q) - KL(q||p)|: how far the written statement is from "
                                 "the truth, relative",
                     detail=f"written KL(p(z|x)||q) = {written:.6f}; log p(x) - ELBO = {gap:.6f} "
                            f"(= KL(q||p(z|x)) = {reverse.value:.6f})")


# ---------------------------------------------------------------------------------------------
# Question 3 (Monte Carlo bound): the sampled ELBO's mean is L(q) = log p(x) - KL(q || p(z|x)).

@functools.partial(jax.jit, static_argnums=(1, 2))
def _draws(key, n, dtype):
  f = lambda a: jnp.asarray(a, dtype)
  return solutions.elbo_samples(key, f(X), f(M), f(S), n)


def check_elbo(key, cfg: Config) -> Evidence:
  elbo, wrong = _elbo_quad(S), _elbo_quad(S * S)
  f = lambda z: np.exp(_log_normal(z, M, S)) * (
      _log_normal(z, 0.0, 1.0) + _log_normal(X, z, 1.0) - _log_normal(z, M, S) - elbo.value) ** 2
  std = math.sqrt(quadrature(f, LO, HI, NODES).value)  # the draws' std, by quadrature
  effect = abs(wrong.value - elbo.value)
  n = max(100, samples_for(effect, std, cfg))
  log_px = float(_log_normal(X, 0.0, math.sqrt(2.0)))
  ev = mean_test(np.asarray(_draws(key, n, cfg.dtype)), elbo.value, cfg, effect=effect,
                 effect_what="the shift of the mean if z = m + s^2 eps (variance for std)")
  return ev._replace(detail=f"{ev.detail}; ELBO {elbo.value:.5f} <= log p(x) {log_px:.5f}, "
                            f"n = {n} from the design (std {std:.3f} by quadrature)")


CLAIMS = [
    Claim("hw1.kl_closed_form", "Q1", "theorem",
          "KL(N(m1,s1^2) || N(m2,s2^2)) = log(s2/s1) + (s1^2 + (m1-m2)^2)/(2 s2^2) - 1/2",
          check_kl, mistakes=("kl_no_half", "kl_arguments_swapped")),
    Claim("hw1.written_gap_is_reverse_kl", "Q2", "erratum",
          "written: log p(x) - ELBO(q) = KL(p(z|x) || q) (it is KL(q || p(z|x)))",
          check_written_gap, mistakes=("kl_arguments_swapped",)),
    Claim("hw1.elbo_unbiased", "Q3", "theorem",
          "the mean of log p(x,z) - log q(z), z ~ q, is log p(x) - KL(q || p(z|x)) <= log p(x)",
          check_elbo, stochastic=True, mistakes=("elbo_variance_as_std",)),
]
