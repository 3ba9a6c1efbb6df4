r"""A variational autoencoder for binary data (Kingma & Welling 2014; Burda, Grosse &
Salakhutdinov 2016, "Importance Weighted Autoencoders", their 1-stochastic-layer shape: tanh MLPs,
a diagonal-Gaussian encoder and a Bernoulli decoder), and the per-data-point variational optimum
:math:`q^*` of Cremer, Li & Duvenaud 2018 ("Inference Suboptimality in Variational
Autoencoders").

.. math::
   p(z) = \mathcal{N}(0, I_d), \quad p_\theta(x \mid z) = \prod_{i=1}^D
   \mathrm{Bernoulli}(x_i; \sigma(\ell_i(z))), \quad
   q_\phi(z \mid x) = \mathcal{N}(\mu_\phi(x), \mathrm{diag}\,\sigma_\phi(x)^2),

with :math:`\ell = f_\theta(z)` the decoder's logits. Training maximises the mean over data
points of :math:`\hat{\mathcal{L}}_K` (:func:`iwae_objective`, reparameterised: ``K = 1`` is the
ELBO); evaluation uses the same function with a large ``K`` and ``chunk_size``
(:func:`gdm_jax.bounds.iwae_estimate`'s running log-sum-exp). The encoder and decoder are
:class:`gdm_jax.amortized.Encoder` and :class:`gdm_jax.models.MLP`.
"""
from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gdm_jax import bounds
from gdm_jax import validation as v
from gdm_jax.amortized import Encoder
from gdm_jax.models import MLP, diag_gaussian_log_prob

Array = jax.Array


def bernoulli_log_prob(x: Array, logits: Array) -> Array:
  r""":math:`\sum_i \log \mathrm{Bernoulli}(x_i; \sigma(\ell_i))` over the last axis, in log
  space:

  .. math:: \log p(x \mid \ell) = \sum_i x_i \ell_i - \mathrm{softplus}(\ell_i)

  (:math:`\log \sigma(\ell) = \ell - \mathrm{softplus}(\ell)`,
  :math:`\log(1 - \sigma(\ell)) = -\mathrm{softplus}(\ell)`), exact for logits of any size.

  Args:
    x: ``[..., D]`` binary data (0 or 1; a concrete ``x`` is checked): bool, an integer or a
      float32/float64 dtype (float16, bfloat16 and complex are refused, as everywhere).
    logits: ``[..., D]``, broadcastable against ``x``: finite real numbers (the input rules of
      :func:`gdm_jax.validation.real`; ints promoted).
  Returns:
    ``[...]`` (the broadcast shape without the last axis).
  """
  x = _binary("x", x)
  logits = v.as_array("logits", logits)
  if jnp.ndim(x) == 0 or jnp.ndim(logits) == 0:
    raise ValueError(f"`x` and `logits` need a last (pixel) axis; got shapes {jnp.shape(x)} and "
                     f"{jnp.shape(logits)}.")
  if jnp.shape(x)[-1] != jnp.shape(logits)[-1]:
    raise ValueError(f"`logits` has last axis {jnp.shape(logits)[-1]} but `x` has "
                     f"{jnp.shape(x)[-1]}; one logit per pixel.")
  logits = v.real("logits", logits)
  x = jnp.asarray(x, logits.dtype)
  return jnp.sum(x * logits - jax.nn.softplus(logits), -1)


def _binary(name, x):
  """Binary data: bool accepted (the natural dtype of 0/1 data), else the dtype rules of
  :func:`gdm_jax.validation.real`; a concrete array must hold only 0 and 1 (NaN and infinities
  are not binary)."""
  x = v.as_array(name, x)
  if jax.dtypes.issubdtype(x.dtype, jax.dtypes.extended):
    v.real(name, x)  # raises: a key is not data
  elif np.dtype(x.dtype) != np.bool_:
    v.real(name, jnp.zeros((), x.dtype))  # the dtype rule (the values are checked below)
  if v.is_concrete(x) and not np.all((np.asarray(x) == 0) | (np.asarray(x) == 1)):
    raise ValueError(f"`{name}` must be binary (0 or 1); binarise the data first (e.g. pixels >= "
                     "a threshold).")
  return x


class BernoulliVAE(nn.Module):
  r"""Encoder :math:`x \mapsto (\mu_\phi(x), \sigma_\phi(x))`: ``Encoder(latent_dim, hidden)``
  (tanh layers, a linear mean, :math:`\sigma = \exp` of a linear map); decoder
  :math:`z \mapsto \ell_\theta(z)`: ``MLP(reversed(hidden) + (data_dim,))`` (tanh layers, linear
  logits). Parameters: ``{"params": {"encoder": ..., "decoder": ...}}``. ``vae.init(key, x)``
  with ``x [..., data_dim]`` creates both."""
  data_dim: int
  latent_dim: int
  hidden: Sequence[int] = (32, 32)

  def setup(self):
    self.encoder = Encoder(self.latent_dim, tuple(self.hidden))
    self.decoder = MLP(tuple(reversed(tuple(self.hidden))) + (self.data_dim,))

  def __call__(self, x):
    """``x [..., D] -> (mean [..., d], std [..., d], logits at the mean [..., D])``."""
    mean, std = self.encoder(x)
    return mean, std, self.decoder(mean)

  def encode(self, x):
    """``x [..., D] -> (mean, std)``, each ``[..., d]``."""
    return self.encoder(x)

  def decode(self, z):
    """``z [..., d] -> logits [..., D]``."""
    return self.decoder(z)


