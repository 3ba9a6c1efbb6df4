r"""Gradient estimators of L_K for the encoder: IWAE (reparameterised) and DReG (Tucker et al.
2019), through ``bounds.iwae_surrogates``."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from gdm_jax import bounds, models, stats
from gdm_jax.claims.core import FULL_OPT, Claim, Config, Evidence, claim_key

LATENT, DATA, NOISE, K = 2, 4, 0.7, 8


@functools.partial(jax.jit, static_argnums=(1,))
def _problem(key, dtype):
  """A LinearGaussian whose W has orthogonal columns, so p(z|x) is a diagonal Gaussian (the
  encoder family contains it), and one x."""
  k1, k2, k3 = jax.random.split(key, 3)
  q, _ = jnp.linalg.qr(jax.random.normal(k1, (DATA, LATENT), dtype))
  model = models.LinearGaussian(q * jnp.asarray([1.3, 0.7], dtype),
                                jax.random.normal(k2, (DATA,), dtype), jnp.asarray(NOISE, dtype))
  x = model.sample(k3, 1)[0][0]
  pm, pc = model.posterior(x)
  return model, x, pm, jnp.sqrt(jnp.diagonal(pc))


def _encoder_grads(key, model, x, m, log_s, n, wrong=False):
  """``[n, 2d]`` encoder gradients (mean, log-std) of the IWAE and DReG surrogates, paired draws;
  ``wrong=True`` also gives the DReG variant with w_tilde for w_tilde^2 (the effect size)."""
  def one(k):
    eps = jax.random.normal(k, (K, LATENT), x.dtype)
    gi = jax.grad(lambda a, b: bounds.iwae_surrogates(eps, model, a, b, x)[0], (0, 1))(m, log_s)
    gd = jax.grad(lambda a, b: bounds.iwae_surrogates(eps, model, a, b, x)[1], (0, 1))(m, log_s)
    out = [jnp.concatenate(gi), jnp.concatenate(gd)]
    if wrong:
      def dreg1(a, b):  # sum sg(w_tilde) log w: the plausible slip
        z = a + jnp.exp(b) * eps
        lw = model.log_joint(x, z) - models.diag_gaussian_log_prob(
            z, jax.lax.stop_gradient(a), jax.lax.stop_gradient(jnp.exp(b)))
        return jnp.sum(jax.lax.stop_gradient(jax.nn.softmax(lw)) * lw)
      out.append(jnp.concatenate(jax.grad(dreg1, (0, 1))(m, log_s)))
    return out
  return jax.vmap(one)(jax.random.split(key, n))


@functools.partial(jax.jit, static_argnums=(2,))
def _at_posterior(key, dtype_key, dtype):
  model, x, pm, ps = _problem(dtype_key, dtype)
  return _encoder_grads(key, model, x, pm, jnp.log(ps), 64)


def check_dreg_zero(key, cfg: Config) -> Evidence:
  gi, gd = (np.asarray(a, np.float64) for a in _at_posterior(
      key, claim_key(cfg.seed, "grad.problem"), cfg.dtype))
  scale = max(1.0, float(np.max(np.abs(gi))))
  return Evidence(float(np.max(np.abs(gd))), 0.0, cfg.rtol * scale, "==",
                  cfg.dtype_origin().replace("|ref|", "max|IWAE gradient|"),
                  f"max |DReG encoder gradient| over 64 draws of K = {K} at q = p(z|x) (diagonal "
                  f"posterior); the IWAE encoder gradient there has RMS {np.sqrt(np.mean(gi ** 2)):.3f}",
                  effect=float(np.sqrt(np.mean(gi ** 2))),
                  effect_what="the RMS of the IWAE encoder gradient there (its score noise)")


N_UNBIASED = 20_000


@functools.partial(jax.jit, static_argnums=(2,), compiler_options=FULL_OPT)
def _off_posterior(key, dtype_key, dtype):
  model, x, pm, ps = _problem(dtype_key, dtype)
  m = pm + jnp.asarray([0.4, -0.3], dtype)
  log_s = jnp.log(1.4 * ps)
  return _encoder_grads(key, model, x, m, log_s, N_UNBIASED, wrong=True)


def check_dreg_unbiased(key, cfg: Config) -> Evidence:
  gi, gd, gw = (np.asarray(a, np.float64) for a in _off_posterior(
      key, claim_key(cfg.seed, "grad.problem"), cfg.dtype))
  diff = stats.mean_and_se(gd - gi, axis=0)       # paired: the same draws
  zs = np.abs(diff.mean) / diff.se
  split = gd.shape[1]
  z = cfg.z(split=split)
  wrong = stats.mean_and_se(gw - gi, axis=0)
  effect = float(np.max(np.abs(wrong.mean) / wrong.se))
  return Evidence(float(zs.max()), 0.0, z, "==", cfg.z_origin(z, True, split),
                  f"max |t| over the {split} encoder parameters of E[DReG - IWAE gradient] "
                  f"(paired, {N_UNBIASED} draws of K = {K}, q off the posterior): "
                  f"{np.round(diff.mean, 5)} +- {np.round(diff.se, 5)}",
                  detects=z + stats.z_for_rate(stats.FALSE_PASS_RATE, False), effect=effect,
                  effect_what="the bias of DReG with w_tilde for w_tilde^2, in standard errors")


CLAIMS = [
    Claim("grad.dreg_zero_at_posterior", "Q3+", "theorem",
          "at q = p(z|x) the DReG encoder gradient is exactly 0 for every draw (IWAE's is not)",
          check_dreg_zero),
    Claim("grad.dreg_unbiased", "Q3+", "theorem",
          f"DReG's encoder gradient has the IWAE gradient's mean (K = {K}; Tucker et al. 2019)",
          check_dreg_unbiased, stochastic=True),
]
