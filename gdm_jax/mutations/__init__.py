r"""Planted mistakes: each :class:`Mutation` replaces a piece of the mathematics with a known
wrong version (the problem set's written answers among them). ``gdm-jax mutate`` applies them one
at a time, reruns the claims in its ``scope`` (those that could plausibly catch it), and counts a
mutation *caught* when at least one claim that is ok without it (:func:`baseline`) is not ok with
it. The mutation score is caught / total.

A mutation patches module attributes; functions are looked up through their modules at trace
time, so ``jax.clear_caches()`` plus clearing the claims' memoised set-ups makes the patch visible.
A name that a module imports with ``from x import y`` is a second binding: a mutation patches it
in every module that holds it (:func:`_at`), or the claims would still see the original.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import math
import warnings
from typing import Callable, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.scipy.linalg import solve_triangular
from jax.scipy.special import logsumexp


@dataclasses.dataclass(frozen=True)
class Mutation:
  name: str
  description: str
  patches: tuple[tuple[str, str, Callable], ...]  # (module, attribute, factory(original) -> new)
  scope: str                                       # glob of claim ids to rerun


def _drop_logdet(orig):
  return lambda g, z0: jnp.zeros((), jnp.result_type(z0))


def _written_base(orig):
  from gdm_jax.claims.q1 import written_base_log_prob  # Answer 1's density, as q1 states it
  return written_base_log_prob


def _squared_det(orig):
  return lambda g, z0: 2.0 * orig(g, z0)  # |det J|^2 (|diag(sigma^2)|, |S S^T|) in place of |det J|


def _log_k_plus_one(orig):
  def iwae_bound(log_w, axis=-1):
    log_w = jnp.asarray(log_w)
    return logsumexp(log_w, axis=axis) - jnp.log(log_w.shape[axis] + 1.0)
  return iwae_bound


def _mean_log_w(orig):
  return lambda log_w, axis=-1: jnp.mean(jnp.asarray(log_w), axis=axis)


def _prefix_mean_log_w(orig):
  def prefix_bounds(log_w):
    log_w = jnp.asarray(log_w)
    k = jnp.arange(1, log_w.shape[-1] + 1, dtype=log_w.dtype)
    return jnp.cumsum(log_w, axis=-1) / k
  return prefix_bounds


def _chunk_no_rescale(orig):
  def iwae_estimate(key, log_joint, sample_and_log_q, K, chunk_size=None):
    if chunk_size is None or chunk_size >= K:
      return orig(key, log_joint, sample_and_log_q, K, chunk_size)
    n = K // chunk_size
    def body(carry, i):
      m, s = carry
      z, lq = sample_and_log_q(jax.random.fold_in(key, i), chunk_size)
      lw = log_joint(z) - lq
      m2 = jnp.maximum(m, jnp.max(lw))
      return (m2, s + jnp.sum(jnp.exp(lw - m2))), None  # forgets s * exp(m - m2)
    (m, s), _ = jax.lax.scan(body, (jnp.asarray(-jnp.inf), jnp.asarray(0.0)), jnp.arange(n))
    rem = K - n * chunk_size
    if rem:
      z, lq = sample_and_log_q(jax.random.fold_in(key, n), rem)
      lw = log_joint(z) - lq
      m2 = jnp.maximum(m, jnp.max(lw))
      s, m = s + jnp.sum(jnp.exp(lw - m2)), m2
    return m + jnp.log(s) - jnp.log(K)
  return iwae_estimate


def _elbo_no_trace(orig):
  def expected_log_likelihood(model, x, q_mean, q_std):
    r = x - (q_mean @ model.W.T + model.b)
    d = model.data_dim
    return (-d * jnp.log(model.noise_std) - 0.5 * d * math.log(2 * math.pi)
            - jnp.sum(r * r, -1) / (2 * model.noise_std ** 2))
  return expected_log_likelihood


def _kl_to_prior(orig):
  from gdm_jax.models import kl_diag_gaussians
  return lambda model, x, m, s: kl_diag_gaussians(m, s, jnp.zeros_like(m), jnp.ones_like(s))


def _marginal_drops_noise_det(orig):
  def log_marginal(self, x):
    return orig(self, x) + 0.5 * self.data_dim * jnp.log(self.noise_std ** 2)
  return log_marginal


def _leaky_mask_a(orig):
  def mask(kind, kernel_size=3):
    return orig("B", kernel_size)  # type A lets the centre through
  return mask


def _flipped_kernel(orig):
  def channel_mask(kind, kernel_size, in_features, out_features, groups=1):
    return orig(kind, kernel_size, in_features, out_features, groups)[::-1, ::-1].copy()
  return channel_mask


def _d_star_swapped(orig):
  return lambda log_f1_x, log_f0_x: orig(log_f0_x, log_f1_x)  # f0 / (f0 + f1)


def _jsd_no_half_mc(orig):
  return lambda *a: 2.0 * orig(*a)


def _jsd_no_half_quad(orig):
  return lambda log_p, log_q, grid: 2.0 * orig(log_p, log_q, grid)


def _dv_wrong_sign(orig):
  def r2(t_p, t_q):
    t_q = jnp.asarray(t_q)
    return jnp.mean(t_p) + (logsumexp(t_q) - jnp.log(t_q.size))
  return r2


def _nwj_no_minus_one(orig):
  return lambda t_p, t_q: jnp.mean(t_p) - jnp.mean(jnp.exp(jnp.asarray(t_q)))


def _nwj_quad_no_minus_one(orig):
  # r1(T + 1) - 1 = E_p T + 1 - E_q e^T - 1 = E_p T - E_q e^T
  return lambda t, log_p, log_q, grid: orig(t + 1.0, log_p, log_q, grid) - 1.0


def _at(attr: str, factory: Callable, *modules: str) -> tuple[tuple[str, str, Callable], ...]:
  """One factory patched under ``attr`` in every module that holds the name: a function a claim
  or a math module imports with ``from x import y`` must be patched there too."""
  return tuple((mod, attr, factory) for mod in modules)


_LOG_2PI = math.log(2 * math.pi)


# ---------------------------------------------------------------------------------------------
# Q1: change of variables.

def _gaussian_kernel(upper: bool = False, halve: bool = True):
  """``change_of_variables._gaussian_log_prob`` with a transposed Cholesky factor (solving
  ``L^T y = x - m``, i.e. precision ``(L^T L)^-1``) or with ``log|Sigma|`` not halved."""
  def factory(orig):
    @jax.jit
    def _gaussian_log_prob(x, mean, cov):
      chol = jnp.linalg.cholesky(cov)
      diff = (x - mean).reshape(-1, mean.shape[0])
      if upper:
        sol = solve_triangular(chol.T, diff.T, lower=False)
      else:
        sol = solve_triangular(chol, diff.T, lower=True)
      maha = jnp.sum(sol * sol, axis=0).reshape(x.shape[:-1])
      logdet = jnp.sum(jnp.log(jnp.diagonal(chol))) * (1.0 if halve else 2.0)
      return -0.5 * maha - logdet - 0.5 * mean.shape[0] * _LOG_2PI
    return _gaussian_log_prob
  return factory


def _affine_transposed(orig):
  def affine(mu, scale):
    g = orig(mu, scale)  # validates
    if jnp.ndim(scale) != 2:
      return g
    m, s = jnp.asarray(mu), jnp.asarray(scale)
    return lambda z0: m + jnp.einsum("ji,...j->...i", s, z0)  # S^T z0
  return affine


def _affine_variance(orig):
  def affine(mu, scale):
    g = orig(mu, scale)
    if jnp.ndim(scale) != 1:
      return g
    m, s = jnp.asarray(mu), jnp.asarray(scale)
    return lambda z0: m + s * s * z0  # sigma^2 for sigma
  return affine


def _pushforward_plus_logdet(orig):
  def pushforward_log_prob(g, base_log_prob, z0):
    from gdm_jax import change_of_variables as cov
    z0 = jnp.asarray(z0)

    def one(z):
      return g(z), base_log_prob(z) + cov.log_abs_det_jacobian(g, z)

    return one(z0) if z0.ndim == 1 else jax.vmap(one)(z0)
  return pushforward_log_prob


def _std_normal_no_sqrt(orig):
  def standard_normal_log_prob(z):
    z = jnp.asarray(z)
    return -0.5 * jnp.sum(z * z, axis=-1) - z.shape[-1] * _LOG_2PI  # (2 pi)^-K
  return standard_normal_log_prob


def _logdet_without_abs(orig):
  return lambda g, z0: jnp.log(jnp.linalg.det(jax.jacfwd(g)(z0)))


def _bisect_flipped(orig):
  def bisect_inverse(f, y, lo, hi, num_iters=100):
    # The comparison f(m) < y flipped to f(m) > y, so the bracket runs to an end.
    y = jnp.asarray(y)
    a, b = jnp.full_like(y, lo), jnp.full_like(y, hi)

    def body(_, ab):
      a, b = ab
      m = 0.5 * (a + b)
      below = f(m) > y
      return jnp.where(below, m, a), jnp.where(below, b, m)

    a, b = jax.lax.fori_loop(0, num_iters, body, (a, b))
    return 0.5 * (a + b)
  return bisect_inverse


# ---------------------------------------------------------------------------------------------
# Q2/Q3: models.

def _gram(drop_r0: bool = False, cross: float = 2.0):
  def factory(orig):
    def log_likelihood_gram(self, x, z):
      r0 = x - self.b
      s2 = self.noise_std ** 2
      wr = self.W.T @ r0
      gram = self.W.T @ self.W
      quad = jnp.sum((z @ gram) * z, -1) - cross * z @ wr + (0.0 if drop_r0 else r0 @ r0)
      return (-0.5 * quad / s2 - self.data_dim * jnp.log(self.noise_std)
              - 0.5 * self.data_dim * _LOG_2PI)
    return log_likelihood_gram
  return factory


def _sample(noise_power: int = 1, with_b: bool = True):
  def factory(orig):
    def sample(self, key, n):
      kz, kx = jax.random.split(key)
      z = jax.random.normal(kz, (n, self.latent_dim), self.W.dtype)
      eps = jax.random.normal(kx, (n, self.data_dim), self.W.dtype)
      x = z @ self.W.T + (self.b if with_b else 0.0) + self.noise_std ** noise_power * eps
      return x, z
    return sample
  return factory


def _posterior_cov_not_inverted(orig):
  def posterior(self, x):
    prec = self._precision()
    return ((x - self.b) @ self.W / self.noise_std ** 2) @ prec.T, prec  # P for P^-1
  return posterior


def _posterior_mean_no_s2(orig):
  def posterior(self, x):
    mean, cov = orig(self, x)
    return mean * self.noise_std ** 2, cov  # P^-1 W^T (x - b), without the 1/s^2
  return posterior


def _kl_diag_log_swapped(orig):
  def kl_diag_gaussians(m1, s1, m2, s2):
    return jnp.sum(jnp.log(s1 / s2) + (s1 ** 2 + (m1 - m2) ** 2) / (2 * s2 ** 2) - 0.5, -1)
  return kl_diag_gaussians


def _kl_trace_transposed(orig):
  def kl_gaussians(m1, c1, m2, c2):
    d = m1.shape[-1]
    l2 = jnp.linalg.cholesky(c2)
    l1 = jnp.linalg.cholesky(c1)
    a = solve_triangular(l1, l2, lower=True)  # tr(C1^-1 C2) for tr(C2^-1 C1)
    diff = solve_triangular(l2, (m2 - m1)[..., None], lower=True)[..., 0]
    logdet = 2 * (jnp.sum(jnp.log(jnp.diagonal(l2))) - jnp.sum(jnp.log(jnp.diagonal(l1))))
    return 0.5 * (jnp.sum(a * a) + jnp.sum(diff * diff, -1) - d + logdet)
  return kl_gaussians


def _second_moment_half_logdet(orig):
  def log_second_moment_ratio(m_p, c_p, m_q, c_q):
    pp, pq = jnp.linalg.inv(c_p), jnp.linalg.inv(c_q)
    a = 2 * pp - pq
    b = 2 * pp @ m_p - pq @ m_q
    e = 2 * m_p @ pp @ m_p - m_q @ pq @ m_q
    sign, logdet_a = jnp.linalg.slogdet(a)
    val = (-0.5 * jnp.linalg.slogdet(c_p)[1] + 0.5 * jnp.linalg.slogdet(c_q)[1]  # -log|C_p|/2
           - 0.5 * logdet_a + 0.5 * b @ jnp.linalg.solve(a, b) - 0.5 * e)
    pd = jnp.all(jnp.linalg.eigvalsh(0.5 * (a + a.T)) > 0)
    return jnp.where(pd & (sign > 0), val, jnp.nan)
  return log_second_moment_ratio


def _diag_log_prob_half_log_std(orig):
  def diag_gaussian_log_prob(z, mean, std):
    r = (z - mean) / std
    return (-0.5 * jnp.sum(r * r, -1) - 0.5 * jnp.sum(jnp.log(std), -1)  # -log s / 2
            - 0.5 * z.shape[-1] * _LOG_2PI)
  return diag_gaussian_log_prob


def _likelihood_without_b(orig):
  def log_likelihood(self, x, z):
    r = (x - z @ self.W.T) / self.noise_std
    return (-0.5 * jnp.sum(r * r, -1) - self.data_dim * jnp.log(self.noise_std)
            - 0.5 * self.data_dim * _LOG_2PI)
  return log_likelihood


def _nonlinear_marginal_no_h(orig):
  def log_marginal(self, x, half_width=12.0, num_nodes=8001):
    z = jnp.linspace(-half_width, half_width, num_nodes, dtype=x.dtype)
    w = jnp.ones_like(z).at[0].set(0.5).at[-1].set(0.5)
    return logsumexp(self.log_joint(x, z[:, None]), b=w)  # the node spacing h forgotten
  return log_marginal


# ---------------------------------------------------------------------------------------------
# Q3: bounds.

def _surrogates(square: bool = True, stop: bool = True, stl: str = "ok"):
  """The three surrogates with one slip: DReG's ``square``/``stop``, or STL's ``stl`` =
  ``"no_stop"`` (q's parameters not stopped in log q: STL is IWAE) or ``"stop_z"`` (the sample
  z stopped as well: the path term is gone and the encoder gradient is 0)."""
  def factory(orig):
    def iwae_surrogates(eps, theta, q_mean, q_log_std, x):
      from gdm_jax import bounds, models
      sg = jax.lax.stop_gradient
      std = jnp.exp(q_log_std)
      z = q_mean + std * eps
      log_w = theta.log_joint(x, z) - models.diag_gaussian_log_prob(z, q_mean, std)
      log_w_stop = theta.log_joint(x, z) - models.diag_gaussian_log_prob(z, sg(q_mean), sg(std))
      w_tilde = jax.nn.softmax(log_w_stop)
      if stop:
        w_tilde = sg(w_tilde)
      dreg = jnp.sum((w_tilde ** 2 if square else w_tilde) * log_w_stop)
      if stl == "no_stop":
        stl_w = log_w
      elif stl == "stop_z":
        stl_w = sg(log_w_stop)
      else:
        stl_w = log_w_stop
      return bounds.Surrogates(bounds.iwae_bound(log_w), bounds.iwae_bound(stl_w), dreg)
    return iwae_surrogates
  return factory


def _prefix_divides_by_k(orig):
  def prefix_bounds(log_w):
    log_w = jnp.asarray(log_w)
    k = jnp.asarray(log_w.shape[-1], log_w.dtype)  # K for every prefix, not k
    return jax.lax.cumlogsumexp(log_w, axis=log_w.ndim - 1) - jnp.log(k)
  return prefix_bounds


def _chunked(same_key: bool = False, drop_remainder: bool = False, by_full_chunks: bool = False):
  """``iwae_estimate``'s chunked path with one of three slips; the one-shot path is untouched."""
  def factory(orig):
    def iwae_estimate(key, log_joint, sample_and_log_q, K, chunk_size=None):
      from gdm_jax import bounds
      if chunk_size is None or chunk_size >= K:
        return orig(key, log_joint, sample_and_log_q, K, chunk_size)
      n_full, rem = divmod(K, chunk_size)
      fold = lambda i: jax.random.fold_in(key, 0 if same_key else i)

      def body(carry, i):
        z, log_q = sample_and_log_q(fold(i), chunk_size)
        return bounds._lse_update(carry, log_joint(z) - log_q), None

      dtype = jax.eval_shape(lambda: sample_and_log_q(jax.random.key(0), 1))[1].dtype
      carry, _ = jax.lax.scan(body, bounds._lse_init(dtype), jnp.arange(n_full))
      if rem and not drop_remainder:
        z, log_q = sample_and_log_q(fold(n_full), rem)
        carry = bounds._lse_update(carry, log_joint(z) - log_q)
      m, s = carry
      n = n_full * chunk_size if by_full_chunks else K
      return m + jnp.log(s) - jnp.log(jnp.asarray(n, dtype))
    return iwae_estimate
  return factory


