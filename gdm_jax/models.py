r"""Q2/Q3: latent-variable models whose marginal likelihood is known.

``LinearGaussian`` (probabilistic PCA / factor analysis with isotropic noise):

.. math::
   p(z) = \mathcal{N}(0, I_d), \quad p(x \mid z) = \mathcal{N}(W z + b, s^2 I_D), \quad
   p(x) = \mathcal{N}(b, W W^\top + s^2 I_D),

   p(z \mid x) = \mathcal{N}(P^{-1} W^\top (x - b) / s^2,\; P^{-1}), \quad P = I_d + W^\top W / s^2.

``log_marginal`` uses the matrix determinant lemma and Woodbury through the ``d x d`` precision
``P``, so it costs ``O(D d^2)`` rather than ``O(D^3)``.

``NonlinearModel``: :math:`z \sim \mathcal{N}(0, 1)`, :math:`x \mid z \sim \mathcal{N}(f_\theta(z),
s^2 I_D)` with a small flax MLP :math:`f_\theta`; :math:`\log p(x)` by quadrature in ``z``.
"""
from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct
from jax.scipy.special import logsumexp

from gdm_jax import change_of_variables as cov
from gdm_jax import validation as v

Array = jax.Array
_LOG_2PI = math.log(2 * math.pi)


def diag_gaussian_log_prob(z: Array, mean: Array, std: Array) -> Array:
  r""":math:`\sum_i \log \mathcal{N}(z_i; m_i, s_i^2)` over the last axis. ``[..., d] -> [...]``
  (``mean`` and ``std`` broadcast against ``z`` and share its last axis; a concrete ``std`` must
  be > 0)."""
  z = _vector("z", z)
  mean = _vector("mean", mean, z.shape[-1], "`z`")
  v.check_positive("std", std)
  std = _vector("std", std, z.shape[-1], "`z`")
  r = (z - mean) / std
  return -0.5 * jnp.sum(r * r, -1) - jnp.sum(jnp.log(std), -1) - 0.5 * z.shape[-1] * _LOG_2PI


def _vector(name, x, size=None, other=""):
  """``x`` under the input rules (:func:`gdm_jax.validation.real`) with a last axis, of ``size``
  when given."""
  if jnp.ndim(x) == 0:
    raise ValueError(f"`{name}` must have a last (coordinate) axis; got a scalar.")
  if size is not None:
    v.check_last_dim(name, x, size, other)
  elif jnp.shape(x)[-1] == 0:
    raise ValueError(f"`{name}` has an empty last axis; pass at least one coordinate.")
  return v.real(name, x)


def kl_diag_gaussians(m1: Array, s1: Array, m2: Array, s2: Array) -> Array:
  r"""KL(N(m1, diag s1^2) || N(m2, diag s2^2)), summed over the last axis.

  Concrete scales must be > 0 and concrete means not NaN (a scale <= 0 gives NaN or a finite
  wrong number through ``log(s2 / s1)``); traced values (under ``jit``) are not checked."""
  m1 = _vector("m1", m1)
  d = m1.shape[-1]
  m2 = _vector("m2", m2, d, "`m1`")
  v.check_positive("s1", s1)
  v.check_positive("s2", s2)
  s1, s2 = _vector("s1", s1, d, "`m1`"), _vector("s2", s2, d, "`m1`")
  return jnp.sum(jnp.log(s2 / s1) + (s1 ** 2 + (m1 - m2) ** 2) / (2 * s2 ** 2) - 0.5, -1)


def kl_gaussians(m1: Array, c1: Array, m2: Array, c2: Array) -> Array:
  r"""KL(N(m1, C1) || N(m2, C2)) for full covariances (Cholesky based).

  .. math:: \tfrac12[\mathrm{tr}(C_2^{-1}C_1) + (m_2-m_1)^\top C_2^{-1}(m_2-m_1) - d
            + \log\det C_2 - \log\det C_1]

  ``m1, m2 [..., d]``, ``c1, c2 [d, d]`` (one covariance each; batched covariances would be summed
  together, so they are refused). Concrete covariances must be symmetric, positive definite and
  well conditioned for their dtype (:func:`gdm_jax.validation.check_spd`); traced ones (under
  ``jit``) are not checked.
  """
  v.check_ndim("m1", m1, range(1, 16))
  m1 = _vector("m1", m1)
  d = jnp.shape(m1)[-1]
  m2 = _vector("m2", m2, d, "`m1`")
  v.check_spd("c1", c1, d, " to match `m1`")
  v.check_spd("c2", c2, d, " to match `m1`")
  c1, c2 = v.real("c1", c1), v.real("c2", c2)
  l2 = jnp.linalg.cholesky(c2)
  l1 = jnp.linalg.cholesky(c1)
  a = jax.scipy.linalg.solve_triangular(l2, l1, lower=True)
  diff = jax.scipy.linalg.solve_triangular(l2, (m2 - m1)[..., None], lower=True)[..., 0]
  logdet = 2 * (jnp.sum(jnp.log(jnp.diagonal(l2))) - jnp.sum(jnp.log(jnp.diagonal(l1))))
  return 0.5 * (jnp.sum(a * a) + jnp.sum(diff * diff, -1) - d + logdet)


