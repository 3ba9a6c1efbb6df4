r"""Planted mistakes against the q3.* claims: Q3 (the bounds L_K, the models behind them).

See :mod:`gdm_jax.mutations`. Each is named by the claims whose ``mistakes`` list it; ``scope``
is the glob the whole-catalogue ``gdm-jax mutate`` reruns."""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from gdm_jax.mutations import (_AM, _BOUNDS, _LG, _LOG_2PI, _MODELS, _NL, _SWEEPS, _VAE, Mutation,
                               _at, _vae_mod)


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


def _nonlinear_marginal_no_h(orig):
  def log_marginal(self, x, half_width=12.0, num_nodes=8001):
    z = jnp.linspace(-half_width, half_width, num_nodes, dtype=x.dtype)
    w = jnp.ones_like(z).at[0].set(0.5).at[-1].set(0.5)
    return logsumexp(self.log_joint(x, z[:, None]), b=w)  # the node spacing h forgotten
  return log_marginal


def _nonlinear_log_joint_slip(slip: str):
  """NonlinearModel.log_joint without the prior's -log(2 pi)/2 (``"prior_2pi"``), or with
  D log s^2 for D log s (``"log_s2"``)."""
  def factory(orig):
    def log_joint(self, x, z):
      r = (x - self.mean(z)) / self.noise_std
      s_term = self.data_dim * jnp.log(self.noise_std ** (2 if slip == "log_s2" else 1))
      prior = -0.5 * z[..., 0] ** 2 - (0.0 if slip == "prior_2pi" else 0.5 * _LOG_2PI)
      return -0.5 * jnp.sum(r * r, -1) - s_term - 0.5 * self.data_dim * _LOG_2PI + prior
    return log_joint
  return factory


def _nonlinear_marginal_slip(slip: str):
  """NonlinearModel.log_marginal with the spacing 2L/n for 2L/(n - 1) (``"h_off_by_one"``), or
  summed in probability space (``"linear"``: -inf once log p(x, z) is in the thousands)."""
  def factory(orig):
    def log_marginal(self, x, half_width=12.0, num_nodes=8001):
      z = jnp.linspace(-half_width, half_width, num_nodes, dtype=x.dtype)
      lj = self.log_joint(x, z[:, None])
      w = jnp.ones_like(z).at[0].set(0.5).at[-1].set(0.5)
      if slip == "h_off_by_one":
        return logsumexp(lj, b=w * (2 * half_width / num_nodes))
      return jnp.log(jnp.sum(w * (z[1] - z[0]) * jnp.exp(lj)))
    return log_marginal
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


def _elbo_trace_std(orig):
  def expected_log_likelihood(model, x, q_mean, q_std):
    r = x - (q_mean @ model.W.T + model.b)
    tr = jnp.sum(q_std * jnp.sum(model.W ** 2, 0), -1)  # s_q for s_q^2
    d = model.data_dim
    return (-d * jnp.log(model.noise_std) - 0.5 * d * _LOG_2PI
            - (jnp.sum(r * r, -1) + tr) / (2 * model.noise_std ** 2))
  return expected_log_likelihood


def _loglog_semilog(orig):
  def fit_loglog(ks, y, se, level=0.95, resolved_z=3.0, inflate=True):
    k = np.asarray(ks, float)
    # log y on K (scaled), not log K
    sl = orig(np.exp(k / k.max()), y, se, level, resolved_z, inflate)
    return None if sl is None else sl._replace(k_min=int(k.min()), k_max=int(k.max()))
  return fit_loglog


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


def _bernoulli_x_flipped(orig):
  return lambda x, logits: orig(1 - jnp.asarray(x), logits)  # sigma(l) read as p(x = 0)


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


def _diag_log_prob_no_2pi(orig):
  def diag_gaussian_log_prob(z, mean, std):
    r = (z - mean) / std
    return -0.5 * jnp.sum(r * r, -1) - jnp.sum(jnp.log(std), -1)  # -(d/2) log 2 pi dropped
  return diag_gaussian_log_prob