def _diag_proposal_variance(orig):
  def diag_gaussian_proposal(mean, std):
    from gdm_jax import models
    mean, std = jnp.asarray(mean), jnp.asarray(std)

    def sample_and_log_q(key, n):
      z = mean + std * jax.random.normal(key, (n,) + mean.shape, mean.dtype)
      return z, models.diag_gaussian_log_prob(z, mean, std ** 2)  # variance passed as std

    return sample_and_log_q
  return diag_gaussian_proposal


def _full_proposal_untransposed(orig):
  def full_gaussian_proposal(mean, cov):
    mean, cov = jnp.asarray(mean), jnp.asarray(cov)
    chol = jnp.linalg.cholesky(cov)
    d = mean.shape[-1]

    def sample_and_log_q(key, n):
      eps = jax.random.normal(key, (n, d), mean.dtype)
      z = mean + eps @ chol  # covariance L^T L, not L L^T
      log_q = (-0.5 * jnp.sum(eps * eps, -1) - jnp.sum(jnp.log(jnp.diagonal(chol)))
               - 0.5 * d * _LOG_2PI)
      return z, log_q

    return sample_and_log_q
  return full_gaussian_proposal


# ---------------------------------------------------------------------------------------------
# Q2: amortised inference.

def _elbo_plus_kl(orig):
  def closed_form_elbo(model, x, q_mean, q_std):
    from gdm_jax import amortized as am
    return (am.expected_log_likelihood(model, x, q_mean, q_std)
            + am.kl_diag_gaussians(q_mean, q_std, jnp.zeros_like(q_mean), jnp.ones_like(q_std)))
  return closed_form_elbo


def _elbo_trace_std(orig):
  def expected_log_likelihood(model, x, q_mean, q_std):
    r = x - (q_mean @ model.W.T + model.b)
    tr = jnp.sum(q_std * jnp.sum(model.W ** 2, 0), -1)  # s_q for s_q^2
    d = model.data_dim
    return (-d * jnp.log(model.noise_std) - 0.5 * d * _LOG_2PI
            - (jnp.sum(r * r, -1) + tr) / (2 * model.noise_std ** 2))
  return expected_log_likelihood


def _mean_field_no_sqrt(orig):
  def mean_field_optimum(model, x):
    mean, _ = model.posterior(x)
    prec_diag = 1.0 + jnp.sum(model.W ** 2, 0) / model.noise_std ** 2
    return mean, jnp.broadcast_to(1.0 / prec_diag, mean.shape)  # the variance as the std
  return mean_field_optimum


def _instance_two_steps(orig):
  return lambda model, x, num_steps=60: orig(model, x, 2)