@struct.dataclass
class LinearGaussian:
  """p(z) = N(0, I_d), p(x|z) = N(W z + b, noise_std^2 I_D). A pytree: vmap/jit friendly.

  Fields: ``W`` ``[D, d]``, ``b`` ``[D]``, ``noise_std`` ``[]``. Build with :meth:`create` for
  validated input.
  """
  W: Array
  b: Array
  noise_std: Array

  @classmethod
  def create(cls, W, b, noise_std) -> "LinearGaussian":
    v.check_ndim("W", W, (2,))
    if 0 in jnp.shape(W):
      raise ValueError(f"`W` is empty (shape {jnp.shape(W)}); pass a [D, d] matrix, D, d >= 1.")
    W = v.real("W", W)
    v.check_ndim("b", b, (1,))
    v.check_last_dim("b", b, jnp.shape(W)[0], "the rows of `W`")
    b = v.real("b", b)
    if jnp.ndim(noise_std) != 0:
      raise ValueError(f"`noise_std` must be a scalar; got shape {jnp.shape(noise_std)}.")
    v.check_positive("noise_std", noise_std)
    noise_std = v.real("noise_std", noise_std)
    return cls(W, b, jnp.asarray(noise_std, W.dtype))

  @property
  def latent_dim(self) -> int:
    return self.W.shape[1]

  @property
  def data_dim(self) -> int:
    return self.W.shape[0]

  def _x(self, x: Array) -> Array:
    return _vector("x", x, self.data_dim, "the model's data_dim D")

  def _z(self, z: Array) -> Array:
    return _vector("z", z, self.latent_dim, "the model's latent_dim d")

  def log_prior(self, z: Array) -> Array:
    """log N(z; 0, I). ``[..., d] -> [...]``."""
    z = self._z(z)
    return cov.standard_normal_log_prob(z)

  def log_likelihood(self, x: Array, z: Array) -> Array:
    """log N(x; W z + b, s^2 I). ``x [..., D], z [..., d] -> [...]`` (broadcasting batch axes)."""
    x, z = self._x(x), self._z(z)
    r = (x - (z @ self.W.T + self.b)) / self.noise_std
    return (-0.5 * jnp.sum(r * r, -1) - self.data_dim * jnp.log(self.noise_std)
            - 0.5 * self.data_dim * _LOG_2PI)

  def log_likelihood_gram(self, x: Array, z: Array) -> Array:
    r"""log p(x|z) for one ``x [D]`` and many ``z [n, d]`` through the Gram matrix, ``O(d^2)``
    per sample instead of ``O(D d)``:

    .. math:: \|r_0 - Wz\|^2 = \|r_0\|^2 - 2 z^\top W^\top r_0 + z^\top (W^\top W) z,
              \quad r_0 = x - b.

    Same value as :meth:`log_likelihood` up to rounding (float32 loses about
    ``eps * ||r_0||^2 / s^2`` absolute to cancellation). ``-> [n]``.
    """
    v.check_ndim("x", x, (1,))
    x, z = self._x(x), self._z(z)
    r0 = x - self.b
    s2 = self.noise_std ** 2
    wr = self.W.T @ r0                      # [d]
    gram = self.W.T @ self.W                # [d, d]
    quad = jnp.sum((z @ gram) * z, -1) - 2.0 * z @ wr + r0 @ r0
    return (-0.5 * quad / s2 - self.data_dim * jnp.log(self.noise_std)
            - 0.5 * self.data_dim * _LOG_2PI)

  def log_joint(self, x: Array, z: Array) -> Array:
    """log p(x, z) = log p(z) + log p(x|z). ``[...]``."""
    return self.log_prior(z) + self.log_likelihood(x, z)

  def _precision(self):
    s2 = self.noise_std ** 2
    return jnp.eye(self.latent_dim, dtype=self.W.dtype) + self.W.T @ self.W / s2

  def posterior(self, x: Array) -> tuple[Array, Array]:
    """Exact p(z|x) = N(mean, cov). ``x [..., D] -> mean [..., d], cov [d, d]``."""
    x = self._x(x)
    prec = self._precision()
    cov = jnp.linalg.inv(prec)
    cov = 0.5 * (cov + cov.T)
    mean = ((x - self.b) @ self.W / self.noise_std ** 2) @ cov.T
    return mean, cov

  def log_marginal(self, x: Array) -> Array:
    r"""Exact log p(x) = log N(x; b, W W^T + s^2 I), via the d x d precision. ``[..., D] -> [...]``.

    .. math::
       \log\det(WW^\top + s^2 I) = D \log s^2 + \log\det P, \quad
       (WW^\top + s^2 I)^{-1} = s^{-2} I - s^{-4} W P^{-1} W^\top.
    """
    x = self._x(x)
    s2 = self.noise_std ** 2
    chol = jnp.linalg.cholesky(self._precision())
    r = x - self.b
    u = jax.scipy.linalg.solve_triangular(chol, (r @ self.W).reshape(-1, self.latent_dim).T,
                                          lower=True).T.reshape(r.shape[:-1] + (self.latent_dim,))
    maha = jnp.sum(r * r, -1) / s2 - jnp.sum(u * u, -1) / s2 ** 2
    logdet = self.data_dim * jnp.log(s2) + 2 * jnp.sum(jnp.log(jnp.diagonal(chol)))
    return -0.5 * (maha + logdet + self.data_dim * _LOG_2PI)

  def sample(self, key: Array, n: int) -> tuple[Array, Array]:
    """(x [n, D], z [n, d]) from the joint; ``key`` one PRNG key, ``n >= 1``."""
    v.check_key("key", key)
    n = v.check_int("n", n)
    kz, kx = jax.random.split(key)
    z = jax.random.normal(kz, (n, self.latent_dim), self.W.dtype)
    x = z @ self.W.T + self.b + self.noise_std * jax.random.normal(kx, (n, self.data_dim),
                                                                  self.W.dtype)
    return x, z


