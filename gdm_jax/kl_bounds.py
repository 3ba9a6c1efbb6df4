r"""Q6: variational lower bounds on :math:`D_{KL}(p \| q)` from a critic :math:`T`.

.. math::
   R_1[T] = \mathbb{E}_p[T] - \mathbb{E}_q[e^{T - 1}] \quad\text{(NWJ / f-GAN, from the convex
   conjugate } f^*(t) = e^{t-1} \text{ of } f(u) = u\log u),

   R_2[T] = \mathbb{E}_p[T] - \log \mathbb{E}_q[e^{T}] \quad\text{(Donsker-Varadhan)}.

:math:`\sup_T R_1 = D_{KL}` (attained at :math:`T = 1 + \log(p/q)`), :math:`R_2 \le D_{KL}` with
equality iff :math:`T = \log(p/q) + c`, and :math:`R_1[T] \le R_2[T]` for every :math:`T` because
:math:`\log a \le a/e`.
"""
from __future__ import annotations

from functools import partial
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.scipy.special import logsumexp

from gdm_jax import validation as v
from gdm_jax.divergences import check_quadrature_args, trapezoid_weights
from gdm_jax.models import MLP

Array = jax.Array


def _check(t_p, t_q):
  """Critic values are real numbers: float arrays (ints promoted), non-empty, finite."""
  v.check_nonempty("t_p", t_p)
  v.check_nonempty("t_q", t_q)
  return v.real("t_p", t_p), v.real("t_q", t_q)


def conjugate_u_log_u(t: Array) -> Array:
  r""":math:`f^*(t) = \sup_{u>0} ut - u\log u = e^{t-1}`."""
  return jnp.exp(t - 1.0)


def r1(t_p: Array, t_q: Array) -> Array:
  r""":math:`\hat R_1 = \mathrm{mean}(T(x_p)) - \mathrm{mean}(e^{T(x_q) - 1})`. ``[N], [M] -> []``.

  Finite whenever the answer is representable: where the plain sum of :math:`e^{t - 1}` could
  overflow (:math:`\max t - 1 + \log M > \log(\text{float max}) - 1`, e.g. critic values of 89
  in float32), the mean is summed in log space,
  :math:`\mathrm{mean}(e^{t - 1}) = \exp(\mathrm{logsumexp}(t - 1) - \log M)`, whose relative
  rounding error is about :math:`|\mathrm{logsumexp}|\,\epsilon \le 89\,\epsilon` (float32).
  Elsewhere the plain mean is kept (a few ulps). Both branches have finite gradients."""
  t_p, t_q = _check(t_p, t_q)
  t1 = t_q - 1.0
  log_n = jnp.log(jnp.asarray(t1.size, t1.dtype))
  log_max = float(np.log(np.finfo(t1.dtype).max))
  safe = jax.lax.stop_gradient(jnp.max(t1) + log_n < log_max - 1.0)
  plain = jnp.mean(jnp.exp(jnp.where(safe, t1, 0.0)))  # evaluated at 0 where unused: no inf grad
  return jnp.mean(t_p) - jnp.where(safe, plain, jnp.exp(logsumexp(t1) - log_n))


def r2(t_p: Array, t_q: Array) -> Array:
  r""":math:`\hat R_2 = \mathrm{mean}(T(x_p)) - \log \mathrm{mean}(e^{T(x_q)})` via ``logsumexp``
  (finite for critic values of 100 in float32)."""
  t_p, t_q = _check(t_p, t_q)
  return jnp.mean(t_p) - (logsumexp(t_q) - jnp.log(jnp.asarray(t_q.size, t_q.dtype)))


def _check_quadrature(t, log_p, log_q, grid):
  log_p, log_q, grid = check_quadrature_args(log_p, log_q, grid)
  v.check_same_shape("t", t, "grid", grid)
  return v.real("t", t), log_p, log_q, grid


def r1_quadrature(t: Array, log_p: Array, log_q: Array, grid: Array) -> Array:
  """R1[T] with both expectations by the trapezoid rule on a 1-D grid (exact oracle).

  Needs a strictly increasing grid and normalised densities on it (checked for concrete
  arguments, as in :mod:`gdm_jax.divergences`)."""
  t, log_p, log_q, grid = _check_quadrature(t, log_p, log_q, grid)
  w = trapezoid_weights(grid)
  return jnp.sum(w * jnp.exp(log_p) * t) - jnp.sum(w * jnp.exp(log_q + t - 1.0))


def r2_quadrature(t: Array, log_p: Array, log_q: Array, grid: Array) -> Array:
  """R2[T] with both expectations by the trapezoid rule on a 1-D grid (same checks as
  :func:`r1_quadrature`)."""
  t, log_p, log_q, grid = _check_quadrature(t, log_p, log_q, grid)
  w = trapezoid_weights(grid)
  return jnp.sum(w * jnp.exp(log_p) * t) - logsumexp(log_q + t, b=w)


