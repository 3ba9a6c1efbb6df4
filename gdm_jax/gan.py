r"""Q5: the optimal GAN discriminator and density estimation from a discriminator.

For :math:`D^* = \arg\max_D \mathbb{E}_{P_1}[\log D] + \mathbb{E}_{P_0}[\log(1 - D)]`, pointwise
maximisation of :math:`f_1 \log D + f_0 \log(1 - D)` gives

.. math:: D^*(x) = \frac{f_1(x)}{f_0(x) + f_1(x)} = \sigma(\log f_1(x) - \log f_0(x)),
   \qquad f_1 = f_0 \frac{D^*}{1 - D^*},\quad \log f_1 = \log f_0 + \mathrm{logit}\,D^*,

and the objective at :math:`D^*` is :math:`-\log 4 + 2 D_{JS}(P_1 \| P_0)` (Goodfellow et al.
2014). All computations are in log/logit space.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gdm_jax import validation as v
from gdm_jax.models import MLP

Array = jax.Array


def optimal_discriminator(log_f1_x: Array, log_f0_x: Array) -> Array:
  r""":math:`D^* = f_1/(f_0 + f_1) = \sigma(\log f_1 - \log f_0)`, from log-densities.

  Returns probabilities, which saturate: :math:`D^*` rounds to exactly 1 once
  :math:`\log f_1 - \log f_0` exceeds about 17 in float32 (37 in float64), and to 0 below about
  -87 (-708) (measured on CPU, where subnormals flush to zero), e.g. far in the tails of two
  Gaussians of different scales (beyond ``|x| = 16`` in float32, 44 in float64, for N(0, 1) against
  N(0, 2^2)). A saturated :math:`D^*` has lost :math:`\log f_1`: for densities use the logit
  :math:`\log f_1 - \log f_0` and :func:`density_from_logit`, not
  :func:`density_from_discriminator` (which refuses :math:`D \in \{0, 1\}`).

  Raises:
    ValueError: shapes differ, NaN or ``+inf`` (an infinite density), or (concrete inputs) both
      log-densities ``-inf`` at a point, where :math:`D^* = 0/0` is undefined. Traced values are
      not checked.
  """
  v.check_same_shape("log_f1_x", log_f1_x, "log_f0_x", log_f0_x)
  v.check_not_nan("log_f1_x", log_f1_x)
  v.check_not_nan("log_f0_x", log_f0_x)
  log_f1_x = v.real("log_f1_x", log_f1_x, neg_inf=True)
  log_f0_x = v.real("log_f0_x", log_f0_x, neg_inf=True)
  if v.is_concrete(log_f1_x) and v.is_concrete(log_f0_x):
    a, b = np.asarray(log_f1_x), np.asarray(log_f0_x)
    undefined = np.isinf(a) & (a == b)
    if np.any(undefined):
      raise ValueError(
          f"`log_f1_x` and `log_f0_x` are both {'-' if np.any(a[undefined] < 0) else '+'}inf at "
          f"{int(np.sum(undefined))} point(s): D* = f1 / (f0 + f1) is 0/0 there. Evaluate D* only "
          "where at least one density is positive and finite (mask the other points).")
  return jax.nn.sigmoid(jnp.asarray(log_f1_x) - jnp.asarray(log_f0_x))


def logit(d: Array) -> Array:
  """log d - log(1 - d), accurate near 0 and 1 (log1p). ``d`` a probability: a concrete ``d``
  outside [0, 1] is refused (0 and 1 give -inf and +inf)."""
  v.check_probability("d", d)
  return _logit(v.real("d", d))


def _logit(d):
  return jnp.log(d) - jnp.log1p(-d)


def density_from_discriminator(log_f0_x: Array, d_x: Array) -> Array:
  r""":math:`\log \hat f_1 = \log f_0 + \log D - \log(1 - D)` (Q5's estimate of :math:`f_1`).

  ``d_x`` must lie in the open interval (0, 1): a discriminator that saturated to exactly 0 or 1
  has lost the density ratio (the estimate would be :math:`\mp\infty`), so concrete values of 0
  or 1 are refused with the advice to use :func:`density_from_logit`. Traced values are not
  checked.
  """
  v.check_same_shape("log_f0_x", log_f0_x, "d_x", d_x)
  v.check_not_nan("log_f0_x", log_f0_x)
  v.check_probability("d_x", d_x)
  if v.is_concrete(d_x):
    d = np.asarray(d_x)
    if np.any((d == 0) | (d == 1)):
      raise ValueError(
          f"`d_x` has {int(np.sum((d == 0) | (d == 1)))} value(s) equal to 0 or 1: the "
          "discriminator saturated and log D - log(1 - D) is infinite there. Pass the "
          "discriminator's logit to `density_from_logit` instead (for D*, the logit is "
          "log f1 - log f0).")
  return v.real("log_f0_x", log_f0_x, neg_inf=True) + _logit(v.real("d_x", d_x))


def density_from_logit(log_f0_x: Array, logit_x: Array) -> Array:
  """The same estimate from a discriminator's logit (no round trip through probabilities)."""
  v.check_same_shape("log_f0_x", log_f0_x, "logit_x", logit_x)
  # -inf is a zero density f0 (then f1 = 0 too: the estimate is -inf); a logit is finite.
  return v.real("log_f0_x", log_f0_x, neg_inf=True) + v.real("logit_x", logit_x)


def pointwise_objective(d: Array, f1: Array, f0: Array) -> Array:
  r""":math:`f_1 \log D + f_0 \log(1 - D)`: the integrand of the discriminator's objective.

  ``d`` in [0, 1], densities ``f1, f0 >= 0`` (finite; checked when concrete), broadcast together.
  :math:`0 \log 0 = 0`: a zero density contributes 0 whatever ``d`` (``d = 0`` with ``f1 = 0``
  gives :math:`f_0 \log 1`, not NaN); a positive density at ``d`` = 0 or 1 gives ``-inf``."""
  v.check_probability("d", d)
  for name, f in (("f1", f1), ("f0", f0)):
    f = v.real(name, f)
    if v.is_concrete(f) and np.any(np.asarray(f) < 0):
      raise ValueError(f"`{name}` must be a density, >= 0; got minimum "
                       f"{float(np.min(np.asarray(f))):.4g}.")
  return _pointwise_objective(v.real("d", d), v.real("f1", f1), v.real("f0", f0))


def _pointwise_objective(d, f1, f0):
  return (jnp.where(f1 > 0, f1 * jnp.log(jnp.where(f1 > 0, d, 1.0)), 0.0)
          + jnp.where(f0 > 0, f0 * jnp.log1p(-jnp.where(f0 > 0, d, 0.0)), 0.0))


def gan_objective_terms(logit_at_p1: Array, logit_at_p0: Array) -> tuple[Array, Array]:
  r"""Per-sample :math:`\log D(x)` for :math:`x \sim P_1` and :math:`\log(1 - D(y))` for
  :math:`y \sim P_0`, from logits (``log_sigmoid``): their mean sum is the GAN objective."""
  return jax.nn.log_sigmoid(logit_at_p1), jax.nn.log_sigmoid(-logit_at_p0)


def bce_loss(params, apply_fn, x1: Array, x0: Array) -> Array:
  """Negative GAN objective of a logit network on a batch: softplus(-l) on P1, softplus(l) on P0."""
  l1 = apply_fn(params, x1)[..., 0]
  l0 = apply_fn(params, x0)[..., 0]
  return jnp.mean(jax.nn.softplus(-l1)) + jnp.mean(jax.nn.softplus(l0))


def train_discriminator(key: Array, x1: Array, x0: Array, n_used: Array | int | None = None,
                        steps: int = 1500, batch: int = 256, hidden: int = 32,
                        learning_rate: float = 1e-2, net=None):
  r"""Trains a flax MLP logit :math:`l_\psi(x)` (so :math:`D = \sigma(l)`) with optax Adam on the
  samples ``x1 ~ P1`` and ``x0 ~ P0`` (``[N, dim]`` each), minimising the negative GAN objective
  on minibatches drawn from the first ``n_used`` samples (all when None).

  ``n_used`` may be a traced value, so one compiled program serves every sample size (vmap over
  it and over ``key`` for a sweep). ``net`` is the user's flax module mapping ``[..., dim]`` to a
  logit ``[..., 1]`` (default: a tanh MLP with two ``hidden``-unit layers); evaluate the result
  with :func:`discriminator_logit` and the same ``net``. Returns ``(params, losses [steps])``.

  Checks: ``key`` a PRNG key; ``x1`` and ``x0`` real ``[N, dim]`` arrays of one shape (finite
  when concrete); ``steps``, ``batch`` and ``hidden`` ints >= 1; ``learning_rate`` finite and
  >= 0 (0 keeps the initial network); a concrete ``n_used`` a whole number in ``[1, N]``. A
  traced ``n_used`` cannot be checked: outside ``[1, N]`` it makes the returned parameters and
  losses NaN (rather than training on a clamped index, a silently different sample).
  """
  v.check_key("key", key)
  v.check_ndim("x1", x1, (2,))
  v.check_same_shape("x0", x0, "x1", x1)
  x1, x0 = v.real("x1", x1), v.real("x0", x0)
  n_max = x1.shape[0]
  if n_max < 1:
    raise ValueError("`x1` and `x0` are empty; pass at least one sample of each.")
  steps, batch = v.check_int("steps", steps), v.check_int("batch", batch)
  if net is None:
    hidden = v.check_int("hidden", hidden)
  v.check_rate("learning_rate", learning_rate)
  if n_used is not None and v.is_concrete(n_used):
    n_arr = np.asarray(n_used)
    if (n_arr.ndim != 0 or n_arr.dtype == bool or not np.issubdtype(n_arr.dtype, np.number)
        or n_arr != np.floor(n_arr) or not 1 <= n_arr <= n_max):
      raise ValueError(f"`n_used` must be a whole number in [1, N] = [1, {n_max}] (how many of "
                       f"the first samples to train on); got {n_used!r}.")
  return _train_discriminator(key, x1, x0, n_used, steps, batch, hidden, learning_rate, net)


@partial(jax.jit, static_argnames=("steps", "batch", "hidden", "net"))
def _train_discriminator(key, x1, x0, n_used, steps, batch, hidden, learning_rate, net):
  n = x1.shape[0] if n_used is None else n_used
  ki, kb = jax.random.split(key)
  net = MLP((hidden, hidden, 1)) if net is None else net
  params = net.init(ki, x1[:1])
  opt = optax.adam(learning_rate)
  apply = jax.jit(net.apply)  # traced once, reused for both batches (a cheaper trace)

  def step(carry, k):
    params, state = carry
    ka, kb_ = jax.random.split(k)
    i1 = jax.random.randint(ka, (batch,), 0, n)
    i0 = jax.random.randint(kb_, (batch,), 0, n)
    loss, g = jax.value_and_grad(bce_loss)(params, apply, x1[i1], x0[i0])
    upd, state = opt.update(g, state, params)
    return (optax.apply_updates(params, upd), state), loss

  (params, _), losses = jax.lax.scan(step, (params, opt.init(params)),
                                     jax.random.split(kb, steps))
  if n_used is not None:  # a traced n_used outside [1, N]: NaN, not a clamped index
    ok = (n >= 1) & (n <= x1.shape[0])
    params = jax.tree_util.tree_map(lambda a: jnp.where(ok, a, jnp.nan), params)
    losses = jnp.where(ok, losses, jnp.nan)
  return params, losses


def discriminator_logit(params, x: Array, hidden: int = 32, net=None) -> Array:
  """The trained network's logit at ``x [..., dim]`` -> ``[...]`` (``net`` as in training)."""
  net = MLP((hidden, hidden, 1)) if net is None else net
  return v.apply_net("params", net, params, v.real("x", x))[..., 0]



def recovered_density_error(params, grid: Array, log_f1: Array, log_f0: Array,
                            hidden: int = 32) -> Array:
  r""":math:`\mathbb{E}_{P_1}|\log \hat f_1 - \log f_1|` on a 1-D ``grid`` (trapezoid rule),
  :math:`\log \hat f_1 = \log f_0 + l_\psi` from the trained logit network ``params``:

  .. math:: \int f_1(x)\,|\log f_0(x) + l_\psi(x) - \log f_1(x)|\,dx.

  ``grid [G]``, ``log_f1, log_f0 [G]`` (the densities on the grid). Returns a scalar; vmap over
  ``params`` for a batch of networks."""
  from gdm_jax.divergences import trapezoid_weights
  w = trapezoid_weights(grid) * jnp.exp(log_f1)
  est = density_from_logit(log_f0, discriminator_logit(params, grid[:, None], hidden))
  return jnp.sum(w * jnp.abs(est - log_f1))