def _amortised_two_steps(orig):
  return lambda key, model, x, encoder, num_steps=300: orig(key, model, x, encoder, 2)


def _kl_to_posterior_reversed(orig):
  def kl_to_posterior(model, x, q_mean, q_std):
    from gdm_jax import amortized as am
    pm, pc = model.posterior(x)
    return am.kl_gaussians(pm, pc, q_mean, jnp.diag(q_std ** 2))  # KL(p(z|x) || q)
  return kl_to_posterior


# ---------------------------------------------------------------------------------------------
# Q4: masked convolutions.

def _mask_b_excludes_centre(orig):
  return lambda kind, kernel_size=3: orig("A", kernel_size)


def _mask_rows_above_one(orig):
  def mask(kind, kernel_size=3):
    m = orig(kind, kernel_size).copy()
    c = (m.shape[0] + 1) // 2  # 1-based centre
    m[:max(c - 2, 0)] = 0.0   # only the row directly above (i = c - 1): kernel 3 is unchanged
    return m
  return mask


def _pixel_field_transposed(orig):
  def pixel_field(module, size, pixel, channels=1, num_draws=3, seed=0, layers=False):
    out = orig(module, size, pixel, channels, num_draws, seed, layers)
    flip = lambda f: tuple(sorted((j, i) for i, j in f))  # (col, row) for (row, col)
    return tuple(flip(f) for f in out) if layers else flip(out)
  return pixel_field


def _mask_a_row_below(orig):
  def mask(kind, kernel_size=3):
    m = orig(kind, kernel_size)
    if kind == "A" and m.shape[0] > 1:
      c = (m.shape[0] + 1) // 2  # 1-based centre
      m = m.copy()
      m[c, :c - 1] = 1.0  # row c + 1 (1-based), columns j < c: an off-by-one in the row test
    return m
  return mask


def _channel_mask_a_le(orig):
  # For groups > 1 the centre is rewritten by the group rule and the off-centre A and B masks
  # agree, so mask B's channel rule g <= h is the whole slip.
  def channel_mask(kind, kernel_size, in_features, out_features, groups=1):
    return orig("B" if groups > 1 else kind, kernel_size, in_features, out_features, groups)
  return channel_mask


class _GatedPixelCNNSeesCentre(nn.Module):
  """``masked_conv.GatedPixelCNN`` whose first horizontal layer sees the centre column."""
  num_layers: int = 4
  features: int = 4
  kernel_size: int = 3

  @nn.compact
  def __call__(self, x):
    k = self.kernel_size
    c = k // 2
    rows = np.arange(k)[:, None]
    vmask_first = np.broadcast_to((rows < c), (k, k)).astype(np.float32)
    vmask_rest = np.broadcast_to((rows <= c), (k, k)).astype(np.float32)
    cols = np.arange(k)[None, :]
    hmask_first = (cols <= c).astype(np.float32)  # the slip: < c
    hmask_rest = (cols <= c).astype(np.float32)
    f = self.features

    def conv(h, m, shape):
      mm = np.broadcast_to(m[:, :, None, None], shape + (h.shape[-1], 2 * f))
      return nn.Conv(2 * f, shape, padding="SAME", mask=jnp.asarray(mm, h.dtype))(h)

    def gate(a):
      return jnp.tanh(a[..., :f]) * jax.nn.sigmoid(a[..., f:])

    v, h = x, x
    for layer in range(self.num_layers):
      first = layer == 0
      v_pre = conv(v, vmask_first if first else vmask_rest, (k, k))
      h_pre = conv(h, hmask_first if first else hmask_rest, (1, k)) + nn.Conv(2 * f, (1, 1))(v_pre)
      v = gate(v_pre)
      h_new = nn.Dense(f)(gate(h_pre))
      h = h_new if first else h + h_new
    return nn.Conv(x.shape[-1], (1, 1))(jax.nn.relu(h))


def _gated_sees_centre(orig):
  return _GatedPixelCNNSeesCentre


def _violations_skip_diagonal(orig):
  def autoregressive_violations(dep):
    i, j = np.nonzero(np.triu(dep, k=1))  # the diagonal (a pixel on itself) not counted
    return list(zip(i.tolist(), j.tolist()))
  return autoregressive_violations


def _blind_spot_off_by_one(orig):
  def blind_spot(field, size, pixel):
    r, c = int(pixel[0]), int(pixel[1])
    preds = [(i, j) for i in range(1, size + 1) for j in range(1, size + 1)
             if (i - 1) * size + j <= (r - 1) * size + c]  # <= : the pixel precedes itself
    s = set(field)
    return tuple(p for p in preds if p not in s)
  return blind_spot


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _random_draws_only(module, x_shape, num_draws, key):
  def init(k):
    kp, kx = jax.random.split(k)
    x = jax.random.normal(kx, x_shape)
    return module.init(kp, x), x

  keys = jax.vmap(lambda n: jax.random.fold_in(key, n))(jnp.arange(num_draws))
  params, xs = jax.vmap(init)(keys)

  def nonzero(p, x):
    f = lambda inp: module.apply(p, inp.reshape(x_shape)).reshape(-1)
    return jax.jacfwd(f)(x.reshape(-1)) != 0

  return jnp.any(jax.vmap(nonzero)(params, xs), axis=0)


def _no_structural_draw(orig):
  def jacobian_dependencies(module, size, channels=1, num_draws=3, seed=0):
    return np.asarray(_random_draws_only(module, (1, size, size, channels), num_draws,
                                         jax.random.key(seed)))
  return jacobian_dependencies


# ---------------------------------------------------------------------------------------------
# Q5: discriminators.

def _density_log_d_plus_log_1md(orig):
  def density_from_discriminator(log_f0_x, d_x):
    d = jnp.asarray(d_x)
    return jnp.asarray(log_f0_x) + jnp.log(d) + jnp.log1p(-d)  # + log(1 - D) for - log(1 - D)
  return density_from_discriminator


def _objective_terms_sign(orig):
  return lambda logit_at_p1, logit_at_p0: (jax.nn.log_sigmoid(logit_at_p1),
                                           jax.nn.log_sigmoid(logit_at_p0))


def _pointwise_swapped(orig):
  return lambda d, f1, f0: f1 * jnp.log1p(-d) + f0 * jnp.log(d)


def _density_minus_logit(orig):
  return lambda log_f0_x, logit_x: jnp.asarray(log_f0_x) - jnp.asarray(logit_x)


def _ignores_n_used(orig):
  def train_discriminator(key, x1, x0, n_used=None, **kwargs):
    return orig(key, x1, x0, None, **kwargs)  # always every sample
  return train_discriminator


def _discriminator_ascent(orig):
  @functools.partial(jax.jit, static_argnames=("steps", "batch", "hidden"))
  def train_discriminator(key, x1, x0, n_used=None, steps=1500, batch=256, hidden=32,
                          learning_rate=1e-2):
    from gdm_jax import gan
    n = x1.shape[0] if n_used is None else n_used
    ki, kb = jax.random.split(key)
    net = gan.MLP((hidden, hidden, 1))
    params = net.init(ki, x1[:1])
    opt = optax.adam(learning_rate)

    def step(carry, k):
      params, state = carry
      ka, kb_ = jax.random.split(k)
      i1 = jax.random.randint(ka, (batch,), 0, n)
      i0 = jax.random.randint(kb_, (batch,), 0, n)
      loss, g = jax.value_and_grad(gan.bce_loss)(params, net.apply, x1[i1], x0[i0])
      upd, state = opt.update(jax.tree_util.tree_map(jnp.negative, g), state, params)  # ascent
      return (optax.apply_updates(params, upd), state), loss

    (params, _), losses = jax.lax.scan(step, (params, opt.init(params)),
                                       jax.random.split(kb, steps))
    return params, losses
  return train_discriminator


# ---------------------------------------------------------------------------------------------
# Q6: KL bounds.

def _conjugate_e_t(orig):
  return lambda t: jnp.exp(t)


def _r1_jensen(orig):
  return lambda t_p, t_q: jnp.mean(t_p) - jnp.exp(jnp.mean(jnp.asarray(t_q)) - 1.0)


def _r1_quadrature_under_p(orig):
  def r1_quadrature(t, log_p, log_q, grid):
    from gdm_jax import kl_bounds as kb
    w = kb.trapezoid_weights(grid)
    return jnp.sum(w * jnp.exp(log_p) * t) - jnp.sum(w * jnp.exp(log_p + t - 1.0))  # E_p, not E_q
  return r1_quadrature


def _r2_mean_not_log_mean_exp(orig):
  return lambda t_p, t_q: jnp.mean(t_p) - jnp.mean(t_q)


def _r2_quadrature_no_weights(orig):
  def r2_quadrature(t, log_p, log_q, grid):
    from gdm_jax import kl_bounds as kb
    w = kb.trapezoid_weights(grid)
    return jnp.sum(w * jnp.exp(log_p) * t) - logsumexp(log_q + t)  # a sum, not an integral
  return r2_quadrature


def _critic_minimises(orig):
  @functools.partial(jax.jit, static_argnames=("sample_p", "sample_q", "bound", "steps", "batch",
                                               "hidden"))
  def train_critic(key, sample_p, sample_q, bound="r2", steps=1500, batch=512, hidden=32,
                   learning_rate=5e-3):
    from gdm_jax import kl_bounds as kb
    objective = kb.r1 if bound == "r1" else kb.r2
    net = kb.MLP((hidden, hidden, 1))
    kinit, kloop = jax.random.split(key)
    params = net.init(kinit, sample_p(kinit, 1))
    opt = optax.adam(learning_rate)

    def step(carry, k):
      params, state = carry
      kp, kq = jax.random.split(k)
      xp, xq = sample_p(kp, batch), sample_q(kq, batch)
      val, g = jax.value_and_grad(
          lambda pr: objective(net.apply(pr, xp)[:, 0], net.apply(pr, xq)[:, 0]))(params)
      upd, state = opt.update(g, state, params)  # descends the bound
      return (optax.apply_updates(params, upd), state), val

    (params, _), curve = jax.lax.scan(step, (params, opt.init(params)),
                                      jax.random.split(kloop, steps))
    return params, curve
  return train_critic