def log_expectation_quadrature(t: Array, log_q: Array, grid: Array) -> Array:
  r""":math:`\log \mathbb{E}_q[e^{T}] = \log \int q(x) e^{T(x)} dx` by the trapezoid rule on a 1-D
  ``grid``, in log space (``logsumexp`` with the weights): finite when :math:`\mathbb{E}_q[e^T]`
  itself overflows (critic values of 100 in float32). ``t, log_q, grid [G] -> []``."""
  v.check_ndim("grid", grid, (1,))
  v.check_same_shape("t", t, "grid", grid)
  v.check_same_shape("log_q", log_q, "grid", grid)
  t, log_q = v.real("t", t), v.real("log_q", log_q, neg_inf=True)
  return logsumexp(log_q + t, b=trapezoid_weights(grid))


def tilted_log_density(t: Array, log_q: Array, grid: Array) -> Array:
  r"""Q6.2(a): :math:`\log(r q)` on the grid, :math:`r = e^{T} / \mathbb{E}_q[e^{T}]`:

  .. math:: \log r(x) q(x) = T(x) + \log q(x) - \log \mathbb{E}_q[e^{T}],

  the normaliser by :func:`log_expectation_quadrature`. ``t, log_q, grid [G] -> [G]``."""
  log_z = log_expectation_quadrature(t, log_q, grid)  # validates the arguments first
  return v.real("t", t) + v.real("log_q", log_q, neg_inf=True) - log_z


def train_critic(key: Array, sample_p: Callable, sample_q: Callable, bound: str = "r2",
                 steps: int = 1500, batch: int = 512, hidden: int = 32,
                 learning_rate: float = 5e-3, net=None):
  r"""Maximises :math:`\hat R_1` or :math:`\hat R_2` over a flax critic with optax Adam, fresh
  samples each step. ``net`` is the user's flax module ``[..., dim] -> [..., 1]`` (default: a tanh
  MLP with two ``hidden``-unit layers; evaluate with :func:`critic_values` and the same ``net``).
  Returns ``(params, curve [steps])`` (the per-step bound values).

  Checks (eager, and under ``jit`` except a traced ``learning_rate``): ``key`` a PRNG key,
  ``sample_p`` and ``sample_q`` callables ``(key, n) -> [n, dim]``, ``steps``, ``batch`` and
  ``hidden`` ints >= 1, ``learning_rate`` finite and >= 0 (0 keeps the initial critic).
  Compiled once per static signature (``sample_p``, ``sample_q``, ``bound``, sizes, ``net``)."""
  if bound not in ("r1", "r2"):
    raise ValueError(f"`bound` must be 'r1' or 'r2'; got {bound!r}.")
  v.check_key("key", key)
  v.check_callable("sample_p", sample_p, "(key, n) -> samples [n, dim]")
  v.check_callable("sample_q", sample_q, "(key, n) -> samples [n, dim]")
  steps, batch = v.check_int("steps", steps), v.check_int("batch", batch)
  if net is None:
    hidden = v.check_int("hidden", hidden)
  v.check_rate("learning_rate", learning_rate)
  return _train_critic(key, sample_p, sample_q, bound, steps, batch, hidden, learning_rate, net)


@partial(jax.jit, static_argnames=("sample_p", "sample_q", "bound", "steps", "batch", "hidden",
                                   "net"))
def _train_critic(key, sample_p, sample_q, bound, steps, batch, hidden, learning_rate, net):
  objective = r1 if bound == "r1" else r2
  net = MLP((hidden, hidden, 1)) if net is None else net
  kinit, kloop = jax.random.split(key)
  params = net.init(kinit, sample_p(kinit, 1))
  opt = optax.adam(learning_rate)
  apply = jax.jit(net.apply)  # traced once, reused for both samples (a cheaper trace)

  def step(carry, k):
    params, state = carry
    kp, kq = jax.random.split(k)
    xp, xq = sample_p(kp, batch), sample_q(kq, batch)
    val, g = jax.value_and_grad(
        lambda pr: objective(apply(pr, xp)[:, 0], apply(pr, xq)[:, 0]))(params)
    upd, state = opt.update(jax.tree_util.tree_map(jnp.negative, g), state, params)
    return (optax.apply_updates(params, upd), state), val

  (params, _), curve = jax.lax.scan(step, (params, opt.init(params)),
                                    jax.random.split(kloop, steps))
  return params, curve


def critic_values(params, x: Array, hidden: int = 32, net=None) -> Array:
  """The critic's values ``T(x)``: ``x [..., dim] -> [...]`` (``net`` as in training)."""
  net = MLP((hidden, hidden, 1)) if net is None else net
  return v.apply_net("params", net, params, v.real("x", x))[..., 0]


