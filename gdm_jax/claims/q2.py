r"""Q2 claims: the decomposition behind B(theta), and amortised vs per-instance inference."""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from gdm_jax import amortized as am
from gdm_jax import models
from gdm_jax.claims.core import (FULL_OPT, Claim, Config, Evidence, claim_key,
                                  max_rel_error)

LATENT, DATA, NOISE, N_POINTS = 2, 5, 0.5, 64
THETAS = np.linspace(0.2, 3.0, 141)


# ---------------------------------------------------------------------------------------------
# Q2.1: E_q[log p_theta(x|z)] over a family of theta (W_theta = theta * W0).

@functools.lru_cache(maxsize=4)
def _q21_setup(seed: int, x64: bool):
  return _q21_curves(claim_key(seed, "q2.setup21"), jnp.float64 if x64 else jnp.float32)


@functools.partial(jax.jit, static_argnums=(1,))
def _q21_curves(key, dtype):
  k1, k2 = jax.random.split(key)
  base = models.random_linear_gaussian(k1, LATENT, DATA, NOISE, dtype)
  x = base.sample(k2, 1)[0][0]
  q_mean = jnp.array([0.4, -0.7], dtype)
  q_std = jnp.array([0.6, 0.9], dtype)
  thetas = jnp.asarray(THETAS, dtype)
  # Left side by Gauss-Hermite quadrature (exact for the quadratic log-likelihood in z): an oracle
  # independent of the closed forms on the right side.
  t, w = np.polynomial.hermite_e.hermegauss(12)
  w = w / w.sum()
  zz = np.stack(np.meshgrid(t, t, indexing="ij"), -1).reshape(-1, 2)
  ww = np.outer(w, w).reshape(-1)
  z = q_mean + q_std * jnp.asarray(zz, x.dtype)

  def per_theta(th):
    m = models.LinearGaussian(th * base.W, base.b, base.noise_std)
    lhs = jnp.sum(jnp.asarray(ww, x.dtype) * m.log_likelihood(x, z))
    log_px = m.log_marginal(x)
    kl_post = am.kl_to_posterior(m, x, q_mean, q_std)
    kl_prior = models.kl_diag_gaussians(q_mean, q_std, jnp.zeros_like(q_mean),
                                        jnp.ones_like(q_std))
    return lhs, log_px, kl_post, kl_prior

  return jax.vmap(per_theta)(thetas)


def check_decomposition(key, cfg: Config) -> Evidence:
  lhs, log_px, kl_post, kl_prior = (np.asarray(a, np.float64) for a in _q21_setup(cfg.seed,
                                                                                 cfg.x64))
  rhs = log_px - kl_post + kl_prior
  err = max_rel_error(lhs, rhs)
  return Evidence(err, 0.0, cfg.rtol, "==", cfg.dtype_origin(),
                  f"max over {len(THETAS)} theta of |E_q log p(x|z) (Gauss-Hermite) - [log p(x) - "
                  "KL(q||p(z|x)) + KL(q||p(z))] (closed forms)|")


def _spread(a):
  return float(np.max(a) - np.min(a))


def check_b_theta(key, cfg: Config) -> Evidence:
  lhs, log_px, kl_post, _ = (np.asarray(a, np.float64) for a in _q21_setup(cfg.seed, cfg.x64))
  b = -kl_post
  diff = lhs - (log_px + b)  # must be constant in theta (it is KL(q || p(z)))
  spread = _spread(diff)
  scale = max(1.0, float(np.max(np.abs(lhs))))
  same_argmax = THETAS[np.argmax(lhs)] == THETAS[np.argmax(log_px + b)]
  return Evidence(spread, 0.0, cfg.rtol * scale, "==", cfg.dtype_origin(),
                  f"spread over theta of E_q log p(x|z) - [log p(x) + B(theta)]; max B = "
                  f"{np.max(b):.3g} <= 0; argmax equal: {same_argmax} "
                  f"(theta* = {THETAS[np.argmax(lhs)]:.3f})")