def random_linear_gaussian(key: Array, latent_dim: int, data_dim: int, noise_std: float = 0.5,
                           dtype=jnp.float32) -> LinearGaussian:
  """A LinearGaussian with W ~ N(0, 1/d) entries and b ~ N(0, 1).

  ``latent_dim`` and ``data_dim`` are ints >= 1, ``noise_std`` a scalar > 0, ``dtype`` a real
  floating dtype."""
  v.check_key("key", key)
  latent_dim = v.check_int("latent_dim", latent_dim)
  data_dim = v.check_int("data_dim", data_dim)
  if jnp.ndim(noise_std) != 0:
    raise ValueError(f"`noise_std` must be a scalar; got shape {jnp.shape(noise_std)}.")
  v.check_positive("noise_std", noise_std)
  if not jnp.issubdtype(dtype, jnp.floating):
    raise ValueError(f"`dtype` must be a real floating dtype (float32 or float64); got {dtype}.")
  kw, kb = jax.random.split(key)
  W = jax.random.normal(kw, (data_dim, latent_dim), dtype) / math.sqrt(latent_dim)
  b = jax.random.normal(kb, (data_dim,), dtype)
  return LinearGaussian(W, b, jnp.asarray(noise_std, dtype))


class MLP(nn.Module):
  """A small tanh MLP ``[..., in] -> [..., out]``."""
  features: tuple[int, ...]

  @nn.compact
  def __call__(self, x):
    for f in self.features[:-1]:
      x = jnp.tanh(nn.Dense(f)(x))
    return nn.Dense(self.features[-1])(x)