def _check_vae(vae) -> None:
  if not isinstance(vae, BernoulliVAE):
    raise ValueError(f"`vae` must be a BernoulliVAE; got {type(vae).__name__}.")


def log_joint(vae: BernoulliVAE, params, x: Array, z: Array) -> Array:
  r""":math:`\log p_\theta(x, z) = \log \mathcal{N}(z; 0, I) + \log p_\theta(x \mid z)` for one
  data point and ``n`` latents: ``x [D], z [n, d] -> [n]``."""
  _check_vae(vae)
  v.check_ndim("x", x, (1,))
  v.check_last_dim("x", x, vae.data_dim, "the VAE's data_dim")
  v.check_ndim("z", z, (2,))
  v.check_last_dim("z", z, vae.latent_dim, "the VAE's latent_dim")
  z = v.real("z", z)
  logits = v.apply_net("params", vae, params, z, method=BernoulliVAE.decode)
  prior = diag_gaussian_log_prob(z, jnp.zeros_like(z), jnp.ones_like(z))
  return prior + bernoulli_log_prob(x, logits)


def _check_batch(vae, x) -> None:
  v.check_ndim("x", x, (2,))
  v.check_last_dim("x", x, vae.data_dim, "the VAE's data_dim")
  if jnp.shape(x)[0] < 1:
    raise ValueError("`x` is empty; pass at least one data point.")


def iwae_objective(key: Array, vae: BernoulliVAE, params, x: Array, K: int,
                   chunk_size: int | None = None) -> Array:
  r"""One reparameterised replicate of :math:`\hat{\mathcal{L}}_K` per data point, with the
  encoder's proposal:

  .. math:: \hat{\mathcal{L}}_K(x) = \log \frac1K \sum_{k=1}^K
            \frac{p_\theta(x, z_k)}{q_\phi(z_k \mid x)}, \quad
            z_k = \mu_\phi(x) + \sigma_\phi(x) \odot \epsilon_k,\ \epsilon_k \sim \mathcal{N}(0, I)

  (:func:`gdm_jax.bounds.iwae_estimate_batch` with :func:`gdm_jax.bounds.diag_gaussian_proposal`),
  differentiable in ``params``: ``-mean`` of it is the IWAE loss (``K = 1``: the VAE's). With
  ``chunk_size`` the ``K`` samples are reduced chunk by chunk (an ``L_5000`` in O(chunk) memory).

  Args:
    x: ``[B, D]`` binary data. ``K``, ``chunk_size``: static ints >= 1.
  Returns:
    ``[B]``.
  """
  v.check_key("key", key)
  _check_vae(vae)
  _check_batch(vae, x)
  K = v.check_int("K", K)

  def proposal(xi):
    mean, std = vae.apply(params, xi, method=BernoulliVAE.encode)
    return bounds.diag_gaussian_proposal(mean, std)

  return bounds.iwae_estimate_batch(key, lambda xi, z: log_joint(vae, params, xi, z), proposal,
                                    jnp.asarray(x), K, chunk_size)


def _check_log_joint_shape(log_joint_fn, x, mean, n) -> None:
  """``log_joint_fn(x [...], z [n, d])`` must return real ``[n]`` (checked with
  :func:`jax.eval_shape` on one data point: nothing is computed, and it holds under ``jit``). A
  ``[n, 1]`` would broadcast against ``log q [n]`` to a silent ``[n, n]``."""
  xi = jax.ShapeDtypeStruct(tuple(jnp.shape(x))[1:], jnp.result_type(x))
  z = jax.ShapeDtypeStruct((n, jnp.shape(mean)[1]), jnp.result_type(mean))
  out = jax.eval_shape(log_joint_fn, xi, z)
  shape, dtype = getattr(out, "shape", None), getattr(out, "dtype", None)
  if shape != (n,) or dtype is None or not jnp.issubdtype(dtype, jnp.floating):
    raise ValueError(f"`log_joint_fn` must map (x [...], z [n, d]) to real log-densities [n]; "
                     f"for n = {n} it returns {shape if shape is not None else type(out).__name__}"
                     f" ({dtype}). Sum over the event axes or squeeze a trailing axis.")