def _critic_ignores_bound(orig):
  def train_critic(key, sample_p, sample_q, bound="r2", **kwargs):
    return orig(key, sample_p, sample_q, "r2", **kwargs)
  return train_critic


# ---------------------------------------------------------------------------------------------
# Q7: divergences.

def _trapezoid_riemann(orig):
  def trapezoid_weights(grid):
    h = jnp.diff(grid)
    return orig(grid).at[0].add(0.5 * h[0]).at[-1].add(0.5 * h[-1])  # end weights h, not h/2
  return trapezoid_weights


def _kl_quadrature_swapped(orig):
  return lambda log_p, log_q, grid: orig(log_q, log_p, grid)


def _log_mixture_no_half(orig):
  return lambda log_p, log_q: jnp.logaddexp(log_p, log_q)


def _jsd_terms_wrong_numerator(orig):
  def jsd_monte_carlo_terms(log_p_at_p, log_q_at_p, log_p_at_q, log_q_at_q):
    from gdm_jax import divergences as dv
    tp = log_p_at_p - dv.log_mixture(log_p_at_p, log_q_at_p)
    tq = log_p_at_q - dv.log_mixture(log_p_at_q, log_q_at_q)  # log p where log q belongs
    return tp, tq
  return jsd_monte_carlo_terms


def _wasserstein_unsorted(orig):
  return lambda x, y: jnp.mean(jnp.abs(jnp.asarray(x) - jnp.asarray(y)))


# ---------------------------------------------------------------------------------------------
# The numerical optimiser and the statistics.

def _golden_argmin(orig):
  def golden_section_max(f, lo, hi, num_iters=120):
    x, neg = orig(lambda u: -f(u), lo, hi, num_iters)  # the comparison flipped: argmin, min
    return x, -neg
  return golden_section_max


def _golden_one_iteration(orig):
  return lambda f, lo, hi, num_iters=120: orig(f, lo, hi, 1)


def _z_one_sided(orig):
  return lambda rate, two_sided=True: orig(rate, False)


def _se_is_std(orig):
  def mean_and_se(x, axis=0):
    from gdm_jax import stats
    m = orig(x, axis)
    return stats.MeanSE(m.mean, m.se * math.sqrt(m.n), m.n)  # the std, not std / sqrt(n)
  return mean_and_se


def _bonferroni_no_split(orig):
  return lambda family_rate, n_tests: orig(family_rate, 1)


def _snr_rms_over_variance(orig):
  def snr_rms(g, blocks=20):
    g = np.asarray(g, np.float64)
    g = g[:, None] if g.ndim == 1 else g

    def snr2(a):  # |mean| / variance, the std's square root forgotten
      return float(np.mean(a.mean(0) ** 2 / a.var(0, ddof=1) ** 2 - 1.0 / a.shape[0]))

    a2 = snr2(g)
    loo = np.array([snr2(np.delete(g, b, 0))
                    for b in np.array_split(np.arange(g.shape[0]), blocks)])
    se2 = math.sqrt((blocks - 1) / blocks * np.sum((loo - loo.mean()) ** 2))
    snr = math.sqrt(max(a2, 0.0))
    return snr, (se2 / (2 * snr) if snr > 0 else math.inf)
  return snr_rms


def _loglog_semilog(orig):
  def fit_loglog(ks, y, se, level=0.95, resolved_z=3.0, inflate=True):
    k = np.asarray(ks, float)
    # log y on K (scaled), not log K
    sl = orig(np.exp(k / k.max()), y, se, level, resolved_z, inflate)
    return None if sl is None else sl._replace(k_min=int(k.min()), k_max=int(k.max()))
  return fit_loglog


_COV, _MODELS, _BOUNDS, _AM = ("gdm_jax.change_of_variables", "gdm_jax.models", "gdm_jax.bounds",
                               "gdm_jax.amortized")
_LG, _NL = "gdm_jax.models.LinearGaussian", "gdm_jax.models.NonlinearModel"
_MC, _GAN, _KB, _DV = ("gdm_jax.masked_conv", "gdm_jax.gan", "gdm_jax.kl_bounds",
                       "gdm_jax.divergences")
_OPT, _STATS, _SWEEPS = "gdm_jax.optimize", "gdm_jax.stats", "gdm_jax.sweeps"
#: The claims that compare a Monte Carlo mean with z x SE (those the statistics feed).
_STOCHASTIC = ("q1.affine_moments,q3.*,q5.objective_is_jsd,q5.trained_discriminator,"
               "q5.discriminator_error_shrinks,grad.*,design.*")


