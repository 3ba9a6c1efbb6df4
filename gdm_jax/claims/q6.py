r"""Q6 claims: convex conjugates, R1 (NWJ) and R2 (Donsker-Varadhan) bounds on KL."""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import logsumexp as np_logsumexp

from gdm_jax import kl_bounds as kb
from gdm_jax.claims import densities as ds
from gdm_jax.claims.core import (FULL_OPT, Claim, Config, Evidence, claim_key,
                                  max_rel_error)
from gdm_jax.divergences import trapezoid_weights
from gdm_jax.models import MLP
from gdm_jax.optimize import golden_section_max

GRID = np.linspace(-14.0, 16.0, 3001)


def _grid(cfg):
  """The quadrature grid as a numpy array of the run's dtype (jitted helpers take it as input)."""
  return GRID.astype(cfg.dtype)


def _logs(x):
  return ds.log_p6(x), ds.log_q6(x)


@jax.jit
def _conjugates(t, u):
  """f*(t) = sup_u ut - u log u (u in (0, 100]) and f**(u) = sup_t tu - f*(t), where f* inside
  is the numerical sup again (nested golden sections)."""
  f = lambda v: v * jnp.log(v)
  tiny = jnp.finfo(t.dtype).tiny

  def fstar_num(tt):
    return golden_section_max(lambda v: v * tt - f(v), jnp.full_like(tt, tiny),
                              jnp.full_like(tt, 100.0))[1]

  fss = golden_section_max(lambda tt: tt * u - fstar_num(tt), jnp.full_like(u, -20.0),
                           jnp.full_like(u, 6.0))[1]
  return fstar_num(t), fss


def check_conjugates(key, cfg: Config) -> Evidence:
  t = np.linspace(-3.0, 3.0, 13).astype(cfg.dtype)
  u = np.linspace(0.05, 5.0, 12).astype(cfg.dtype)
  fstar, fss = _conjugates(t, u)
  t64, u64 = t.astype(np.float64), u.astype(np.float64)
  e1 = max_rel_error(fstar, np.exp(t64 - 1.0))
  e2 = max_rel_error(fss, u64 * np.log(u64))
  return Evidence(max(e1, e2), 0.0, cfg.rtol, "==", cfg.dtype_origin(),
                  f"f*(t) vs e^(t-1): {e1:.1e}; f**(u) (nested numerical sups) vs u log u: "
                  f"{e2:.1e}")


@jax.jit
def _sup_r1(x):
  lp, lq = _logs(x)
  p, q = jnp.exp(lp), jnp.exp(lq)
  _, val = golden_section_max(lambda t: p * t - q * jnp.exp(t - 1.0), jnp.full_like(p, -60.0),
                              jnp.full_like(p, 60.0))
  return jnp.sum(trapezoid_weights(x) * val)


def check_sup_r1(key, cfg: Config) -> Evidence:
  sup_r1 = float(_sup_r1(_grid(cfg)))
  kl = ds.kl_p6_q6()
  return Evidence(sup_r1, kl, cfg.rtol * max(1.0, kl), "==", cfg.dtype_origin(),
                  "integral of the pointwise numerical sup_t p t - q e^(t-1) (golden section, "
                  "trapezoid) vs closed-form KL(N(0,1) || N(1,1.5^2))")


@jax.jit
def _r1_optimum(x):
  lp, lq = _logs(x)
  r1c = lambda c: jax.vmap(lambda cc: kb.r1_quadrature(lp - lq + cc, lp, lq, x))(c)
  c_num, val = golden_section_max(r1c, jnp.array([-3.0], x.dtype), jnp.array([5.0], x.dtype))
  # S = the sum of |quadrature terms| at the optimum, for the resolution below.
  w = trapezoid_weights(x)
  t = lp - lq + 1.0
  s_abs = jnp.sum(w * jnp.abs(jnp.exp(lp) * t)) + jnp.sum(w * jnp.exp(lq + t - 1.0))
  return c_num[0], val[0], s_abs


def check_r1_optimum(key, cfg: Config) -> Evidence:
  c_num, val, s_abs = (float(a) for a in _r1_optimum(_grid(cfg)))
  kl = ds.kl_p6_q6()
  eps = float(np.finfo(cfg.dtype).eps)
  # R1(c) = KL + c - e^(c-1): |R1''| = 1 at c = 1. Values carry the quadrature sum's rounding,
  # up to 4 eps x S with S the sum of |terms|, so the maximiser is resolved to sqrt(8 eps S).
  tol = math.sqrt(8 * eps * s_abs)
  err_val = abs(val - kl) / max(1.0, kl)
  return Evidence(c_num, 1.0, tol, "==",
                  f"resolution of a maximiser from values: sqrt(8 eps_{cfg.dtype_name} S / "
                  "|R1''|), S = sum of |quadrature terms|",
                  f"argmax_c R1[log(p/q) + c] (quadrature, golden section); R1 there = KL within "
                  f"{err_val:.1e}")


