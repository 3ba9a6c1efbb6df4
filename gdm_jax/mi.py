r"""Variational lower bounds on mutual information from critic scores (Poole et al. 2019, "On
variational bounds of mutual information"), and their Gaussian benchmark with exact ground truth.

A critic :math:`f(x, y)` is evaluated on a batch of :math:`B` joint pairs
:math:`(x_i, y_i) \sim p(x, y)` as a score matrix ``scores [B, B]``,
``scores[i, j]`` :math:`= f(x_i, y_j)`: the diagonal holds :math:`B` samples of the joint, the
:math:`B(B-1)` off-diagonal entries samples of the product of marginals :math:`p(x)p(y)` (not
independent of each other: row :math:`i` shares :math:`x_i`).

.. math::
   I_{NWJ}[f] = \mathbb{E}_{p(x,y)}[f] - e^{-1}\,\mathbb{E}_{p(x)p(y)}[e^{f}],
   \qquad f^* = 1 + \log r,

   I_{DV}[f] = \mathbb{E}_{p(x,y)}[f] - \log \mathbb{E}_{p(x)p(y)}[e^{f}],
   \qquad f^* = \log r + c,

   I_{NCE}[f] = \mathbb{E}\Big[\frac{1}{B}\sum_i \log \frac{e^{f(x_i, y_i)}}
   {\frac{1}{B}\sum_j e^{f(x_i, y_j)}}\Big] \le \min(I, \log B),

with :math:`r = p(x, y) / (p(x)p(y)) = p(y|x)/p(y)`. NWJ and DV are Q6's :math:`R_1` and
:math:`R_2` (:func:`gdm_jax.kl_bounds.r1`, :func:`~gdm_jax.kl_bounds.r2`) with :math:`p = p(x,y)`,
:math:`q = p(x)p(y)`; here they read their two samples off a score matrix.

The benchmark (Poole et al. Sec. 4): :math:`x \sim N(0, I_d)`,
:math:`y = \rho x + \sqrt{1 - \rho^2}\,\epsilon`, :math:`I(x; y) = -\tfrac{d}{2}\log(1 - \rho^2)`.
"""
from __future__ import annotations

from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.scipy.special import logsumexp

from gdm_jax import kl_bounds as kb
from gdm_jax import validation as v
from gdm_jax.models import MLP

Array = jax.Array


def _check_scores(scores):
  """A critic's score matrix: real (ints promoted), square [B, B] with B >= 2, finite (a critic
  is a real-valued function: +-inf scores have no finite bound)."""
  scores = v.as_array("scores", scores)
  if np.ndim(scores) != 2 or np.shape(scores)[0] != np.shape(scores)[1]:
    raise ValueError("`scores` must be a square [B, B] matrix with scores[i, j] = f(x_i, y_j); got "
                     f"shape {tuple(np.shape(scores))}.")
  if np.shape(scores)[0] < 2:
    raise ValueError("`scores` needs a batch of B >= 2 pairs (the off-diagonal entries are the "
                     f"product-of-marginals samples); got B = {np.shape(scores)[0]}.")
  return v.real("scores", scores)


def _diag_offdiag(scores):
  """``[B, B] -> ([B], [B (B - 1)])``: the joint and the product-of-marginals scores."""
  b = scores.shape[0]
  rows, cols = np.nonzero(~np.eye(b, dtype=bool))  # static: B is a shape
  return jnp.diagonal(scores), scores[rows, cols]


def infonce(scores: Array) -> Array:
  r"""InfoNCE (van den Oord et al. 2018; Poole et al. 2019 eq. 10) from a score matrix:

  .. math:: \hat I_{NCE} = \log B + \frac{1}{B}\sum_{i=1}^B \Big(f(x_i, y_i)
            - \operatorname{logsumexp}_{j=1}^{B} f(x_i, y_j)\Big).

  ``scores [B, B] -> []``. Each row term is :math:`\le 0` (the log-sum-exp includes the diagonal
  entry), so :math:`\hat I_{NCE} \le \log B` for every critic and every batch, also in floating
  point (rounding is monotone; the log-sum-exp subtracts the row maximum, so it stays finite and
  exact for scores of +-3e4 in float32, checked by ``mi.infonce_le_log_batch``). Its
  expectation is :math:`\le I`; at :math:`f = \log p(y|x) + c(x)` it
  approaches :math:`I` as :math:`B \to \infty`."""
  s = _check_scores(scores)
  b = s.shape[0]
  return jnp.mean(jnp.diagonal(s) - logsumexp(s, axis=1)) + jnp.log(jnp.asarray(b, s.dtype))