def diag_gaussian_log_weights(key: Array, log_joint_fn: Callable[[Array, Array], Array],
                              x: Array, mean: Array, std: Array, n: int) -> Array:
  r""":math:`\log w_{bj} = \log p(x_b, z_{bj}) - \log q_b(z_{bj})` with
  :math:`z_{bj} \sim q_b = \mathcal{N}(m_b, \mathrm{diag}\, s_b^2)` reparameterised (one key per
  data point, :func:`gdm_jax.bounds.diag_gaussian_proposal`): the mean over ``j`` is an unbiased
  ELBO estimate of :math:`q_b` (:func:`gdm_jax.bounds.elbo`), differentiable in ``mean, std``.

  Args:
    log_joint_fn: ``(x [...], z [n, d]) -> [n]`` (its output shape is checked at trace time).
    x: ``[B, ...]``; ``mean, std``: ``[B, d]`` (a concrete ``std`` must be > 0); ``n >= 1``.
  Returns:
    ``[B, n]``.
  """
  v.check_key("key", key)
  v.check_callable("log_joint_fn", log_joint_fn, "(x [...], z [n, d]) -> [n]")
  n = v.check_int("n", n)
  v.check_ndim("mean", mean, (2,))
  v.check_same_shape("mean", mean, "std", std)
  mean = v.real("mean", mean)
  v.check_positive("std", std)
  std = v.real("std", std)
  if jnp.ndim(x) < 1 or jnp.shape(x)[0] != jnp.shape(mean)[0]:
    raise ValueError(f"`x` has shape {tuple(jnp.shape(x))} but `mean` has "
                     f"{jnp.shape(mean)[0]} rows; pass one proposal per data point.")
  _check_log_joint_shape(log_joint_fn, x, mean, n)
  keys = jax.random.split(key, jnp.shape(mean)[0])

  def one(k, xi, m, s):
    z, log_q = bounds.diag_gaussian_proposal(m, s)(k, n)
    return log_joint_fn(xi, z) - log_q

  return jax.vmap(one)(keys, jnp.asarray(x), jnp.asarray(mean), jnp.asarray(std))


def fit_local_gaussians(key: Array, log_joint_fn: Callable[[Array, Array], Array], x: Array,
                        init_mean: Array, init_std: Array, num_steps: int,
                        num_samples: int = 16, learning_rate: float = 1e-2
                        ) -> tuple[Array, Array]:
  r"""Per-data-point variational optimum :math:`q_b^* = \arg\max_{q \in \mathcal{Q}}
  \mathrm{ELBO}(q; x_b)` over diagonal Gaussians (Cremer et al. 2018's :math:`q^*`), by Adam on
  the reparameterised Monte Carlo ELBO (``num_samples`` draws per step, a cosine-decayed step
  size from ``learning_rate`` to 0) in :math:`(m_b, \log s_b)`, started at ``(init_mean,
  init_std)`` (e.g. the encoder's output):

  .. math:: \max_{m_{1:B}, s_{1:B}} \sum_b \frac1S \sum_{j=1}^S
            \log \frac{p(x_b, m_b + s_b \odot \epsilon_{bj})}{q_b(m_b + s_b \odot \epsilon_{bj})}.

  The points share no parameters and Adam acts coordinate by coordinate, so one Adam run on the
  sum is B independent runs. ``lax.scan`` over the steps; jittable with the counts static.

  Args:
    log_joint_fn: ``(x [...], z [n, d]) -> [n]``.
    x: ``[B, ...]``; ``init_mean, init_std``: ``[B, d]`` (concrete ``init_std`` > 0).
    num_steps: ``>= 0`` (0 returns the initialisation); ``num_samples >= 1``;
    learning_rate: ``> 0``.
  Returns:
    ``(mean [B, d], std [B, d])``.
  """
  v.check_key("key", key)
  v.check_callable("log_joint_fn", log_joint_fn, "(x [...], z [n, d]) -> [n]")
  num_steps = v.check_int("num_steps", num_steps, minimum=0)
  num_samples = v.check_int("num_samples", num_samples)
  v.check_positive("learning_rate", learning_rate)
  v.check_ndim("init_mean", init_mean, (2,))
  v.check_same_shape("init_std", init_std, "init_mean", init_mean)
  init_mean = v.real("init_mean", init_mean)
  v.check_positive("init_std", init_std)
  init = (init_mean, jnp.log(v.real("init_std", init_std)))
  if num_steps == 0:
    return init[0], jnp.exp(init[1])
  opt = optax.adam(optax.cosine_decay_schedule(learning_rate, num_steps))

  def loss(p, k):
    lw = diag_gaussian_log_weights(k, log_joint_fn, x, p[0], jnp.exp(p[1]), num_samples)
    return -jnp.sum(bounds.elbo(lw))

  def step(carry, k):
    p, state = carry
    g = jax.grad(loss)(p, k)
    upd, state = opt.update(g, state, p)
    return (optax.apply_updates(p, upd), state), None

  (p, _), _ = jax.lax.scan(step, (init, opt.init(init)), jax.random.split(key, num_steps))
  return p[0], jnp.exp(p[1])