@struct.dataclass
class NonlinearModel:
  r"""z ~ N(0, 1) (1-D latent), x | z ~ N(f_theta(z), s^2 I_D) with a flax MLP f_theta.

  ``log_marginal`` integrates :math:`p(x, z)` over :math:`z \in [-L, L]` with the trapezoid rule
  in log space (``logsumexp``), which is spectrally accurate for this smooth integrand.
  """
  params: dict
  noise_std: Array
  data_dim: int = struct.field(pytree_node=False)
  hidden: int = struct.field(pytree_node=False, default=16)

  @classmethod
  def create(cls, key, data_dim: int = 3, hidden: int = 16, noise_std: float = 0.5,
             dtype=jnp.float32) -> "NonlinearModel":
    v.check_key("key", key)
    v.check_int("data_dim", data_dim)
    v.check_int("hidden", hidden)
    v.check_scalar("noise_std", noise_std)
    v.check_positive("noise_std", noise_std)
    if not jnp.issubdtype(dtype, jnp.floating) or jnp.dtype(dtype).itemsize < 4:
      raise ValueError(f"`dtype` must be float32 or float64; got {dtype}.")
    params = MLP((hidden, data_dim)).init(key, jnp.zeros((1,), dtype))
    params = jax.tree_util.tree_map(lambda p: (2.0 * p).astype(dtype), params)
    return cls(params, jnp.asarray(noise_std, dtype), data_dim, hidden)

  def mean(self, z: Array) -> Array:
    """f_theta(z): ``[..., 1] -> [..., D]``."""
    z = _vector("z", z, 1, "the model's 1-D latent")
    return MLP((self.hidden, self.data_dim)).apply(self.params, z)

  def log_joint(self, x: Array, z: Array) -> Array:
    """log p(x, z): ``x [D], z [..., 1] -> [...]``."""
    v.check_ndim("x", x, (1,))
    x = _vector("x", x, self.data_dim, "the model's data_dim")
    z = _vector("z", z, 1, "the model's 1-D latent")
    r = (x - self.mean(z)) / self.noise_std
    return (-0.5 * jnp.sum(r * r, -1) - self.data_dim * jnp.log(self.noise_std)
            - 0.5 * self.data_dim * _LOG_2PI - 0.5 * z[..., 0] ** 2 - 0.5 * _LOG_2PI)

  def log_marginal(self, x: Array, half_width: float = 12.0, num_nodes: int = 8001) -> Array:
    """log p(x) for one ``x [D]`` by trapezoid quadrature in z (log space) on ``num_nodes >= 2``
    equally spaced nodes in ``[-half_width, half_width]``, ``half_width > 0``."""
    num_nodes = v.check_int("num_nodes", num_nodes, minimum=2)
    v.check_positive("half_width", half_width)
    v.check_ndim("x", x, (1,))
    v.check_last_dim("x", x, self.data_dim, "the model's data_dim")
    x = v.real("x", x)
    z = jnp.linspace(-half_width, half_width, num_nodes, dtype=x.dtype)
    lj = self.log_joint(x, z[:, None])
    h = z[1] - z[0]
    w = jnp.ones_like(z).at[0].set(0.5).at[-1].set(0.5)
    return logsumexp(lj, b=w * h)

  def sample(self, key: Array, n: int) -> tuple[Array, Array]:
    """(x [n, D], z [n, 1]) from the joint; ``key`` one PRNG key, ``n >= 1``."""
    v.check_key("key", key)
    n = v.check_int("n", n)
    kz, kx = jax.random.split(key)
    z = jax.random.normal(kz, (n, 1), self.noise_std.dtype)
    x = self.mean(z) + self.noise_std * jax.random.normal(kx, (n, self.data_dim),
                                                          self.noise_std.dtype)
    return x, z


def log_second_moment_ratio(m_p: Array, c_p: Array, m_q: Array, c_q: Array) -> Array:
  r""":math:`\log \int p(z)^2 / q(z)\,dz` for Gaussians p = N(m_p, C_p), q = N(m_q, C_q).

  With ``p`` the exact posterior and ``q`` the proposal, this is
  :math:`\log(\mathbb{E}_q[w^2] / \mathbb{E}_q[w]^2) = \log(1 + \chi^2(p \| q))`, the
  normalised second moment of the importance weights. Finite iff :math:`A = 2C_p^{-1} - C_q^{-1}`
  is positive definite (else ``nan``):

  .. math:: \log\!\int\! \frac{p^2}{q} = -\tfrac{d}{2}\log 2\pi - \log|C_p| + \tfrac12\log|C_q|
     - \tfrac12\log|A| + \tfrac{d}{2}\log 2\pi + \tfrac12 b^\top A^{-1} b - \tfrac12 e,

  :math:`b = 2C_p^{-1}m_p - C_q^{-1}m_q`, :math:`e = 2m_p^\top C_p^{-1}m_p - m_q^\top C_q^{-1}m_q`.

  ``m_p, m_q [d]``, ``c_p, c_q [d, d]`` covariances (checked as in :func:`kl_gaussians`).
  """
  v.check_ndim("m_p", m_p, (1,))
  m_p = _vector("m_p", m_p)
  d = m_p.shape[-1]
  v.check_ndim("m_q", m_q, (1,))
  m_q = _vector("m_q", m_q, d, "`m_p`")
  v.check_spd("c_p", c_p, d, " to match `m_p`")
  v.check_spd("c_q", c_q, d, " to match `m_p`")
  c_p, c_q = v.real("c_p", c_p), v.real("c_q", c_q)
  pp = jnp.linalg.inv(c_p)
  pq = jnp.linalg.inv(c_q)
  a = 2 * pp - pq
  b = 2 * pp @ m_p - pq @ m_q
  e = 2 * m_p @ pp @ m_p - m_q @ pq @ m_q
  sign, logdet_a = jnp.linalg.slogdet(a)
  val = (-jnp.linalg.slogdet(c_p)[1] + 0.5 * jnp.linalg.slogdet(c_q)[1] - 0.5 * logdet_a
         + 0.5 * b @ jnp.linalg.solve(a, b) - 0.5 * e)
  pd = jnp.all(jnp.linalg.eigvalsh(0.5 * (a + a.T)) > 0)
  return jnp.where(pd & (sign > 0), val, jnp.nan)