def nwj(scores: Array) -> Array:
  r"""NWJ (Nguyen, Wainwright & Jordan 2010; Poole et al. eq. 8, "f-GAN KL", Q6's :math:`R_1`):

  .. math:: \hat I_{NWJ} = \frac{1}{B}\sum_i f(x_i, y_i)
            - \frac{1}{B(B-1)}\sum_{i \ne j} e^{f(x_i, y_j) - 1}.

  ``scores [B, B] -> []``. Unbiased for :math:`I_{NWJ}[f]` (both sums are unbiased means), so at
  :math:`f^* = 1 + \log r` its expectation is exactly :math:`I`. The second mean is summed in log
  space where a plain sum of :math:`e^{f-1}` would overflow (:func:`gdm_jax.kl_bounds.r1`): finite
  whenever the answer is representable (scores up to about 88 in float32; the benchmark's
  optimal critic at :math:`I = 10` nats stays far below, checked by ``mi.score_estimators``).
  Its variance grows like :math:`e^{2I}/B^2` (:func:`nwj_variance`)."""
  s = _check_scores(scores)
  return kb.r1(*_diag_offdiag(s))


def dv(scores: Array) -> Array:
  r"""Donsker-Varadhan (Poole et al. eq. 9, MINE's objective, Q6's :math:`R_2`):

  .. math:: \hat I_{DV} = \frac{1}{B}\sum_i f(x_i, y_i)
            - \log \frac{1}{B(B-1)}\sum_{i \ne j} e^{f(x_i, y_j)}

  (a log-mean-exp, finite for scores of 1e4 in float32). ``scores [B, B] -> []``. The log of a
  sample mean is biased: :math:`\mathbb{E}[-\log \bar U] \ge -\log \mathbb{E}\bar U`, so at the
  optimal critic the batch estimate exceeds :math:`I` on average by about
  :math:`\mathrm{Var}(\bar U)/2` (delta method) and is a bound only as :math:`B \to \infty`."""
  s = _check_scores(scores)
  return kb.r2(*_diag_offdiag(s))


def _check_rho(rho, scalar: bool = False):
  """A correlation in (-1, 1); ``scalar``: one number (where the formula has one rho)."""
  if scalar:
    v.check_scalar("rho", rho)
  rho = v.real("rho", rho)
  if v.is_concrete(rho) and np.any(np.abs(np.asarray(rho)) >= 1):
    raise ValueError(f"`rho` must lie in (-1, 1) (a correlation; |rho| = 1 has infinite mutual "
                     f"information); got {np.asarray(rho)}.")
  return rho


def gaussian_mi(rho, d: int):
  r""":math:`I(x; y) = -\tfrac{d}{2}\log(1 - \rho^2)` nats for the benchmark (``log1p`` form,
  accurate for small :math:`\rho`). ``rho`` any shape, ``d`` a Python int."""
  d = v.check_int("d", d)
  rho = jnp.asarray(_check_rho(rho))
  return -0.5 * d * jnp.log1p(-rho * rho)


def rho_for_mi(mi, d: int):
  r"""The correlation with :math:`I = ` ``mi`` nats in ``d`` dimensions:
  :math:`\rho = \sqrt{1 - e^{-2I/d}}` (``expm1`` form). ``mi >= 0``, any shape."""
  d = v.check_int("d", d)
  mi = v.real("mi", mi)
  if v.is_concrete(mi) and np.any(np.asarray(mi) < 0):
    raise ValueError(f"`mi` must be >= 0 nats; got {np.asarray(mi)}.")
  mi = jnp.asarray(mi)
  return jnp.sqrt(-jnp.expm1(-2.0 * mi / d))


def correlated_gaussian_sample(key: Array, rho, d: int, n: int, dtype=None):
  r"""``n`` pairs of the benchmark: :math:`x \sim N(0, I_d)`,
  :math:`y = \rho x + \sqrt{1 - \rho^2}\,\epsilon`, :math:`\epsilon \sim N(0, I_d)`.
  Returns ``(x [n, d], y [n, d])`` (``dtype``: default float)."""
  v.check_key("key", key)
  d, n = v.check_int("d", d), v.check_int("n", n)
  if dtype is not None and not (jnp.issubdtype(dtype, jnp.floating)
                                and np.dtype(dtype).name in ("float32", "float64")):
    raise ValueError(f"`dtype` must be float32 or float64; got {dtype}.")
  rho = jnp.asarray(_check_rho(rho, scalar=True), dtype)
  dtype = rho.dtype if dtype is None else dtype
  kx, ke = jax.random.split(key)
  x = jax.random.normal(kx, (n, d), dtype)
  eps = jax.random.normal(ke, (n, d), dtype)
  return x, rho * x + jnp.sqrt(1.0 - rho * rho) * eps