R2_SHIFTS = (-5.0, 0.0, 1.0, 3.0, 10.0)


@jax.jit
def _r2_shifted(x):
  lp, lq = _logs(x)
  return jnp.stack([kb.r2_quadrature(lp - lq + c, lp, lq, x) for c in R2_SHIFTS])


def check_r2_equality(key, cfg: Config) -> Evidence:
  kl = ds.kl_p6_q6()
  vals = np.asarray(_r2_shifted(_grid(cfg)), np.float64)
  err = float(np.max(np.abs(vals - kl))) / max(1.0, kl)
  return Evidence(err, 0.0, cfg.rtol, "==", cfg.dtype_origin(),
                  f"max rel. |R2[log(p/q) + c] - KL| for c in {R2_SHIFTS} (quadrature)")


def _random_critics(key, n, dtype):
  """``n`` random tanh MLPs T: R -> R, evaluated on the grid: ``[n, G]``."""
  net = MLP((16, 16, 1))
  x = jnp.asarray(GRID, dtype)[:, None]

  def one(k):
    params = net.init(k, x[:1])
    params = jax.tree_util.tree_map(lambda p: 1.5 * p, params)
    return net.apply(params, x)[:, 0]

  return jax.vmap(one)(jax.random.split(key, n))


@functools.partial(jax.jit, static_argnums=(1, 2))
def _critic_bounds(key, n, dtype):
  t = _random_critics(key, n, dtype)
  x = jnp.asarray(GRID, dtype)
  lp, lq = ds.log_p6(x), ds.log_q6(x)
  return (jax.vmap(lambda tt: kb.r1_quadrature(tt, lp, lq, x))(t),
          jax.vmap(lambda tt: kb.r2_quadrature(tt, lp, lq, x))(t))


def check_r2_le_kl(key, cfg: Config) -> Evidence:
  _, r2v = _critic_bounds(key, 64, cfg.dtype)
  kl = ds.kl_p6_q6()
  worst = float(np.max(np.asarray(r2v, np.float64)))
  return Evidence(worst, kl, cfg.rtol * max(1.0, kl), "<=", cfg.dtype_origin(),
                  f"max over 64 random MLP critics of R2[T] (quadrature); KL = {kl:.5f}")


@functools.partial(jax.jit, static_argnums=(1,))
def _sample_bounds(key, dtype):
  k1, k2 = jax.random.split(key)
  tp = 3.0 * jax.random.normal(k1, (64, 100), dtype)
  tq = 3.0 * jax.random.normal(k2, (64, 100), dtype)
  return jax.vmap(kb.r1)(tp, tq), jax.vmap(kb.r2)(tp, tq)


def check_r1_le_r2(key, cfg: Config) -> Evidence:
  r1v, r2v = (np.asarray(a, np.float64) for a in _critic_bounds(key, 64, cfg.dtype))
  # Sample versions too: the inequality log mean e^t <= mean e^(t-1) holds for any numbers.
  s1, s2 = (np.asarray(a, np.float64) for a in _sample_bounds(jax.random.fold_in(key, 1),
                                                               cfg.dtype))
  gap = np.concatenate([(r1v - r2v) / np.maximum(1, np.abs(r2v)),
                        (s1 - s2) / np.maximum(1, np.abs(s2))])
  return Evidence(float(gap.max()), 0.0, cfg.rtol, "<=", cfg.dtype_origin(),
                  "max rel. R1[T] - R2[T] over 64 random critics (quadrature) and 64 random "
                  "sample sets of critic values")


@jax.jit
def _r2_other(x):
  lp, lq = _logs(x)
  t_other = 0.5 * (lp - lq) + 0.3 * jnp.tanh(x)  # not log(p/q) + c
  return kb.r2_quadrature(t_other, lp, lq, x)


def check_written_r2_iff(key, cfg: Config) -> Evidence:
  kl = ds.kl_p6_q6()
  val = float(_r2_other(_grid(cfg)))
  return Evidence(val, kl, cfg.rtol * max(1.0, kl), ">=", cfg.dtype_origin(),
                  f"the written 'KL >= R2[T] iff T = log(p/q) + c' predicts R2 > KL for T = "
                  f"0.5 log(p/q) + 0.3 tanh(x); measured R2 = {val:.4f} < KL = {kl:.4f}: the "
                  "inequality holds for every T, the 'iff' belongs to equality")


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
  return out