def _log_prior_no_2pi(orig):
  def log_prior(self, z):
    return -0.5 * jnp.sum(z * z, -1)  # log N(z; 0, I) without -(d/2) log 2 pi
  return log_prior


def _prefix_log_k_plus_one(orig):
  def prefix_bounds(log_w):
    log_w = jnp.asarray(log_w)
    k = jnp.arange(1, log_w.shape[-1] + 1, dtype=log_w.dtype)
    return jax.lax.cumlogsumexp(log_w, axis=log_w.ndim - 1) - jnp.log(k + 1)
  return prefix_bounds


def _prefix_running_mean(orig):
  def prefix_bounds(log_w):
    log_w = jnp.asarray(log_w)
    k = jnp.arange(1, log_w.shape[-1] + 1, dtype=log_w.dtype)
    return jnp.cumsum(log_w, axis=-1) / k  # the running ELBO, not log of the running mean
  return prefix_bounds


def _full_proposal_diagonal(orig):
  def full_gaussian_proposal(mean, cov):
    mean, cov = jnp.asarray(mean), jnp.asarray(cov)
    d = mean.shape[-1]

    def sample_and_log_q(key, n):
      eps = jax.random.normal(key, (n, d), mean.dtype)
      z = mean + eps * jnp.sqrt(jnp.diagonal(cov))  # the correlations dropped from the draws
      return z, jax.scipy.stats.multivariate_normal.logpdf(z, mean, cov)  # log q right at z

    return sample_and_log_q
  return full_gaussian_proposal


def _prefix_global_max(orig):
  def prefix_bounds(log_w):
    log_w = jnp.asarray(log_w)
    k = jnp.arange(1, log_w.shape[-1] + 1, dtype=log_w.dtype)
    m = jnp.max(log_w, -1, keepdims=True)  # one shift for every prefix, not a running maximum
    return m + jnp.log(jnp.cumsum(jnp.exp(log_w - m), -1)) - jnp.log(k)
  return prefix_bounds


def _lse_init_zero(orig):
  def _lse_init(dtype):
    return jnp.asarray(0.0, dtype), jnp.asarray(0.0, dtype)  # running max from 0, not -inf
  return _lse_init


def _bernoulli_probability_space(eps: float):
  def factory(orig):
    def bernoulli_log_prob(x, logits):
      logits = jnp.asarray(logits)
      x = jnp.asarray(x, logits.dtype)
      p = jax.nn.sigmoid(logits)  # log of a probability: -inf (or a floor) once sigma saturates
      return jnp.sum(x * jnp.log(p + eps) + (1 - x) * jnp.log(1 - p + eps), -1)
    return bernoulli_log_prob
  return factory


def _log_2pi_rounded(orig):
  return math.log(2 * 3.14)  # pi taken as 3.14: log w off by ~5e-4


def _renyi(slip: str):
  """The Renyi bound with one slip: ``"no_prefactor"``, log mean w^(1-alpha) without the
  1/(1 - alpha) (right at alpha = 0 and, by its own branch, at alpha = 1); ``"exponent_sign"``,
  1/(alpha - 1) log mean w^(alpha - 1) (the exponent of D_alpha(p||q) read for q||p)."""
  def factory(orig):
    def renyi_bound(log_w, alpha, axis=-1):
      log_w = jnp.asarray(log_w)
      if alpha == 1.0:
        return jnp.mean(log_w, axis=axis)
      k = math.log(log_w.shape[axis])
      if slip == "no_prefactor":
        return logsumexp((1 - alpha) * log_w, axis=axis) - k
      return (logsumexp((alpha - 1) * log_w, axis=axis) - k) / (alpha - 1)
    return renyi_bound
  return factory