MUTATIONS: tuple[Mutation, ...] = (
    Mutation("drop_logdet", "Eq. (1) without the log|det J| term",
             (("gdm_jax.change_of_variables", "log_abs_det_jacobian", _drop_logdet),), "q1.*"),
    Mutation("written_base_normaliser", "Answer 1: N(0, I_K) normalised by (2 pi)^(-1/2)",
             (("gdm_jax.change_of_variables", "standard_normal_log_prob", _written_base),),
             "q1.*"),
    Mutation("written_det_normaliser", "Answer 1: |diag(sigma^2)| / |S S^T| for |det J|",
             (("gdm_jax.change_of_variables", "log_abs_det_jacobian", _squared_det),), "q1.*"),
    Mutation("log_k_off_by_one", "L_K with log(K + 1) in place of log K",
             (("gdm_jax.bounds", "iwae_bound", _log_k_plus_one),), "q3.*"),
    Mutation("mean_of_log_weights", "L_K as the mean of log-weights, not the log of the mean",
             (("gdm_jax.bounds", "iwae_bound", _mean_log_w),
              ("gdm_jax.bounds", "prefix_bounds", _prefix_mean_log_w)), "q3.*"),
    Mutation("chunk_forgets_rescale", "running log-sum-exp without rescaling the partial sum",
             (("gdm_jax.bounds", "iwae_estimate", _chunk_no_rescale),), "q3.*"),
    Mutation("elbo_drops_trace", "closed-form ELBO without the tr(W S W^T) term",
             (("gdm_jax.amortized", "expected_log_likelihood", _elbo_no_trace),), "q2.*,q3.elbo*"),
    Mutation("b_theta_kl_to_prior", "Answer 2.1: KL to the prior where the posterior belongs",
             (("gdm_jax.amortized", "kl_to_posterior", _kl_to_prior),), "q2.*"),
    Mutation("marginal_drops_noise_det", "log p(x) without the D log s^2 determinant term",
             (("gdm_jax.models.LinearGaussian", "log_marginal", _marginal_drops_noise_det),),
             "q2.*,q3.*"),
    Mutation("mask_a_leaks_centre", "mask A lets the centre pixel through",
             (("gdm_jax.masked_conv", "mask", _leaky_mask_a),), "q4.*"),
    Mutation("kernel_flipping", "masks applied to a flipped kernel (true convolution)",
             (("gdm_jax.masked_conv", "channel_mask", _flipped_kernel),), "q4.*"),
    Mutation("d_star_swapped", "D* = f0 / (f0 + f1)",
             (("gdm_jax.gan", "optimal_discriminator", _d_star_swapped),), "q5.*"),
    Mutation("jsd_without_half", "JSD = KL(p||m) + KL(q||m), without the 1/2",
             (("gdm_jax.divergences", "jsd_monte_carlo", _jsd_no_half_mc),
              ("gdm_jax.divergences", "jsd_quadrature", _jsd_no_half_quad)), "q5.*,q7.*"),
    Mutation("dv_wrong_sign", "R2 = E_p T + log E_q e^T",
             (("gdm_jax.kl_bounds", "r2", _dv_wrong_sign),), "q6.*"),
    Mutation("nwj_without_minus_one", "R1 = E_p T - E_q e^T (the -1 dropped)",
             (("gdm_jax.kl_bounds", "r1", _nwj_no_minus_one),
              ("gdm_jax.kl_bounds", "r1_quadrature", _nwj_quad_no_minus_one)), "q6.*"),
    # Q1: change of variables.
    Mutation("gaussian_logdet_not_halved", "closed-form log N(x; m, Sigma) with log|Sigma| for "
             "log|Sigma|/2", ((_COV, "_gaussian_log_prob", _gaussian_kernel(halve=False)),),
             "q1.*"),
    Mutation("gaussian_cholesky_transposed", "closed-form log N(x; m, Sigma) solving L^T y = x - m "
             "(precision (L^T L)^-1)",
             ((_COV, "_gaussian_log_prob", _gaussian_kernel(upper=True)),), "q1.*"),
    Mutation("affine_transposed", "affine(mu, S) maps z0 to mu + S^T z0",
             ((_COV, "affine", _affine_transposed),), "q1.*"),
    Mutation("affine_variance", "affine(mu, sigma) maps z0 to mu + sigma^2 z0",
             ((_COV, "affine", _affine_variance),), "q1.*"),
    Mutation("pushforward_plus_logdet", "Eq. (1) with + log|det J| for - log|det J|",
             ((_COV, "pushforward_log_prob", _pushforward_plus_logdet),), "q1.*"),
    Mutation("standard_normal_no_sqrt", "N(0, I_K) normalised by (2 pi)^(-K), the square root "
             "forgotten", ((_COV, "standard_normal_log_prob", _std_normal_no_sqrt),), "q1.*,q3.*"),
    Mutation("logdet_without_abs", "log det J without the absolute value (NaN where det J < 0)",
             ((_COV, "log_abs_det_jacobian", _logdet_without_abs),), "q1.*"),
    Mutation("bisect_comparison_flipped", "bisection with f(m) > y for f(m) < y",
             ((_COV, "bisect_inverse", _bisect_flipped),), "q1.nonlinear*"),
    # Q2/Q3: models.
    Mutation("gram_drops_r0_r0", "Gram log-likelihood without the ||x - b||^2 term",
             ((_LG, "log_likelihood_gram", _gram(drop_r0=True)),), "q3.*"),
    Mutation("gram_cross_term_once", "Gram log-likelihood with z^T W^T r0 for 2 z^T W^T r0",
             ((_LG, "log_likelihood_gram", _gram(cross=1.0)),), "q3.*"),
    Mutation("sample_noise_variance", "LinearGaussian.sample adds s^2 eps for s eps",
             ((_LG, "sample", _sample(noise_power=2)),), "q2.*,q3.*"),
    Mutation("sample_forgets_b", "LinearGaussian.sample draws W z + s eps, without b",
             ((_LG, "sample", _sample(with_b=False)),), "q2.*,q3.*"),
    Mutation("posterior_cov_not_inverted", "p(z|x) with covariance P for P^-1",
             ((_LG, "posterior", _posterior_cov_not_inverted),), "q2.*,q3.*"),
    Mutation("posterior_mean_no_s2", "posterior mean P^-1 W^T (x - b) without the 1/s^2",
             ((_LG, "posterior", _posterior_mean_no_s2),), "q2.*,q3.*"),
    Mutation("kl_diag_log_swapped", "diagonal KL with log(s1/s2) for log(s2/s1)",
             _at("kl_diag_gaussians", _kl_diag_log_swapped, _MODELS, _AM), "q2.*,q3.elbo*"),
    Mutation("kl_trace_transposed", "full KL with tr(C1^-1 C2) for tr(C2^-1 C1)",
             _at("kl_gaussians", _kl_trace_transposed, _MODELS, _AM), "q2.*"),
    Mutation("second_moment_half_logdet", "log E_q[w^2]/E_q[w]^2 with -log|C_p|/2 for -log|C_p|",
             ((_MODELS, "log_second_moment_ratio", _second_moment_half_logdet),), "q3.*"),
    Mutation("diag_log_prob_half_log_std", "diagonal Gaussian log-density with -log(s)/2 for "
             "-log s", _at("diag_gaussian_log_prob", _diag_log_prob_half_log_std, _MODELS,
                           _BOUNDS, "gdm_jax.vae"), "q3.*"),
    Mutation("likelihood_without_b", "log p(x|z) = log N(x; W z, s^2 I), b forgotten",
             ((_LG, "log_likelihood", _likelihood_without_b),), "q2.*,q3.*"),
    Mutation("nonlinear_marginal_no_h", "NonlinearModel.log_marginal without the node spacing h",
             ((_NL, "log_marginal", _nonlinear_marginal_no_h),), "q2.*,q3.*"),
    # Q3: bounds.
    Mutation("dreg_weights_not_squared", "DReG surrogate with w_tilde for w_tilde^2",
             ((_BOUNDS, "iwae_surrogates", _surrogates(square=False)),), "grad.*"),
    Mutation("dreg_no_stop_gradient", "DReG surrogate differentiating through w_tilde",
             ((_BOUNDS, "iwae_surrogates", _surrogates(stop=False)),), "grad.*"),
    Mutation("stl_no_stop_gradient", "STL surrogate with log q(z; phi) not stopped in phi "
             "(STL = IWAE)", ((_BOUNDS, "iwae_surrogates", _surrogates(stl="no_stop")),),
             "grad.*"),
    Mutation("stl_stops_z", "STL surrogate with the sample z stopped too (no path term)",
             ((_BOUNDS, "iwae_surrogates", _surrogates(stl="stop_z")),), "grad.*"),
    Mutation("prefix_divides_by_k_max", "prefix bounds L_k with log K for log k",
             ((_BOUNDS, "prefix_bounds", _prefix_divides_by_k),), "q3.*"),
    Mutation("chunks_share_one_key", "chunked L_K: every chunk drawn from fold_in(key, 0)",
             ((_BOUNDS, "iwae_estimate", _chunked(same_key=True)),), "q3.*"),
    Mutation("chunk_remainder_dropped", "chunked L_K: the K mod chunk_size remainder not drawn",
             ((_BOUNDS, "iwae_estimate", _chunked(drop_remainder=True)),), "q3.*"),
    Mutation("chunk_normalised_by_full_chunks", "chunked L_K: - log(n_full chunk_size) for "
             "- log K", ((_BOUNDS, "iwae_estimate", _chunked(by_full_chunks=True)),), "q3.*"),
    Mutation("diag_proposal_log_q_variance", "diagonal proposal's log q with the variance as "
             "the std", ((_BOUNDS, "diag_gaussian_proposal", _diag_proposal_variance),), "q3.*"),
    Mutation("full_proposal_chol_untransposed", "full proposal z = m + eps L (covariance L^T L)",
             ((_BOUNDS, "full_gaussian_proposal", _full_proposal_untransposed),), "q3.*"),
    # Q2: amortised inference.
    Mutation("elbo_plus_kl", "closed-form ELBO = E_q log p(x|z) + KL(q || p(z))",
             ((_AM, "closed_form_elbo", _elbo_plus_kl),), "q2.*,q3.elbo*"),
    Mutation("elbo_trace_std", "E_q log p(x|z) with sum s_q ||W_j||^2 for sum s_q^2 ||W_j||^2",
             ((_AM, "expected_log_likelihood", _elbo_trace_std),), "q2.*,q3.elbo*"),
    Mutation("mean_field_std_no_sqrt", "mean-field optimum std 1/P_jj for 1/sqrt(P_jj)",
             ((_AM, "mean_field_optimum", _mean_field_no_sqrt),), "q2.*"),
    Mutation("instance_fit_two_steps", "per-instance L-BFGS stopped after 2 steps",
             ((_AM, "fit_per_instance", _instance_two_steps),), "q2.*"),
    Mutation("amortised_fit_two_steps", "amortised L-BFGS stopped after 2 steps",
             ((_AM, "fit_amortised", _amortised_two_steps),), "q2.*"),
    Mutation("kl_to_posterior_reversed", "KL(p(z|x) || q) for KL(q || p(z|x))",
             ((_AM, "kl_to_posterior", _kl_to_posterior_reversed),), "q2.*"),
    # Q4: masked convolutions.
    Mutation("mask_b_excludes_centre", "mask B without the centre pixel (B = A)",
             ((_MC, "mask", _mask_b_excludes_centre),), "q4.*"),
    Mutation("mask_a_row_below", "mask A also opens the row below, left of the centre",
             ((_MC, "mask", _mask_a_row_below),), "q4.*"),
    Mutation("mask_rows_above_one", "masks open only the row directly above the centre "
             "(right for kernel 3, wrong for 5)", ((_MC, "mask", _mask_rows_above_one),), "q4.*"),
    Mutation("pixel_field_transposed", "a pixel's field read as (col, row)",
             ((_MC, "pixel_field", _pixel_field_transposed),), "q4.blind_spot_law"),
    Mutation("channel_mask_a_le", "colour groups: A lets g <= h through at the centre",
             ((_MC, "channel_mask", _channel_mask_a_le),), "q4.*"),
    Mutation("gated_horizontal_sees_centre", "gated PixelCNN: first horizontal layer sees the "
             "centre", ((_MC, "GatedPixelCNN", _gated_sees_centre),), "q4.*"),
    Mutation("violations_skip_diagonal", "autoregressive check with triu(k=1): self-dependence "
             "not counted", ((_MC, "autoregressive_violations", _violations_skip_diagonal),),
             "q4.*"),
    Mutation("blind_spot_off_by_one", "raster predecessors with <=: a pixel precedes itself",
             ((_MC, "blind_spot", _blind_spot_off_by_one),), "q4.*"),
    Mutation("jacobian_no_structural_draw", "dependencies from random draws only (no positive "
             "structural draw)", ((_MC, "jacobian_dependencies", _no_structural_draw),), "q4.*"),
    # Q5: discriminators.
    Mutation("density_log_d_plus_log_1md", "log f1 = log f0 + log D + log(1 - D)",
             ((_GAN, "density_from_discriminator", _density_log_d_plus_log_1md),), "q5.*"),
    Mutation("objective_terms_sign", "the P0 term log sigma(l) for log(1 - sigma(l))",
             ((_GAN, "gan_objective_terms", _objective_terms_sign),), "q5.*"),
    Mutation("pointwise_objective_swapped", "pointwise objective f1 log(1 - D) + f0 log D",
             ((_GAN, "pointwise_objective", _pointwise_swapped),), "q5.*"),
    Mutation("density_minus_logit", "log f1 = log f0 - logit D",
             ((_GAN, "density_from_logit", _density_minus_logit),), "q5.*"),
    Mutation("discriminator_ignores_n_used", "train_discriminator always trains on every sample",
             ((_GAN, "train_discriminator", _ignores_n_used),), "q5.*"),
    Mutation("discriminator_gradient_ascent", "train_discriminator ascends the BCE loss",
             ((_GAN, "train_discriminator", _discriminator_ascent),), "q5.*"),
    # Q6: KL bounds.
    Mutation("conjugate_e_t", "(u log u)* = e^t for e^(t - 1)",
             ((_KB, "conjugate_u_log_u", _conjugate_e_t),), "q6.*"),
    Mutation("r1_jensen", "R1 = E_p T - exp(E_q T - 1) (E and exp swapped)",
             ((_KB, "r1", _r1_jensen),), "q6.*"),
    Mutation("r1_quadrature_under_p", "quadrature R1 with E_p e^(T-1) for E_q e^(T-1)",
             ((_KB, "r1_quadrature", _r1_quadrature_under_p),), "q6.*"),
    Mutation("r2_mean_not_log_mean_exp", "R2 = E_p T - E_q T (log E e^T replaced by E T)",
             ((_KB, "r2", _r2_mean_not_log_mean_exp),), "q6.*"),
    Mutation("r2_quadrature_no_weights", "quadrature R2: log sum e^(log q + T), no trapezoid "
             "weights", ((_KB, "r2_quadrature", _r2_quadrature_no_weights),), "q6.*"),
    Mutation("critic_minimises", "train_critic descends the bound", ((_KB, "train_critic",
                                                                        _critic_minimises),),
             "q6.*"),
    Mutation("critic_ignores_bound", "train_critic trains on R2 whatever `bound` says",
             ((_KB, "train_critic", _critic_ignores_bound),), "q6.*"),
    # Q7: divergences.
    Mutation("trapezoid_riemann", "trapezoid end weights h for h/2 (a Riemann sum)",
             _at("trapezoid_weights", _trapezoid_riemann, _DV, _KB, "gdm_jax.claims.q6"),
             "q5.*,q6.*,q7.*"),
    Mutation("kl_quadrature_swapped", "kl_quadrature computes KL(q || p)",
             ((_DV, "kl_quadrature", _kl_quadrature_swapped),), "q6.*,q7.*"),
    Mutation("log_mixture_no_half", "log m = log(p + q), the 1/2 (- log 2) forgotten",
             ((_DV, "log_mixture", _log_mixture_no_half),), "q5.*,q7.*"),
    Mutation("jsd_terms_wrong_numerator", "Monte Carlo JSD's q term log p(y) - log m(y)",
             ((_DV, "jsd_monte_carlo_terms", _jsd_terms_wrong_numerator),), "q5.*,q7.*"),
    Mutation("wasserstein_unsorted", "W1 = mean |x - y| without sorting",
             ((_DV, "wasserstein1_1d", _wasserstein_unsorted),), "q7.*"),
    # The optimiser and the statistics.
    Mutation("golden_section_argmin", "golden section with the comparison flipped (finds a min)",
             _at("golden_section_max", _golden_argmin, _OPT, "gdm_jax.claims.q2",
                 "gdm_jax.claims.q5", "gdm_jax.claims.q6"), "q2.b_theta,q5.*,q6.*"),
    Mutation("golden_section_one_iteration", "golden section stopped after one iteration",
             _at("golden_section_max", _golden_one_iteration, _OPT, "gdm_jax.claims.q2",
                 "gdm_jax.claims.q5", "gdm_jax.claims.q6"), "q2.b_theta,q5.*,q6.*"),
    Mutation("z_one_sided", "z_for_rate one-sided where a two-sided z is asked for",
             ((_STATS, "z_for_rate", _z_one_sided),), _STOCHASTIC),
    Mutation("se_is_std", "standard error without the 1/sqrt(n) (the std)",
             ((_STATS, "mean_and_se", _se_is_std),), _STOCHASTIC),
    Mutation("bonferroni_no_split", "the family rate used for every claim, not split",
             ((_STATS, "bonferroni", _bonferroni_no_split),), _STOCHASTIC),
    Mutation("loglog_slope_semilog", "the sweep's slope fits log y on K, not on log K",
             ((_SWEEPS, "fit_loglog", _loglog_semilog),), "q3.variance_law"),
    Mutation("snr_rms_over_variance", "gradient SNR as |mean| / variance, not / std",
             ((_SWEEPS, "snr_rms", _snr_rms_over_variance),), "grad.snr_slopes"),
)