def check_written_b_theta(key, cfg: Config) -> Evidence:
  lhs, log_px, _, kl_prior = (np.asarray(a, np.float64) for a in _q21_setup(cfg.seed, cfg.x64))
  written = log_px + kl_prior  # Answer 2.1: B(theta) = KL(q(z|x) || p(z))
  spread = _spread(lhs - written)
  scale = max(1.0, float(np.max(np.abs(lhs))))
  return Evidence(spread, 0.0, cfg.rtol * scale, "==", cfg.dtype_origin(),
                  f"spread over theta of E_q log p(x|z) - [log p(x) + KL(q||p(z))]; written B = "
                  f"{kl_prior[0]:.3g} > 0, constant in theta; argmax theta: {THETAS[np.argmax(lhs)]:.3f}"
                  f" (true) vs {THETAS[np.argmax(written)]:.3f} (written)")


# ---------------------------------------------------------------------------------------------
# Q2.2/Q2.3: fitted per-instance and amortised posteriors at one fixed theta.

ENCODERS = {"affine": am.Encoder(LATENT), "rank1": am.Encoder(LATENT, mean_rank=1)}


@functools.partial(jax.jit, static_argnums=(0,), compiler_options=FULL_OPT)
def _problem22(dtype, key):
  k1, k2 = jax.random.split(key)
  model = models.random_linear_gaussian(k1, LATENT, DATA, NOISE, dtype)
  x, _ = model.sample(k2, N_POINTS)
  return model, x, am.fit_per_instance(model, x, num_steps=40), am.mean_field_optimum(model, x)


@functools.partial(jax.jit, static_argnames=("encoder",), compiler_options=FULL_OPT)
def _fit_encoder(key, model, x, inst, encoder):
  params = am.fit_amortised(key, model, x, encoder, num_steps=200)
  m, s = encoder.apply(params, x)
  return am.gaps(model, x, inst, m, s)


@functools.lru_cache(maxsize=8)
def q22_setup(seed: int, x64: bool, encoder_name: str):
  """Per-instance fit (one compile) shared by both encoders; each encoder is fitted once."""
  dtype = jnp.float64 if x64 else jnp.float32
  k1, k2 = jax.random.split(claim_key(seed, "q2.setup22"))
  model, x, inst, opt = _problem22(dtype, k1)
  g = _fit_encoder(k2, model, x, inst, ENCODERS[encoder_name])
  return jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), (inst, g, opt))


def _opt_tol(cfg: Config, g) -> tuple[float, str]:
  eps = float(jnp.finfo(cfg.dtype).eps)
  scale = max(1.0, float(np.max(np.abs(g.elbo_instance))))
  return math.sqrt(eps) * scale, (f"optimiser: sqrt(eps_{cfg.dtype_name}) x max|ELBO| "
                                  "(an optimum is located to sqrt(eps))")


def check_instance_optimum(key, cfg: Config) -> Evidence:
  inst, g, (m_opt, s_opt) = q22_setup(cfg.seed, cfg.x64, "affine")
  err = float(max(np.max(np.abs(inst.mean - m_opt) / np.maximum(1, np.abs(m_opt))),
                  np.max(np.abs(inst.std - s_opt) / s_opt)))
  tol = math.sqrt(float(jnp.finfo(cfg.dtype).eps))
  return Evidence(err, 0.0, tol, "==", f"optimiser: sqrt(eps_{cfg.dtype_name})",
                  f"max rel. error of the L-BFGS per-instance q_i* ({N_POINTS} points, vmapped) vs "
                  "closed form (posterior mean, 1/diag(precision))")


def check_amortised_kl(key, cfg: Config) -> Evidence:
  worst = np.inf
  for name in ENCODERS:
    _, g, _ = q22_setup(cfg.seed, cfg.x64, name)
    worst = min(worst, float(np.min(g.kl_amortised - g.kl_instance)))
  tol, origin = _opt_tol(cfg, g)
  return Evidence(worst, 0.0, tol, ">=", origin,
                  "min over points and encoders (affine, rank-1) of KL(q_phi*||p(z|x_i)) - "
                  "KL(q_i*||p(z|x_i)), closed-form KLs")


