r"""Q2: amortised versus per-instance variational inference, and the gaps.

For a data point :math:`x_i` and a variational family :math:`\mathcal{Q}` (diagonal Gaussians),

.. math::
   \log p(x_i) - \mathrm{ELBO}(q) = D_{KL}(q \,\|\, p(z \mid x_i)),

so the per-instance optimum :math:`q_i^*` has the smallest KL within :math:`\mathcal{Q}` and any
encoder output :math:`q_{\phi^*}(z \mid x_i) \in \mathcal{Q}` satisfies
:math:`D_{KL}(q_{\phi^*} \| p(z|x_i)) \ge D_{KL}(q_i^* \| p(z|x_i))` (Q2.2). The total gap splits
(Cremer, Li & Duvenaud 2018) into

.. math::
   \underbrace{\log p(x_i) - \mathrm{ELBO}(q_i^*)}_{\text{approximation gap}} +
   \underbrace{\mathrm{ELBO}(q_i^*) - \mathrm{ELBO}(q_{\phi^*}(\cdot|x_i))}_{\text{amortisation gap}}.

Q2.1: for fixed q, :math:`\mathbb{E}_q[\log p_\theta(x|z)] = \log p_\theta(x)
- D_{KL}(q \| p_\theta(z|x)) + D_{KL}(q \| p(z))`, so its argmax in :math:`\theta` is that of
:math:`\log p_\theta(x) + B(\theta)` with :math:`B(\theta) = -D_{KL}(q \| p_\theta(z|x)) \le 0`.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from gdm_jax import validation as v
from gdm_jax.models import LinearGaussian, kl_diag_gaussians, kl_gaussians

Array = jax.Array
_LOG_2PI = math.log(2 * math.pi)


def expected_log_likelihood(model: LinearGaussian, x: Array, q_mean: Array,
                            q_std: Array) -> Array:
  r"""Closed form :math:`\mathbb{E}_{q}[\log p(x|z)]` for q = N(m, diag(s_q^2)).

  .. math:: -D\log s - \tfrac{D}{2}\log 2\pi - \frac{\|x - Wm - b\|^2 + \sum_j s_{q,j}^2
            \|W_{:,j}\|^2}{2 s^2}

  ``x [..., D], q_mean/q_std [..., d] -> [...]`` (a concrete ``q_std`` must be > 0).
  """
  x, q_mean, q_std = _q_args(model, x, q_mean, q_std)
  r = x - (q_mean @ model.W.T + model.b)
  tr = jnp.sum(q_std ** 2 * jnp.sum(model.W ** 2, 0), -1)
  D = model.data_dim
  return (-D * jnp.log(model.noise_std) - 0.5 * D * _LOG_2PI
          - (jnp.sum(r * r, -1) + tr) / (2 * model.noise_std ** 2))


def _q_args(model, x, q_mean, q_std):
  """``x [..., D]``, ``q_mean [..., d]`` and ``q_std`` (its shape, > 0) under the input rules."""
  v.check_ndim("x", x, range(1, 16))
  v.check_last_dim("x", x, model.data_dim, "the model's data dimension D")
  v.check_ndim("q_mean", q_mean, range(1, 16))
  v.check_last_dim("q_mean", q_mean, model.latent_dim, "the model's latent dimension d")
  v.check_same_shape("q_std", q_std, "q_mean", q_mean)
  v.check_positive("q_std", q_std)
  try:
    jnp.broadcast_shapes(jnp.shape(x)[:-1], jnp.shape(q_mean)[:-1])
  except ValueError:
    raise ValueError(f"`x` has shape {jnp.shape(x)} and `q_mean` {jnp.shape(q_mean)}: their "
                     "batch axes must broadcast (one proposal per data point).") from None
  return v.real("x", x), v.real("q_mean", q_mean), v.real("q_std", q_std)


def closed_form_elbo(model: LinearGaussian, x: Array, q_mean: Array, q_std: Array) -> Array:
  """ELBO = E_q[log p(x|z)] - KL(q || N(0, I)), closed form. ``[...]``.

  ``x [..., D]``, ``q_mean, q_std [..., d]``; a concrete ``q_std`` must be > 0 (traced values,
  e.g. inside the fits below, are not checked)."""
  x, q_mean, q_std = _q_args(model, x, q_mean, q_std)
  zeros = jnp.zeros_like(q_mean)
  return (expected_log_likelihood(model, x, q_mean, q_std)
          - kl_diag_gaussians(q_mean, q_std, zeros, jnp.ones_like(q_std)))


def kl_to_posterior(model: LinearGaussian, x: Array, q_mean: Array, q_std: Array) -> Array:
  """KL(q || p(z|x)) for one ``x [D]`` and ``q_mean, q_std [d]`` (``q_std`` > 0), closed form
  between Gaussians (the oracle for the gaps)."""
  v.check_ndim("x", x, (1,))
  v.check_ndim("q_mean", q_mean, (1,))
  x, q_mean, q_std = _q_args(model, x, q_mean, q_std)
  pm, pc = model.posterior(x)
  return kl_gaussians(q_mean, jnp.diag(q_std ** 2), pm, pc)


def mean_field_optimum(model: LinearGaussian, x: Array) -> tuple[Array, Array]:
  r"""Closed-form argmax of the ELBO over diagonal Gaussians: mean = posterior mean,
  :math:`s_j^2 = 1 / P_{jj}` with :math:`P` the posterior precision. ``x [..., D]``."""
  v.check_ndim("x", x, range(1, 16))
  v.check_last_dim("x", x, model.data_dim, "the model's data dimension D")
  x = v.real("x", x)
  mean, _ = model.posterior(x)
  prec_diag = 1.0 + jnp.sum(model.W ** 2, 0) / model.noise_std ** 2
  return mean, jnp.broadcast_to(1.0 / jnp.sqrt(prec_diag), mean.shape)


def _lbfgs_minimise(fun, init, num_steps: int):
  """Runs optax.lbfgs (zoom line search) for ``num_steps`` inside ``lax.fori_loop``."""
  # The line search evaluates ``fun`` in several places; as a jitted function it is traced once
  # and reused (the program is the same, the trace is cheaper).
  fun = jax.jit(fun)
  opt = optax.lbfgs()
  value_and_grad = optax.value_and_grad_from_state(fun)

  def step(_, carry):
    params, state = carry
    value, grad = value_and_grad(params, state=state)
    updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=fun)
    return optax.apply_updates(params, updates), state

  params, _ = jax.lax.fori_loop(0, num_steps, step, (init, opt.init(init)))
  return params


class InstanceFit(NamedTuple):
  mean: Array  # [n, d]
  std: Array   # [n, d]


def fit_per_instance(model: LinearGaussian, x: Array, num_steps: int = 60) -> InstanceFit:
  r"""One q_i per data point, each maximising its own ELBO, fitted with optax L-BFGS.

  Parameters per point: mean and log-std (2 d numbers). The per-point objectives share no
  parameters, so the minimiser of :math:`-\sum_i \mathrm{ELBO}_i(q_i)` over all ``[n, 2d]``
  parameters is exactly the tuple of per-point minimisers :math:`q_i^*` (the Hessian is
  block-diagonal): one L-BFGS run over the sum finds them all, without batching a line search
  under ``vmap`` (whose trace costs ~5x more). ``x [n, D]``; ``num_steps >= 0`` (0 returns the
  initialisation, mean 0 and std 1).
  """
  num_steps = v.check_int("num_steps", num_steps, minimum=0)
  v.check_ndim("x", x, (2,))
  v.check_last_dim("x", x, model.data_dim, "the model's data dimension D")
  x = v.real("x", x)
  n, d = x.shape[0], model.latent_dim
  loss = lambda p: -jnp.sum(closed_form_elbo(model, x, p[0], jnp.exp(p[1])))
  init = (jnp.zeros((n, d), x.dtype), jnp.zeros((n, d), x.dtype))
  m, log_s = _lbfgs_minimise(loss, init, num_steps)
  return InstanceFit(m, jnp.exp(log_s))


class Encoder(nn.Module):
  r"""Amortised encoder :math:`x \mapsto (\mu_\phi(x), \sigma_\phi(x))` of a diagonal Gaussian.

  ``hidden=()`` gives an affine encoder (able to represent the exact mean-field optimum of a
  ``LinearGaussian``); ``mean_rank=r`` forces the mean through an ``r``-dimensional bottleneck
  (a capacity limit).
  """
  latent_dim: int
  hidden: Sequence[int] = ()
  mean_rank: int | None = None

  @nn.compact
  def __call__(self, x):
    h = x
    for f in self.hidden:
      h = jnp.tanh(nn.Dense(f)(h))
    if self.mean_rank is not None:
      mean = nn.Dense(self.latent_dim)(nn.Dense(self.mean_rank, use_bias=False)(h))
    else:
      mean = nn.Dense(self.latent_dim)(h)
    log_std = nn.Dense(self.latent_dim)(h)
    return mean, jnp.exp(log_std)


def fit_amortised(key: Array, model: LinearGaussian, x: Array, encoder: Encoder,
                  num_steps: int = 300):
  r"""Trains ``encoder`` to maximise :math:`\sum_i \mathrm{ELBO}(q_\phi(\cdot|x_i))` (full batch,
  optax L-BFGS). ``x [n, D]``; ``num_steps >= 0`` (0 returns the initial parameters). Returns
  the parameters :math:`\phi^*`."""
  v.check_key("key", key)
  if not isinstance(encoder, nn.Module):
    raise ValueError(f"`encoder` must be a flax module such as Encoder(latent_dim); got "
                     f"{type(encoder).__name__}.")
  num_steps = v.check_int("num_steps", num_steps, minimum=0)
  v.check_ndim("x", x, (2,))
  v.check_last_dim("x", x, model.data_dim, "the model's data dimension D")
  x = v.real("x", x)
  if jnp.shape(x)[0] == 0:
    raise ValueError("`x` is empty; pass at least one data point.")
  # flax creates float32 parameters by default; match the data's precision (float64 under x64).
  params = jax.tree_util.tree_map(lambda p: p.astype(x.dtype), encoder.init(key, x[:1]))

  def loss(p):
    m, s = encoder.apply(p, x)
    return -jnp.mean(closed_form_elbo(model, x, m, s))

  return _lbfgs_minimise(loss, params, num_steps)


class Gaps(NamedTuple):
  log_marginal: Array       # [n]  exact log p(x_i)
  elbo_instance: Array      # [n]  ELBO(q_i*)
  elbo_amortised: Array     # [n]  ELBO(q_phi*(.|x_i))
  kl_instance: Array        # [n]  KL(q_i* || p(z|x_i)), closed form
  kl_amortised: Array       # [n]  KL(q_phi* || p(z|x_i)), closed form
  kl_prior_instance: Array  # [n]  KL(q_i* || p(z))
  kl_prior_amortised: Array  # [n] KL(q_phi* || p(z))

  @property
  def approximation_gap(self):
    return self.log_marginal - self.elbo_instance

  @property
  def amortisation_gap(self):
    return self.elbo_instance - self.elbo_amortised


def gaps(model: LinearGaussian, x: Array, inst: InstanceFit, amort_mean: Array,
         amort_std: Array) -> Gaps:
  """All the quantities of Q2.2/Q2.3(a) for data ``x [n, D]``."""
  kl_post = jax.vmap(lambda xi, m, s: kl_to_posterior(model, xi, m, s))
  zeros = jnp.zeros_like(inst.mean)
  ones = jnp.ones_like(inst.std)
  return Gaps(model.log_marginal(x), closed_form_elbo(model, x, inst.mean, inst.std),
              closed_form_elbo(model, x, amort_mean, amort_std),
              kl_post(x, inst.mean, inst.std), kl_post(x, amort_mean, amort_std),
              kl_diag_gaussians(inst.mean, inst.std, zeros, ones),
              kl_diag_gaussians(amort_mean, amort_std, zeros, ones))


def param_count(params) -> int:
  return sum(int(p.size) for p in jax.tree_util.tree_leaves(params))