# ---------------------------------------------------------------------------------------------
# An independent referee's plausible mistakes (each passed every claim of its question before
# the claims were redesigned).

def _w1_abs_outside(orig):
  return lambda x, y: jnp.abs(jnp.mean(jnp.sort(x) - jnp.sort(y)))


def _jsd_quad_one_side(orig):
  from gdm_jax import divergences as dv
  def jsd_quadrature(log_p, log_q, grid):
    log_m = dv.log_mixture(log_p, log_q)
    return jnp.sum(dv.trapezoid_weights(grid) * dv._xlogy_exp(log_p, log_m))
  return jsd_quadrature


def _jsd_mc_pooled(orig):
  from gdm_jax import divergences as dv
  def jsd_monte_carlo(a, b, c, d, with_se=False):
    tp, tq = dv.jsd_monte_carlo_terms(a, b, c, d)
    est = jnp.mean(jnp.concatenate([tp, tq]))
    if not with_se:
      return est
    return est, 0.5 * jnp.sqrt(jnp.var(tp, ddof=1) / tp.size + jnp.var(tq, ddof=1) / tq.size)
  return jsd_monte_carlo


def _jsd_se_no_half(orig):
  def jsd_monte_carlo(a, b, c, d, with_se=False):
    out = orig(a, b, c, d, with_se=with_se)
    return (out[0], 2.0 * out[1]) if with_se else out
  return jsd_monte_carlo


def _r1_lse_no_logn(orig):
  def r1(t_p, t_q):
    t1 = jnp.asarray(t_q) - 1.0
    log_max = float(np.log(np.finfo(t1.dtype).max))
    safe = jnp.max(t1) + jnp.log(jnp.asarray(t1.size, t1.dtype)) < log_max - 1.0
    plain = jnp.mean(jnp.exp(jnp.where(safe, t1, 0.0)))
    return jnp.mean(t_p) - jnp.where(safe, plain, jnp.exp(logsumexp(t1)))  # - log M dropped
  return r1


def _r2_quad_linear(orig):
  from gdm_jax import divergences as dv
  def r2_quadrature(t, log_p, log_q, grid):
    w = dv.trapezoid_weights(grid)
    return jnp.sum(w * jnp.exp(log_p) * t) - jnp.log(jnp.sum(w * jnp.exp(log_q + t)))
  return r2_quadrature


def _dstar_linear(orig):
  def optimal_discriminator(log_f1_x, log_f0_x):
    f1, f0 = jnp.exp(jnp.asarray(log_f1_x)), jnp.exp(jnp.asarray(log_f0_x))
    return f1 / (f0 + f1)
  return optimal_discriminator


def _density_linear(orig):
  def density_from_discriminator(log_f0_x, d_x):
    d = jnp.asarray(d_x)
    return jnp.log(jnp.exp(jnp.asarray(log_f0_x)) * d / (1 - d))
  return density_from_discriminator


def _prefix_linear(orig):
  def prefix_bounds(log_w):
    log_w = jnp.asarray(log_w)
    k = jnp.arange(1, log_w.shape[-1] + 1, dtype=log_w.dtype)
    return jnp.log(jnp.cumsum(jnp.exp(log_w), -1) / k)
  return prefix_bounds


def _lse_no_inf_guard(orig):
  def _lse_update(carry, log_w):
    m, s = carry
    m_new = jnp.maximum(m, jnp.max(log_w))
    return m_new, s * jnp.exp(m - m_new) + jnp.sum(jnp.exp(log_w - m_new))
  return _lse_update


REFEREE = (
    Mutation("w1_abs_outside", "W1 = |mean(sorted x - sorted y)| (abs outside the mean)",
             ((_DV, "wasserstein1_1d", _w1_abs_outside),), "q7.*"),
    Mutation("jsd_quadrature_one_side", "JSD by quadrature = KL(p || m) alone, no 1/2",
             ((_DV, "jsd_quadrature", _jsd_quad_one_side),), "q5.*,q7.*"),
    Mutation("jsd_mc_pooled", "Monte Carlo JSD as the pooled mean of both samples' terms",
             ((_DV, "jsd_monte_carlo", _jsd_mc_pooled),), "q5.*,q7.*"),
    Mutation("jsd_se_no_half", "the Monte Carlo JSD's standard error without the 1/2",
             ((_DV, "jsd_monte_carlo", _jsd_se_no_half),), "q7.*"),
    Mutation("r1_lse_branch_no_logn", "r1's log-space branch without - log M",
             ((_KB, "r1", _r1_lse_no_logn),), "q6.*"),
    Mutation("r2_quadrature_linear", "R2 by quadrature with log(sum w e^(log q + T)) in linear "
             "space", ((_KB, "r2_quadrature", _r2_quad_linear),), "q6.*"),
    Mutation("d_star_linear_space", "D* = f1 / (f0 + f1) from exp(log f)",
             ((_GAN, "optimal_discriminator", _dstar_linear),), "q5.*"),
    Mutation("density_linear_space", "log f1 = log(f0 D / (1 - D)) in linear space",
             ((_GAN, "density_from_discriminator", _density_linear),), "q5.*"),
    Mutation("prefix_linear_space", "prefix bounds log(cumsum(exp(log w)) / k)",
             ((_BOUNDS, "prefix_bounds", _prefix_linear),), "q3.*"),
    Mutation("lse_no_inf_guard", "running log-sum-exp without the guard for an all -inf chunk",
             ((_BOUNDS, "_lse_update", _lse_no_inf_guard),), "q3.*"),
)
MUTATIONS = MUTATIONS + REFEREE


# ---------------------------------------------------------------------------------------------
# Mutual-information bounds (gdm_jax.mi).

_MI = "gdm_jax.mi"


def _mi_offdiag(s):
  b = s.shape[0]
  rows, cols = np.nonzero(~np.eye(b, dtype=bool))
  return jnp.diagonal(s), s[rows, cols]


def _infonce_no_log_b(orig):
  def infonce(scores):
    s = jnp.asarray(scores)
    return jnp.mean(jnp.diagonal(s) - logsumexp(s, axis=1))  # + log B forgotten
  return infonce


def _infonce_without_positive(orig):
  def infonce(scores):
    s = jnp.asarray(scores)
    b = s.shape[0]
    off = jnp.where(jnp.eye(b, dtype=bool), -jnp.inf, s)
    return jnp.mean(jnp.diagonal(s) - logsumexp(off, axis=1)) + jnp.log(jnp.asarray(b, s.dtype))
  return infonce


def _nwj_no_e_minus_one(orig):
  def nwj(scores):
    diag, off = _mi_offdiag(jnp.asarray(scores))
    return jnp.mean(diag) - jnp.mean(jnp.exp(off))  # e^f for e^(f - 1)
  return nwj