def check_gap_vanishes(key, cfg: Config) -> Evidence:
  _, g, _ = q22_setup(cfg.seed, cfg.x64, "affine")
  tol, origin = _opt_tol(cfg, g)
  gap = float(np.mean(g.amortisation_gap))
  return Evidence(gap, 0.0, tol, "==", origin,
                  f"mean amortisation gap, affine encoder (can represent q_i*); approximation gap "
                  f"{np.mean(g.approximation_gap):.4f} nats")


def check_gap_positive(key, cfg: Config) -> Evidence:
  _, g, _ = q22_setup(cfg.seed, cfg.x64, "rank1")
  tol, origin = _opt_tol(cfg, g)
  gap = float(np.mean(g.amortisation_gap))
  return Evidence(gap, tol, 0.0, ">=", origin + "; must exceed it",
                  f"mean over points of the amortisation gap, rank-1 mean encoder (per point "
                  f"{np.min(g.amortisation_gap):.1e} to {np.max(g.amortisation_gap):.3f}); "
                  f"approximation gap {np.mean(g.approximation_gap):.4f} nats")


def check_written_kl_prior(key, cfg: Config) -> Evidence:
  _, g, _ = q22_setup(cfg.seed, cfg.x64, "rank1")
  diff = g.kl_prior_instance - g.kl_prior_amortised
  tol, origin = _opt_tol(cfg, g)
  n_bad = int(np.sum(diff > tol))
  return Evidence(float(np.max(diff)), 0.0, tol, "<=", origin,
                  f"max_i KL(q_i*||p(z)) - KL(q_phi*(.|x_i)||p(z)) (rank-1 encoder); the written "
                  f"inequality fails at {n_bad}/{N_POINTS} points")


CLAIMS = [
    Claim("q2.decomposition", "Q2.1", "theorem",
          "E_q[log p(x|z)] = log p(x) - KL(q||p(z|x)) + KL(q||p(z)) for every theta",
          check_decomposition, shares="q2.setup21"),
    Claim("q2.b_theta", "Q2.1", "theorem",
          "argmax_theta E_q[log p(x|z)] = argmax [log p(x) + B], B = -KL(q||p(z|x)) <= 0",
          check_b_theta, shares="q2.setup21"),
    Claim("q2.written_b_theta", "Q2.1", "erratum",
          "Answer 2.1: E_q[log p(x|z)] = log p(x) + B(theta) with B = KL(q(z|x)||p(z))",
          check_written_b_theta, shares="q2.setup21"),
    Claim("q2.instance_optimum", "Q2.2", "theorem",
          "per-instance optimum q_i*: mean = posterior mean, var = 1/diag(posterior precision)",
          check_instance_optimum, shares="q2.setup22"),
    Claim("q2.amortised_kl_ge_instance", "Q2.2", "theorem",
          "KL(q_phi*(z|x_i) || p(z|x_i)) >= KL(q_i* || p(z|x_i)) for every i",
          check_amortised_kl, shares="q2.setup22"),
    Claim("q2.amortisation_gap_vanishes", "Q2.3a", "theorem",
          "amortisation gap is 0 for an encoder that can represent q_i*", check_gap_vanishes,
          shares="q2.setup22"),
    Claim("q2.amortisation_gap_positive", "Q2.3a", "theorem",
          "amortisation gap is > 0 for a capacity-limited (rank-1 mean) encoder",
          check_gap_positive, shares="q2.setup22"),
    Claim("q2.written_kl_to_prior", "Q2.2", "erratum",
          "Answer 2.2/2.3a: KL(q_i*||p(z)) <= KL(q_phi*||p(z)) for every i",
          check_written_kl_prior, shares="q2.setup22"),
]