def optimal_scores(x: Array, y: Array, rho) -> Array:
  r"""The benchmark's log density ratio on every pair, ``scores[i, j]`` :math:`= \log r(x_i, y_j)
  = \log p(y_j | x_i) - \log p(y_j)`:

  .. math:: \log r(x, y) = -\frac{d}{2}\log(1 - \rho^2)
            + \frac{2\rho\, x^\top y - \rho^2 (\|x\|^2 + \|y\|^2)}{2 (1 - \rho^2)}

  (from :math:`p(y|x) = N(\rho x, (1 - \rho^2) I)`, :math:`p(y) = N(0, I)`). The optimal critic of
  DV and InfoNCE; NWJ's is ``1 + optimal_scores``. ``x [N, d], y [M, d] -> [N, M]``."""
  v.check_ndim("x", x, (2,))
  v.check_ndim("y", y, (2,))
  v.check_last_dim("y", y, np.shape(x)[-1], "`x`")
  x, y = v.real("x", x), v.real("y", y)
  rho = _check_rho(rho, scalar=True)
  d = x.shape[-1]
  one_m = 1.0 - rho * rho
  quad = (2.0 * rho * (x @ y.T) - rho * rho * (jnp.sum(x * x, -1)[:, None]
                                                + jnp.sum(y * y, -1)[None, :]))
  return -0.5 * d * jnp.log1p(-rho * rho) + quad / (2.0 * one_m)


def nwj_variance(rho, d: int, batch: int):
  r"""The variance of :func:`nwj` on a ``batch`` x ``batch`` score matrix of the benchmark at the
  optimal critic :math:`f^* = 1 + \log r`:

  .. math:: \mathrm{Var}(\hat I_{NWJ}) = \frac{d\rho^2}{B}
            + \frac{(1 - \rho^2)^{-d} + (1 - \rho^4)^{-d} - 2}{B (B - 1)}.

  Derivation. :math:`\hat I_{NWJ} = 1 + \bar A - \bar U`, :math:`\bar A` the mean of
  :math:`\log r(x_i, y_i)`, :math:`\bar U` the mean of :math:`r_{ij} = r(x_i, y_j)` over
  :math:`i \ne j`. (1) :math:`\log r` is a quadratic form :math:`z^\top A z` in
  :math:`z = (x_k, y_k) \sim N(0, S)` per coordinate, so
  :math:`\mathrm{Var}_p(\log r) = 2\,\mathrm{tr}((AS)^2) = \rho^2` per coordinate:
  :math:`\mathrm{Var}(\bar A) = d\rho^2/B`. (2) :math:`\int r(x, y) p(y)\,dy = \int r(x, y)
  p(x)\,dx = 1`, so :math:`r_{ij}` and :math:`r_{kl}` are uncorrelated unless
  :math:`(k, l) = (i, j)` or :math:`(j, i)`, and :math:`\bar A` and :math:`\bar U` are
  uncorrelated. :math:`\mathrm{Var}(r_{ij}) = \mathbb{E}_{p(x)p(y)}[r^2] - 1 = (1 - \rho^2)^{-d}
  - 1 = e^{2I} - 1` and :math:`\mathrm{Cov}(r_{ij}, r_{ji}) = (1 - \rho^4)^{-d} - 1`, both
  Gaussian integrals :math:`\mathbb{E}\,e^{-z^\top M z/2} = \det(I + \Sigma M)^{-1/2}`; each of the
  :math:`B(B-1)` ordered pairs has one partner. With :math:`n` independent product-of-marginals
  samples instead, the second term would be :math:`(e^{2I} - 1)/n`.

  Finite for every :math:`|\rho| < 1`, but the sample variance of :math:`\hat I_{NWJ}` has a
  finite variance only when :math:`\mathbb{E}_{p(x)p(y)}[r^4] < \infty`, i.e. :math:`|\rho| <
  1/3` (:math:`\mathbb{E}_{p(x)p(y)} r^k < \infty` iff :math:`|\rho| < 1/(k-1)`)."""
  d, batch = v.check_int("d", d), v.check_int("batch", batch, 2)
  rho = jnp.asarray(_check_rho(rho))
  r2 = rho * rho
  marg = jnp.exp(-d * jnp.log1p(-r2)) + jnp.exp(-d * jnp.log1p(-r2 * r2)) - 2.0
  return d * r2 / batch + marg / (batch * (batch - 1))