def _dv_mean(orig):
  def dv(scores):
    diag, off = _mi_offdiag(jnp.asarray(scores))
    return jnp.mean(diag) - jnp.mean(off)  # log E e^f replaced by E f
  return dv


def _gaussian_mi_one_minus_rho(orig):
  return lambda rho, d: -0.5 * d * jnp.log1p(-jnp.abs(jnp.asarray(rho)))


def _rho_for_mi_no_sqrt(orig):
  return lambda value, d: -jnp.expm1(-2.0 * jnp.asarray(value) / d)


def _optimal_scores_no_marginal(orig):
  def optimal_scores(x, y, rho):
    y = jnp.asarray(y)
    d = y.shape[-1]
    log_py = -0.5 * jnp.sum(y * y, -1) - 0.5 * d * _LOG_2PI
    return orig(x, y, rho) + log_py[None, :]  # log p(y|x), the - log p(y) forgotten
  return optimal_scores


def _sample_no_sqrt(orig):
  def correlated_gaussian_sample(key, rho, d, n, dtype=None):
    rho = jnp.asarray(rho, dtype)
    kx, ke = jax.random.split(key)
    x = jax.random.normal(kx, (n, d), rho.dtype)
    return x, rho * x + (1.0 - rho * rho) * jax.random.normal(ke, (n, d), rho.dtype)
  return correlated_gaussian_sample


def _nwj_variance_e_i(orig):
  def nwj_variance(rho, d, batch):
    r2 = jnp.asarray(rho) ** 2
    marg = jnp.exp(-0.5 * d * jnp.log1p(-r2)) + jnp.exp(-d * jnp.log1p(-r2 * r2)) - 2.0
    return d * r2 / batch + marg / (batch * (batch - 1))  # e^I where e^(2I) belongs
  return nwj_variance


def _critic_minimises(orig):
  def train_critic(key, rho, d, estimator="infonce", steps=1000, batch=64, hidden=64, embed=32,
                   learning_rate=1e-3):
    return orig(key, rho, d, estimator, steps, batch, hidden, embed, -learning_rate)  # descends
  return train_critic


MI_MUTATIONS = (
    Mutation("mi_infonce_no_log_b", "InfoNCE without the + log B",
             ((_MI, "infonce", _infonce_no_log_b),), "mi.*"),
    Mutation("mi_infonce_without_positive", "InfoNCE's denominator without the positive pair",
             ((_MI, "infonce", _infonce_without_positive),), "mi.*"),
    Mutation("mi_nwj_no_e_minus_one", "NWJ with E e^f for e^-1 E e^f",
             ((_MI, "nwj", _nwj_no_e_minus_one),), "mi.*"),
    Mutation("mi_dv_mean_not_log_mean_exp", "DV with the mean of f for the log-mean-exp",
             ((_MI, "dv", _dv_mean),), "mi.*"),
    Mutation("mi_gaussian_mi_one_minus_rho", "the benchmark's I with log(1 - |rho|) for "
             "log(1 - rho^2)", ((_MI, "gaussian_mi", _gaussian_mi_one_minus_rho),), "mi.*"),
    Mutation("mi_rho_for_mi_no_sqrt", "rho_for_mi returns rho^2 (the square root forgotten)",
             ((_MI, "rho_for_mi", _rho_for_mi_no_sqrt),), "mi.*"),
    Mutation("mi_optimal_scores_no_marginal", "the optimal critic log p(y|x) without - log p(y)",
             ((_MI, "optimal_scores", _optimal_scores_no_marginal),), "mi.*"),
    Mutation("mi_sample_no_sqrt", "the benchmark's y = rho x + (1 - rho^2) eps (no square root)",
             ((_MI, "correlated_gaussian_sample", _sample_no_sqrt),), "mi.*"),
    Mutation("mi_nwj_variance_e_i", "NWJ's variance with e^I for e^(2I) = (1 - rho^2)^-d",
             ((_MI, "nwj_variance", _nwj_variance_e_i),), "mi.*"),
    Mutation("mi_critic_minimises", "train_critic descends the bound (Adam with -learning_rate)",
             ((_MI, "train_critic", _critic_minimises),), "mi.*"),
)
MUTATIONS = MUTATIONS + MI_MUTATIONS


# ---------------------------------------------------------------------------------------------
# vae.py: the Bernoulli VAE of the digits experiment. q3.vae_log_joint catches the first two,
# q2.vae_log_weights_exact the fourth; no claim reaches the other two (tests/test_vae.py catches
# them against quadrature and a LinearGaussian's closed forms, and so do their probes, but no
# verdict does): their scopes name one nearby claim, so that `gdm-jax mutate` stays cheap.

_VAE = "gdm_jax.vae"


def _bernoulli_x_flipped(orig):
  return lambda x, logits: orig(1 - jnp.asarray(x), logits)  # sigma(l) read as p(x = 0)


def _vae_mod():
  return importlib.import_module(_VAE)


def _log_joint_no_prior(orig):
  def log_joint(vae, params, x, z):
    mod = _vae_mod()
    return mod.bernoulli_log_prob(x, vae.apply(params, z, method=mod.BernoulliVAE.decode))
  return log_joint


def _iwae_objective_variance(orig):
  def iwae_objective(key, vae, params, x, K, chunk_size=None):
    from gdm_jax import bounds
    mod = _vae_mod()

    def proposal(xi):
      mean, std = vae.apply(params, xi, method=mod.BernoulliVAE.encode)
      return bounds.diag_gaussian_proposal(mean, std * std)  # the variance passed as the std
    return bounds.iwae_estimate_batch(key, lambda xi, z: mod.log_joint(vae, params, xi, z),
                                      proposal, jnp.asarray(x), K, chunk_size)
  return iwae_objective


def _log_weights_no_log_q(orig):
  def diag_gaussian_log_weights(key, log_joint_fn, x, mean, std, n):
    from gdm_jax import bounds
    keys = jax.random.split(key, jnp.shape(mean)[0])

    def one(k, xi, m, s):
      z, _ = bounds.diag_gaussian_proposal(m, s)(k, n)
      return log_joint_fn(xi, z)  # log p(x, z) without - log q(z)
    return jax.vmap(one)(keys, jnp.asarray(x), jnp.asarray(mean), jnp.asarray(std))
  return diag_gaussian_log_weights


def _local_fit_descends(orig):
  def fit_local_gaussians(key, log_joint_fn, x, init_mean, init_std, num_steps, num_samples=16,
                          learning_rate=1e-2):
    from gdm_jax import bounds
    mod = _vae_mod()
    init = (jnp.asarray(init_mean), jnp.log(jnp.asarray(init_std)))
    if num_steps == 0:
      return init[0], jnp.exp(init[1])
    opt = optax.adam(optax.cosine_decay_schedule(learning_rate, num_steps))

    def loss(p, k):  # + ELBO: Adam minimises it
      return jnp.sum(bounds.elbo(mod.diag_gaussian_log_weights(k, log_joint_fn, x, p[0],
                                                                jnp.exp(p[1]), num_samples)))

    def step(carry, k):
      p, state = carry
      upd, state = opt.update(jax.grad(loss)(p, k), state, p)
      return (optax.apply_updates(p, upd), state), None

    (p, _), _ = jax.lax.scan(step, (init, opt.init(init)), jax.random.split(key, num_steps))
    return p[0], jnp.exp(p[1])
  return fit_local_gaussians


VAE = (
    Mutation("bernoulli_x_flipped", "Bernoulli log-likelihood with x and 1 - x swapped",
             ((_VAE, "bernoulli_log_prob", _bernoulli_x_flipped),), "q3.vae_log_joint"),
    Mutation("vae_log_joint_no_prior", "the VAE's log p(x, z) without the prior log p(z)",
             ((_VAE, "log_joint", _log_joint_no_prior),), "q3.vae_log_joint"),
    Mutation("vae_proposal_variance_as_std", "the encoder's variance passed as its std",
             ((_VAE, "iwae_objective", _iwae_objective_variance),),
             "q3.nonlinear_evidence"),
    Mutation("log_weights_drop_log_q", "log-weights log p(x, z) without - log q(z)",
             ((_VAE, "diag_gaussian_log_weights", _log_weights_no_log_q),),
             "q2.vae_log_weights_exact"),
    Mutation("local_fit_descends", "per-point q* by Adam on +ELBO (minimised, not maximised)",
             ((_VAE, "fit_local_gaussians", _local_fit_descends),),
             "q2.amortisation_gap_positive"),
)
MUTATIONS = MUTATIONS + VAE

# ---------------------------------------------------------------------------------------------
# Referee (refmi): mistakes in gdm_jax.mi that the first mi.* claims let through.


def _nwj_variance_no_swap(orig):
  def nwj_variance(rho, d, batch):
    r2 = jnp.asarray(rho) ** 2
    marg = jnp.exp(-d * jnp.log1p(-r2)) - 1.0  # r_ij and r_ji taken as uncorrelated
    return d * r2 / batch + marg / (batch * (batch - 1))
  return nwj_variance


def _nwj_variance_joint_over_one_minus(orig):
  def nwj_variance(rho, d, batch):
    r2 = jnp.asarray(rho) ** 2
    marg = jnp.exp(-d * jnp.log1p(-r2)) + jnp.exp(-d * jnp.log1p(-r2 * r2)) - 2.0
    return d * r2 / (1.0 - r2) / batch + marg / (batch * (batch - 1))  # Var_p log r per coord.
  return nwj_variance


def _train_critic_always_infonce(orig):
  def train_critic(key, rho, d, estimator="infonce", steps=1000, batch=64, hidden=64, embed=32,
                   learning_rate=1e-3):
    # objectives = [lambda s: _estimator(name)(s) for name in ESTIMATORS]: the late-binding
    # closure makes every entry InfoNCE, so the estimator argument is ignored
    return orig(key, rho, d, "infonce", steps, batch, hidden, embed, learning_rate)
  return train_critic