@functools.lru_cache(maxsize=4)
def trained_bounds(seed: int, x64: bool):
  out = _trained_bounds(claim_key(seed, "q6.trained"), jnp.float64 if x64 else jnp.float32)
  return jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), out)


def check_trained(key, cfg: Config) -> Evidence:
  out = trained_bounds(cfg.seed, cfg.x64)
  kl = ds.kl_p6_q6()
  viol = max(max(r1v - r2v, r2v - kl) for r1v, r2v, _ in out.values())
  detail = "; ".join(f"critic trained on {b.upper()}: R1 = {r1v:.4f}, R2 = {r2v:.4f} "
                     f"({100 * r2v / kl:.1f}% of KL)" for b, (r1v, r2v, _) in out.items())
  return Evidence(viol, 0.0, cfg.rtol * max(1.0, kl), "<=", cfg.dtype_origin(),
                  f"max of R1 - R2 and R2 - KL at trained flax critics (quadrature); {detail}; "
                  f"KL = {kl:.4f}")


@jax.jit
def _sample_estimators(cases):
  return [(kb.r1(tp, tq), kb.r2(tp, tq)) for tp, tq in cases]


def check_sample_estimators(key, cfg: Config) -> Evidence:
  """r1 and r2 on critic values against float64 numpy/scipy formulas, incl. values of 80-100."""
  cases = [(np.array([100.0, 99.0, 80.0, 95.0]), np.array([100.0, 60.0, 99.5, -80.0, 20.0])),
           (np.array([0.3, -1.2, 2.0]), np.array([0.1, 0.4, -0.7, 1.5])),
           (np.array([80.0, -80.0]), np.array([79.0, -80.0, 10.0]))]
  errs = []
  got = _sample_estimators(tuple((tp.astype(cfg.dtype), tq.astype(cfg.dtype)) for tp, tq in cases))
  for (tp, tq), (got1, got2) in zip(cases, got):
    ref2 = float(np.mean(tp) - (np_logsumexp(tq) - math.log(tq.size)))
    errs.append(abs(float(got2) - ref2) / max(1.0, abs(ref2)))
    if np.max(tq) <= 80:  # e^(t-1) is finite in float32 up to t = 89
      ref1 = float(np.mean(tp) - np.mean(np.exp(tq - 1.0)))
      errs.append(abs(float(got1) - ref1) / max(1.0, abs(ref1)))
  return Evidence(max(errs), 0.0, cfg.rtol, "==", cfg.dtype_origin(),
                  f"max rel. error of r1, r2 vs float64 formulas on {len(cases)} critic-value sets "
                  f"(r2 with values up to 100 in {cfg.dtype_name})")


CLAIMS = [
    Claim("q6.conjugates", "Q6.1a", "theorem",
          "(u log u)* = e^(t-1) and (u log u)** = u log u (numerical sups)", check_conjugates),
    Claim("q6.sup_r1_is_kl", "Q6.1b", "theorem", "sup_T R1[T] = KL(p||q)", check_sup_r1),
    Claim("q6.r1_optimum", "Q6.1b", "theorem", "R1 is maximised at T = 1 + log(p/q)",
          check_r1_optimum),
    Claim("q6.r2_equality", "Q6.2b", "theorem", "R2[T] = KL for T = log(p/q) + c, any c",
          check_r2_equality),
    Claim("q6.r2_le_kl", "Q6.2b", "theorem", "R2[T] <= KL(p||q) for every T (random critics)",
          check_r2_le_kl, shares="q6.critics"),
    Claim("q6.r1_le_r2", "Q6.3", "theorem", "R1[T] <= R2[T] for every T", check_r1_le_r2,
          shares="q6.critics"),
    Claim("q6.written_r2_iff", "Q6.2b", "erratum",
          "Answer 6.2b: KL >= R2[T] iff T = log(p/q) + c (so R2 > KL for other T)",
          check_written_r2_iff),
    Claim("q6.trained_critics", "Q6", "theorem",
          "trained flax critics: R1 <= R2 <= KL, both approaching KL", check_trained),
    Claim("q6.sample_estimators", "Q6", "theorem",
          "r1, r2 from critic values match their formulas; r2 exact for values of 100",
          check_sample_estimators),
]
