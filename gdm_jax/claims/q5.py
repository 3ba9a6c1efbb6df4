r"""Q5 claims: the optimal discriminator, density from D*, the objective at D*, a trained D."""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from gdm_jax import divergences as dv, gan, stats
from gdm_jax.claims import densities as ds
from gdm_jax.claims.core import (FULL_OPT, Claim, Config, Evidence, claim_key,
                                  max_rel_error)
from gdm_jax.optimize import golden_section_max

GRID = np.linspace(-4.0, 4.0, 401)


@jax.jit
def _d_star_cases(f1, f0):
  """Golden-section maximiser of f1 log D + f0 log(1-D) per pair, D* and J'' (autodiff) there."""
  eps = jnp.finfo(f1.dtype).eps
  obj = lambda d, a, b: gan.pointwise_objective(d, a, b)
  d_num, _ = golden_section_max(lambda d: obj(d, f1, f0), jnp.full_like(f1, eps),
                                jnp.full_like(f1, 1 - eps))
  d_star = gan.optimal_discriminator(jnp.log(f1), jnp.log(f0))
  curv = -jax.vmap(jax.grad(jax.grad(obj)))(d_num, f1, f0)
  size = jnp.abs(f1 * jnp.log(d_num)) + jnp.abs(f0 * jnp.log1p(-d_num))
  return d_num, d_star, curv, size


def check_d_star_maximises(key, cfg: Config) -> Evidence:
  dtype = np.dtype(cfg.dtype)
  f1, f0 = np.meshgrid(np.geomspace(1e-4, 10.0, 25), np.geomspace(3.0, 1e-3, 25))
  d_num, d_star, curv, size = (np.asarray(a, np.float64) for a in _d_star_cases(
      f1.reshape(-1).astype(dtype), f0.reshape(-1).astype(dtype)))
  eps = float(np.finfo(dtype).eps)
  # Resolution of a maximiser found from values: |J(d) - J(d*)| <= 4 ulps of the summed terms
  # <=> |d - d*| <= sqrt(8 eps S / J''), with J'' by autodiff at the numerical maximiser.
  resolution = np.sqrt(8 * eps * size / curv) + eps
  ratio = np.abs(d_num - d_star) / resolution
  return Evidence(float(ratio.max()), 0.0, 1.0, "==",
                  "per pair: sqrt(8 eps |J| / J'') (J'' by autodiff), the resolution of a "
                  "maximiser located from values",
                  "max over 625 (f1, f0) pairs (1e-4..10) of |argmax_D f1 log D + f0 log(1-D) "
                  f"(golden section) - f1/(f0+f1)| / resolution; max abs. error "
                  f"{np.max(np.abs(d_num - d_star)):.1e}")


@jax.jit
def _density_identity(x):
  lf1, lf0 = ds.log_f1(x), ds.log_f0(x)
  d = gan.optimal_discriminator(lf1, lf0)
  return lf1, d, gan.density_from_discriminator(lf0, d)


def check_density_identity(key, cfg: Config) -> Evidence:
  lf1, d, est = (np.asarray(a, np.float64) for a in _density_identity(GRID.astype(cfg.dtype)))
  cond = float(np.max(1.0 / (1.0 - d)))  # condition of logit near 1
  return Evidence(max_rel_error(est, lf1), 0.0, cfg.rtol * cond, "==",
                  cfg.dtype_origin() + f" x max 1/(1-D*) = {cond:.3g} (condition of logit)",
                  "max rel. |log f0 + logit D* - log f1| on 401 points in [-4, 4]; P1 a Gaussian "
                  "mixture, P0 = N(0, 1.5^2)")


@functools.partial(jax.jit, static_argnums=1, compiler_options=FULL_OPT)
def _objective_terms(key, n):
  k1, k0 = jax.random.split(key)
  x1 = ds.sample_p1(k1, n)[:, 0]
  x0 = ds.sample_p0(k0, n)[:, 0]
  l1 = ds.log_f1(x1) - ds.log_f0(x1)
  l0 = ds.log_f1(x0) - ds.log_f0(x0)
  return gan.gan_objective_terms(l1, l0)


@jax.jit
def _jsd_quadrature(grid):
  return dv.jsd_quadrature(ds.log_f1(grid), ds.log_f0(grid), grid)