def _gaussian_mi_log(orig):
  return lambda rho, d: -0.5 * d * jnp.log(1.0 - jnp.asarray(rho) ** 2)


def _rho_for_mi_exp(orig):
  return lambda value, d: jnp.sqrt(1.0 - jnp.exp(-2.0 * jnp.asarray(value) / d))


def _sample_shared_eps(orig):
  def correlated_gaussian_sample(key, rho, d, n, dtype=None):
    rho = jnp.asarray(rho, dtype)
    kx, ke = jax.random.split(key)
    x = jax.random.normal(kx, (n, d), rho.dtype)
    eps = jax.random.normal(ke, (n, 1), rho.dtype)  # one noise per pair, broadcast over d
    return x, rho * x + jnp.sqrt(1.0 - rho * rho) * eps
  return correlated_gaussian_sample


def _critic_transposed(orig):
  class SeparableCritic(orig):
    """scores[i, j] = g(x_j)^T h(y_i): the score matrix transposed (h @ g.T)."""

    @nn.compact
    def __call__(self, x, y):
      g = _mi_mlp()((self.hidden, self.hidden, self.embed), name="g")(x)
      h = _mi_mlp()((self.hidden, self.hidden, self.embed), name="h")(y)
      return h @ g.T
  SeparableCritic.__name__ = SeparableCritic.__qualname__ = "SeparableCritic"
  return SeparableCritic


def _mi_mlp():
  from gdm_jax.models import MLP
  return MLP


REFMI = (
    Mutation("mi_nwj_variance_no_swap", "NWJ's variance with r_ij and r_ji uncorrelated (the "
             "(1 - rho^4)^-d - 1 swap covariance dropped)",
             ((_MI, "nwj_variance", _nwj_variance_no_swap),), "mi.*"),
    Mutation("mi_nwj_variance_joint_term", "NWJ's variance with Var_p log r = rho^2/(1 - rho^2) "
             "per coordinate (rho^2 is right)",
             ((_MI, "nwj_variance", _nwj_variance_joint_over_one_minus),), "mi.*"),
    Mutation("mi_train_critic_ignores_estimator", "train_critic optimises InfoNCE whatever "
             "estimator is asked for (a late-binding closure over the names)",
             ((_MI, "train_critic", _train_critic_always_infonce),), "mi.*"),
    Mutation("mi_gaussian_mi_log_not_log1p", "the benchmark's I as -(d/2) log(1 - rho^2) "
             "(1 - rho^2 rounds: no relative accuracy at small rho)",
             ((_MI, "gaussian_mi", _gaussian_mi_log),), "mi.*"),
    Mutation("mi_sample_shared_noise", "the benchmark's y with one noise per pair broadcast over "
             "the d coordinates (eps of shape [n, 1]): every estimator's mean is unchanged",
             ((_MI, "correlated_gaussian_sample", _sample_shared_eps),), "mi.*"),
    Mutation("mi_critic_transposed", "SeparableCritic returns h(y) g(x)^T: scores[i, j] = "
             "f(x_j, y_i) (the symmetric benchmark trains it just as well)",
             ((_MI, "SeparableCritic", _critic_transposed),), "mi.*"),
    Mutation("mi_rho_for_mi_exp_not_expm1", "rho_for_mi as sqrt(1 - exp(-2I/d)) (1 - exp "
             "cancels at small I)", ((_MI, "rho_for_mi", _rho_for_mi_exp),), "mi.*"),
)
MUTATIONS = MUTATIONS + REFMI

# The per-question modules of the package (gdm_jax/mutations/q3.py, ...) hold the mistakes
# added since the catalogue was one file, each beside the name of the question its claims check;
# they import Mutation and the helpers above, so they are loaded here, after them.
from gdm_jax.mutations import per_question as _per_question  # noqa: E402

MUTATIONS = MUTATIONS + _per_question.MUTATIONS


def _resolve(path: str):
  parts = path.split(".")
  for i in range(len(parts), 0, -1):
    try:
      obj = importlib.import_module(".".join(parts[:i]))
    except ModuleNotFoundError:
      continue
    for p in parts[i:]:
      obj = getattr(obj, p)
    return obj
  raise ImportError(path)


@contextlib.contextmanager
def applied(m: Mutation, clear: bool = True):
  """Applies ``m``'s patches inside the block. With ``clear`` (what ``gdm-jax mutate`` does),
  jax's in-memory caches and the claims' memoised set-ups are cleared on entry and exit, so every
  program is traced anew with the patch; ``clear=False`` is for calling the patched function
  itself (a new function object is traced anew anyway) without recompiling everything else."""
  saved = []
  # Every target module is imported before anything is patched: a module first imported while
  # another is patched would bind the mutated function with ``from x import y``, and restoring it
  # would then put the mutation back (a leak into every later run).
  targets = [_resolve(mod) for mod, _, _ in m.patches]
  try:
    for target, (mod, attr, factory) in zip(targets, m.patches):
      orig = getattr(target, attr)
      saved.append((target, attr, orig))
      setattr(target, attr, factory(orig))
    if clear:
      _clear()
    yield
  finally:
    for target, attr, orig in reversed(saved):
      setattr(target, attr, orig)
    if clear:
      _clear()


def _clear():
  jax.clear_caches()
  from gdm_jax import claims
  claims.clear_caches()


#: Unmutated results, per (config, claim id): the verdicts a mutation must flip.
_BASELINE: dict = {}
_WARNED: set = set()


def baseline(selected, config) -> dict:
  """The unmutated results of ``selected`` claims, by id (computed once per config and claim)."""
  from gdm_jax.claims.core import run_claims
  missing = [c for c in selected if (config, c.id) not in _BASELINE]
  if missing:
    _clear()
    for r in run_claims(missing, config):
      _BASELINE[(config, r.claim.id)] = r
  out = {c.id: _BASELINE[(config, c.id)] for c in selected}
  broken = sorted(i for i, r in out.items() if not r.ok and i not in _WARNED)
  if broken:
    _WARNED.update(broken)
    warnings.warn(f"without any mutation these claims are not ok, so they cannot catch one: "
                  f"{', '.join(broken)}", stacklevel=2)
  return out


def run(mutations: Sequence[Mutation], config, on_result=None, pool=None):
  """Runs each mutation with the claims of ``pool`` (default: the registry) that its ``scope``
  selects. Returns ``[(mutation, caught, [ids of claims whose verdict flipped], {id: (verdict,
  detail)})]``: whether each catch is a verdict (an erratum that holds, a theorem refuted) or an
  error (NaN evidence, a crash), with its detail, so a catch by a crash can be read.

  A claim's verdict flips when it is ok without the mutation (:func:`baseline`) and not ok with
  it; a claim that is already wrong unmutated (an erratum that holds, a theorem in error) cannot
  catch anything and is reported once as a warning."""
  from gdm_jax import claims
  from gdm_jax.claims.core import run_claims
  out = []
  for m in mutations:
    selected = claims.select(m.scope, pool)
    base = baseline(selected, config)
    with applied(m):
      results = run_claims(selected, config)
    flips = [r for r in results if base[r.claim.id].ok and not r.ok]
    out.append((m, bool(flips), [r.claim.id for r in flips],
                {r.claim.id: (r.verdict, r.evidence.detail[:300]) for r in flips}))
    if on_result is not None:
      on_result(out[-1])
  return out


# ---------------------------------------------------------------------------------------------
# Per-claim power: every claim flips, alone, on the mistake its effect names.

class PerClaimRow(NamedTuple):
  """One (claim, mutation) pair of ``gdm-jax mutate --per-claim``: the claim's verdict without
  and with the mutation, run with that claim alone selected; ``flipped`` only when the verdict
  itself changes from the expected one to the other verdict (an ``error`` is not a flip)."""
  claim: str
  mutation: str
  without: str
  with_: str
  flipped: bool
  detail: str


def by_name() -> dict[str, Mutation]:
  return {m.name: m for m in MUTATIONS}


def per_claim_plan(selected, catalogue: Sequence[Mutation] | None = None
                   ) -> tuple[list[tuple[object, Mutation]], list, list]:
  """``(pairs, oracle_only, unnamed)`` for the claims ``selected``: every (claim, mutation) pair
  a claim names in ``Claim.mistakes``, the claims that call no library code (counted apart), and
  the claims that name no mistake yet. A name missing from the ``catalogue`` (default: the
  shipped :data:`MUTATIONS`; a user's own with ``mutate --mutations``) is a ``ValueError``."""
  names = by_name() if catalogue is None else {m.name: m for m in catalogue}
  pairs, oracle_only, unnamed = [], [], []
  for c in selected:
    missing = [n for n in c.mistakes if n not in names]
    if missing:
      raise ValueError(f"claim {c.id} names mistakes that are not in the catalogue: "
                       f"{', '.join(missing)}")
    if c.oracle_only is not None:
      oracle_only.append(c)
    elif not c.mistakes:
      unnamed.append(c)
    pairs.extend((c, names[n]) for n in c.mistakes)
  return pairs, oracle_only, unnamed


def run_per_claim(pairs, config, on_result=None) -> list[PerClaimRow]:
  """Runs each ``(claim, mutation)`` pair with that claim alone (:func:`applied` clears every
  cache, so nothing computed for another claim or without the mutation answers for it)."""
  from gdm_jax.claims.core import run_claims
  out = []
  for c, m in pairs:
    base = baseline([c], config)[c.id]
    with applied(m):
      (r,) = run_claims([c], config)
    flipped = base.ok and not r.ok and r.verdict != "error"
    row = PerClaimRow(c.id, m.name, base.verdict, r.verdict, flipped,
                      r.evidence.detail[:300])
    out.append(row)
    if on_result is not None:
      on_result(row)
  return out