MUTATIONS: tuple[Mutation, ...] = (
    Mutation("log_k_off_by_one", "L_K with log(K + 1) in place of log K",
             (("gdm_jax.bounds", "iwae_bound", _log_k_plus_one),), "q3.*"),
    Mutation("mean_of_log_weights", "L_K as the mean of log-weights, not the log of the mean",
             (("gdm_jax.bounds", "iwae_bound", _mean_log_w),
              ("gdm_jax.bounds", "prefix_bounds", _prefix_mean_log_w)), "q3.*"),
    Mutation("chunk_forgets_rescale", "running log-sum-exp without rescaling the partial sum",
             (("gdm_jax.bounds", "iwae_estimate", _chunk_no_rescale),), "q3.*"),
    Mutation("gram_drops_r0_r0", "Gram log-likelihood without the ||x - b||^2 term",
             ((_LG, "log_likelihood_gram", _gram(drop_r0=True)),), "q3.*"),
    Mutation("gram_cross_term_once", "Gram log-likelihood with z^T W^T r0 for 2 z^T W^T r0",
             ((_LG, "log_likelihood_gram", _gram(cross=1.0)),), "q3.*"),
    Mutation("sample_noise_variance", "LinearGaussian.sample adds s^2 eps for s eps",
             ((_LG, "sample", _sample(noise_power=2)),), "q2.*,q3.*"),
    Mutation("sample_forgets_b", "LinearGaussian.sample draws W z + s eps, without b",
             ((_LG, "sample", _sample(with_b=False)),), "q2.*,q3.*"),
    Mutation("second_moment_half_logdet", "log E_q[w^2]/E_q[w]^2 with -log|C_p|/2 for -log|C_p|",
             ((_MODELS, "log_second_moment_ratio", _second_moment_half_logdet),), "q3.*"),
    Mutation("diag_log_prob_half_log_std", "diagonal Gaussian log-density with -log(s)/2 for "
             "-log s", _at("diag_gaussian_log_prob", _diag_log_prob_half_log_std, _MODELS,
                           _BOUNDS, "gdm_jax.vae"), "q3.*"),
    Mutation("nonlinear_marginal_no_h", "NonlinearModel.log_marginal without the node spacing h",
             ((_NL, "log_marginal", _nonlinear_marginal_no_h),), "q2.*,q3.*"),
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
    Mutation("elbo_trace_std", "E_q log p(x|z) with sum s_q ||W_j||^2 for sum s_q^2 ||W_j||^2",
             ((_AM, "expected_log_likelihood", _elbo_trace_std),), "q2.*,q3.elbo*"),
    Mutation("loglog_slope_semilog", "the sweep's slope fits log y on K, not on log K",
             ((_SWEEPS, "fit_loglog", _loglog_semilog),), "q3.variance_law"),
    Mutation("prefix_linear_space", "prefix bounds log(cumsum(exp(log w)) / k)",
             ((_BOUNDS, "prefix_bounds", _prefix_linear),), "q3.*"),
    Mutation("lse_no_inf_guard", "running log-sum-exp without the guard for an all -inf chunk",
             ((_BOUNDS, "_lse_update", _lse_no_inf_guard),), "q3.*"),
    Mutation("bernoulli_probability_space", "Bernoulli log-likelihood as x log p + (1 - x) "
             "log(1 - p) of p = sigmoid(l) (-inf once p saturates)",
             ((_VAE, "bernoulli_log_prob", _bernoulli_probability_space(0.0)),),
             "q3.vae_log_joint"),
    Mutation("bernoulli_probability_floor", "the same with log(p + 1e-7): a floor, wrong for "
             "|logit| > 16", ((_VAE, "bernoulli_log_prob", _bernoulli_probability_space(1e-7)),),
             "q3.vae_log_joint"),
    Mutation("bernoulli_x_flipped", "Bernoulli log-likelihood with x and 1 - x swapped",
             ((_VAE, "bernoulli_log_prob", _bernoulli_x_flipped),), "q3.vae_log_joint"),
    Mutation("vae_log_joint_no_prior", "the VAE's log p(x, z) without the prior log p(z)",
             ((_VAE, "log_joint", _log_joint_no_prior),), "q3.vae_log_joint"),
    Mutation("vae_proposal_variance_as_std", "the encoder's variance passed as its std",
             ((_VAE, "iwae_objective", _iwae_objective_variance),),
             "q3.nonlinear_evidence"),
    Mutation("diag_log_prob_drops_2pi", "diagonal Gaussian log-density without -(d/2) log 2 pi",
             _at("diag_gaussian_log_prob", _diag_log_prob_no_2pi, _MODELS, _BOUNDS,
                 "gdm_jax.vae"), "q3.*"),
    Mutation("full_proposal_diagonal_only", "full proposal drawing with the diagonal's std "
             "alone (log q right at the draws)",
             ((_BOUNDS, "full_gaussian_proposal", _full_proposal_diagonal),), "q3.*"),
    Mutation("prefix_global_max", "prefix bounds shifted by the global maximum, not a running "
             "one (an early prefix underflows)", ((_BOUNDS, "prefix_bounds", _prefix_global_max),),
             "q3.*"),
    Mutation("lse_init_zero", "running log-sum-exp started at max 0, not -inf (every log w far "
             "below 0 underflows)", ((_BOUNDS, "_lse_init", _lse_init_zero),), "q3.*"),
    Mutation("nonlinear_log_joint_prior_2pi", "NonlinearModel.log_joint without the prior's "
             "-log(2 pi)/2", ((_NL, "log_joint", _nonlinear_log_joint_slip("prior_2pi")),),
             "q3.nonlinear_evidence"),
    Mutation("nonlinear_log_joint_log_s2", "NonlinearModel.log_joint with D log s^2 for D log s",
             ((_NL, "log_joint", _nonlinear_log_joint_slip("log_s2")),), "q3.nonlinear_evidence"),
    Mutation("nonlinear_marginal_h_off_by_one", "NonlinearModel.log_marginal with h = 2L/n for "
             "2L/(n - 1)", ((_NL, "log_marginal", _nonlinear_marginal_slip("h_off_by_one")),),
             "q3.nonlinear_evidence"),
    Mutation("nonlinear_marginal_linear", "NonlinearModel.log_marginal summed in probability "
             "space", ((_NL, "log_marginal", _nonlinear_marginal_slip("linear")),),
             "q3.nonlinear_evidence"),
    Mutation("models_log_2pi_rounded", "models' log 2 pi with pi = 3.14 (log-weights off by "
             "~5e-4)", ((_MODELS, "_LOG_2PI", _log_2pi_rounded),), "q3.*"),
    Mutation("log_prior_drops_2pi", "LinearGaussian.log_prior without -(d/2) log 2 pi (L_K "
             "above log p(x))",
             (("gdm_jax.models.LinearGaussian", "log_prior", _log_prior_no_2pi),),
             "q3.*"),
    Mutation("prefix_log_k_plus_one", "prefix bounds L_k with log(k + 1) for log k",
             ((_BOUNDS, "prefix_bounds", _prefix_log_k_plus_one),), "q3.*"),
    Mutation("prefix_running_mean_log_w", "prefix bounds as the running mean of log w (the "
             "running ELBO)", ((_BOUNDS, "prefix_bounds", _prefix_running_mean),), "q3.*"),
    Mutation("renyi_no_prefactor", "Renyi bound without 1/(1 - alpha): log mean w^(1-alpha)",
             ((_BOUNDS, "renyi_bound", _renyi("no_prefactor")),), "q3.renyi_*"),
    Mutation("renyi_exponent_sign", "Renyi bound as 1/(alpha - 1) log mean w^(alpha - 1)",
             ((_BOUNDS, "renyi_bound", _renyi("exponent_sign")),), "q3.renyi_*"),
)