def check_objective_jsd(key, cfg: Config) -> Evidence:
  n = 50_000 if cfg.quick else 400_000
  t1, t0 = (np.asarray(a, np.float64) for a in _objective_terms(key, n))
  m1, m0 = stats.mean_and_se(t1), stats.mean_and_se(t0)
  jsd = float(_jsd_quadrature(np.linspace(-12.0, 12.0, 4001).astype(cfg.dtype)))
  ref = -math.log(4.0) + 2.0 * jsd
  z = cfg.z()
  return Evidence(m1.mean + m0.mean, ref, z * math.hypot(m1.se, m0.se), "==", cfg.z_origin(z),
                  f"E_P1 log D* + E_P0 log(1-D*) (Monte Carlo, n={n}) vs -log 4 + 2 JSD "
                  f"(quadrature, JSD = {jsd:.5f})")


def _l1_error(params_batch, dtype, hidden=32):
  x = jnp.asarray(GRID, dtype)
  lf1, lf0 = ds.log_f1(x), ds.log_f0(x)
  w = dv.trapezoid_weights(x) * jnp.exp(lf1)

  def err(p):
    est = gan.density_from_logit(lf0, gan.discriminator_logit(p, x[:, None], hidden))
    return jnp.sum(w * jnp.abs(est - lf1))

  return jax.vmap(err)(params_batch)


# 32 paired seeds of small networks: at every seed swept (0-4) the paired t-statistic is >= 9
# (the one-sided threshold is ~5.2), measured against 8 seeds of 32-unit networks trained for
# 1500 steps of batch 256 (t 6.7 to 14 at 3.5x the cost).
N_SMALL, N_LARGE, SEEDS = 64, 8192, 32
STEPS, BATCH, HIDDEN = 600, 64, 16


@functools.partial(jax.jit, static_argnums=(1,), compiler_options=FULL_OPT)
def _trained_errors(key, seeds):
  """Errors for n = N_SMALL and N_LARGE, paired by seed (same pool prefix), one compile."""
  def one(k, n_used):
    kd, kt = jax.random.split(k)
    k1, k0 = jax.random.split(kd)
    x1, x0 = ds.sample_p1(k1, N_LARGE), ds.sample_p0(k0, N_LARGE)
    params, _ = gan.train_discriminator(kt, x1, x0, n_used, steps=STEPS, batch=BATCH,
                                        hidden=HIDDEN)
    return params

  # One vmap over the 2 x seeds (key, n) pairs: each seed's key serves both sample sizes.
  keys = jnp.repeat(jax.random.split(key, seeds), 2)
  ns = jnp.tile(jnp.array([N_SMALL, N_LARGE]), seeds)
  params = jax.vmap(one)(keys, ns)  # [2 seeds, ...], (seed, n) in row-major order
  dtype = jax.tree_util.tree_leaves(params)[0].dtype
  return _l1_error(params, dtype, HIDDEN).reshape(seeds, 2)


@functools.lru_cache(maxsize=4)
def trained_errors(seed: int, x64: bool):
  err = np.asarray(_trained_errors(claim_key(seed, "q5.trained"), SEEDS), np.float64)
  return err[:, 0], err[:, 1]


def check_trained(key, cfg: Config) -> Evidence:
  small, large = trained_errors(cfg.seed, cfg.x64)
  d = stats.mean_and_se(small - large)
  z = cfg.z(two_sided=False)
  return Evidence(float(d.mean), z * float(d.se), 0.0, ">=",
                  f"must exceed {z:.2f} x SE (one-sided, rate {cfg.rate:.1e}; {SEEDS} paired "
                  "seeds)",
                  f"E_P1|log f1_hat - log f1| from a trained discriminator: n={N_SMALL}: "
                  f"{small.mean():.3f}, n={N_LARGE}: {large.mean():.3f} (mean of {SEEDS} seeds)")


CLAIMS = [
    Claim("q5.d_star_maximises", "Q5", "theorem",
          "D* = f1/(f0+f1) maximises f1 log D + f0 log(1-D) (numerical maximisation)",
          check_d_star_maximises),
    Claim("q5.density_identity", "Q5", "theorem", "f1 = f0 D*/(1 - D*) (on a grid, log space)",
          check_density_identity),
    Claim("q5.objective_is_jsd", "Q5", "theorem",
          "the objective at D* equals -log 4 + 2 JSD(P1||P0)", check_objective_jsd,
          stochastic=True),
    Claim("q5.trained_discriminator", "Q5", "theorem",
          "a trained discriminator recovers f1 from f0; error shrinks with the sample size",
          check_trained, stochastic=True),
]