class SeparableCritic(nn.Module):
  r"""A separable critic :math:`f(x, y) = g(x)^\top h(y)` (Poole et al.'s "separable"), ``g``
  and ``h`` tanh MLPs ``[..., d] -> [..., embed]`` with two ``hidden``-unit layers. Called on
  ``(x [B, d], y [B, d])`` it returns the score matrix ``[B, B]``, ``scores[i, j]`` :math:`=
  g(x_i)^\top h(y_j)`, with one pass of each network (the form InfoNCE needs)."""
  hidden: int = 64
  embed: int = 32

  @nn.compact
  def __call__(self, x, y):
    g = MLP((self.hidden, self.hidden, self.embed), name="g")(x)
    h = MLP((self.hidden, self.hidden, self.embed), name="h")(y)
    return g @ h.T


ESTIMATORS = ("nwj", "dv", "infonce")


def _estimator(name: str):
  """The estimator function called ``name``, looked up when called (a patched one included)."""
  return {"nwj": nwj, "dv": dv, "infonce": infonce}[name]


def train_critic(key: Array, rho, d: int, estimator="infonce", steps: int = 1000,
                 batch: int = 64, hidden: int = 64, embed: int = 32,
                 learning_rate: float = 1e-3):
  r"""Maximises ``estimator`` of a :class:`SeparableCritic` on the benchmark with correlation
  ``rho`` in ``d`` dimensions, with optax Adam on a fresh batch of ``batch`` pairs per step
  (Poole et al. Sec. 4). ``estimator`` is ``"nwj"``, ``"dv"``, ``"infonce"`` or its index in
  :data:`ESTIMATORS` (an integer array may be traced: ``vmap`` over estimators and ``rho`` trains
  them all in one program). Returns ``(params, curve [steps])``, the per-step batch estimates;
  evaluate with ``SeparableCritic(hidden, embed).apply(params, x, y)``."""
  if isinstance(estimator, str):
    if estimator not in ESTIMATORS:
      raise ValueError(f"`estimator` must be one of {ESTIMATORS} or an index; got {estimator!r}.")
    estimator = ESTIMATORS.index(estimator)
  elif v.is_concrete(estimator) and not 0 <= int(np.asarray(estimator)) < len(ESTIMATORS):
    raise ValueError(f"`estimator` index must lie in [0, {len(ESTIMATORS)}); got {estimator!r}.")
  v.check_key("key", key)
  d, steps = v.check_int("d", d), v.check_int("steps", steps)
  batch = v.check_int("batch", batch, 2)
  hidden, embed = v.check_int("hidden", hidden), v.check_int("embed", embed)
  v.check_rate("learning_rate", learning_rate)
  rho = jnp.asarray(_check_rho(rho, scalar=True))
  return _train_critic(key, rho, jnp.asarray(estimator, jnp.int32), d, steps, batch, hidden, embed,
                       learning_rate)


@partial(jax.jit, static_argnames=("d", "steps", "batch", "hidden", "embed"))
def _train_critic(key, rho, index, d, steps, batch, hidden, embed, learning_rate):
  net = SeparableCritic(hidden, embed)
  objectives = [lambda s, name=name: _estimator(name)(s) for name in ESTIMATORS]
  k_init, k_loop = jax.random.split(key)
  x0 = jnp.zeros((1, d), rho.dtype)
  params = net.init(k_init, x0, x0)
  opt = optax.adam(learning_rate)

  def step(carry, k):
    params, state = carry
    x, y = correlated_gaussian_sample(k, rho, d, batch)
    val, g = jax.value_and_grad(
        lambda p: jax.lax.switch(index, objectives, net.apply(p, x, y)))(params)
    upd, state = opt.update(jax.tree_util.tree_map(jnp.negative, g), state, params)
    return (optax.apply_updates(params, upd), state), val

  (params, _), curve = jax.lax.scan(step, (params, opt.init(params)),
                                    jax.random.split(k_loop, steps))
  return params, curve
