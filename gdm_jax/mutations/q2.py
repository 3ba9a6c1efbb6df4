r"""Planted mistakes against the q2.* claims: Q2 (amortised inference, the VAE's log-weights).

See :mod:`gdm_jax.mutations`. Each is named by the claims whose ``mistakes`` list it; ``scope``
is the glob the whole-catalogue ``gdm-jax mutate`` reruns."""
from __future__ import annotations

import importlib
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.scipy.linalg import solve_triangular

from gdm_jax.mutations import _AM, _LG, _LOG_2PI, _MODELS, _OPT, _VAE, Mutation, _at, _vae_mod


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


def _likelihood_without_b(orig):
  def log_likelihood(self, x, z):
    r = (x - z @ self.W.T) / self.noise_std
    return (-0.5 * jnp.sum(r * r, -1) - self.data_dim * jnp.log(self.noise_std)
            - 0.5 * self.data_dim * _LOG_2PI)
  return log_likelihood


def _elbo_plus_kl(orig):
  def closed_form_elbo(model, x, q_mean, q_std):
    from gdm_jax import amortized as am
    return (am.expected_log_likelihood(model, x, q_mean, q_std)
            + am.kl_diag_gaussians(q_mean, q_std, jnp.zeros_like(q_mean), jnp.ones_like(q_std)))
  return closed_form_elbo


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


def _golden_argmin(orig):
  def golden_section_max(f, lo, hi, num_iters=120):
    x, neg = orig(lambda u: -f(u), lo, hi, num_iters)  # the comparison flipped: argmin, min
    return x, -neg
  return golden_section_max


def _golden_one_iteration(orig):
  return lambda f, lo, hi, num_iters=120: orig(f, lo, hi, 1)


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




def _am():
  return importlib.import_module(_AM)


def _log_weights_sampler_variance(orig):
  """z = m + s^2 eps (the variance where the std belongs), log q evaluated at z correctly: for a
  target equal to the proposal times e^c every log-weight is still c."""
  def diag_gaussian_log_weights(key, log_joint_fn, x, mean, std, n):
    from gdm_jax.models import diag_gaussian_log_prob
    keys = jax.random.split(key, jnp.shape(mean)[0])

    def one(k, xi, m, s):
      eps = jax.random.normal(k, (n,) + m.shape, m.dtype)
      z = m + s ** 2 * eps
      return log_joint_fn(xi, z) - diag_gaussian_log_prob(z, m, s)
    return jax.vmap(one)(keys, jnp.asarray(x), jnp.asarray(mean), jnp.asarray(std))
  return diag_gaussian_log_weights


def _amortised_35_steps(orig):
  return lambda key, model, x, encoder, num_steps=300: orig(key, model, x, encoder, 35)


def _encoder_ignores_mean_rank(orig):
  class Encoder(orig):
    """The mean's rank-r bottleneck dropped: every encoder has full capacity."""

    @nn.compact
    def __call__(self, x):
      h = x
      for f in self.hidden:
        h = jnp.tanh(nn.Dense(f)(h))
      return nn.Dense(self.latent_dim)(h), jnp.exp(nn.Dense(self.latent_dim)(h))
  Encoder.__name__ = Encoder.__qualname__ = "Encoder"
  return Encoder


def _encoder_ignores_input(orig):
  class Encoder(orig):
    """q(z|x) = q(z): a mean and a log-std as free parameters, broadcast over the batch (the
    'amortised' q no function of x: 2d parameters, like one q_i)."""

    @nn.compact
    def __call__(self, x):
      shape = jnp.shape(x)[:-1] + (self.latent_dim,)
      mean = self.param("mean", nn.initializers.zeros, (self.latent_dim,))
      log_std = self.param("log_std", nn.initializers.zeros, (self.latent_dim,))
      return jnp.broadcast_to(mean, shape), jnp.broadcast_to(jnp.exp(log_std), shape)
  Encoder.__name__ = Encoder.__qualname__ = "Encoder"
  return Encoder


def _written_expected_log_likelihood(orig):
  """Answer 2.1 as the implementation: E_q log p(x|z) = log p(x) + KL(q || p(z))."""
  def expected_log_likelihood(model, x, q_mean, q_std):
    from gdm_jax.models import kl_diag_gaussians
    return model.log_marginal(x) + kl_diag_gaussians(q_mean, q_std, jnp.zeros_like(q_mean),
                                                     jnp.ones_like(q_std))
  return expected_log_likelihood


def _elbo_likelihood_dropped(orig):
  """Answer 2.2 as the implementation: with theta fixed, E_q log p(x|z) taken for a constant and
  dropped, so the ELBO is -KL(q || p(z))."""
  def closed_form_elbo(model, x, q_mean, q_std):
    from gdm_jax.models import kl_diag_gaussians
    return -kl_diag_gaussians(q_mean, q_std, jnp.zeros_like(q_mean), jnp.ones_like(q_std))
  return closed_form_elbo


def _gaps_prior_is_posterior(orig):
  """Answer 2.2/2.3a as the implementation: the 'KL to the prior' fields of Gaps measured
  against the posterior p(z|x_i)."""
  def gaps(model, x, inst, amort_mean, amort_std):
    g = orig(model, x, inst, amort_mean, amort_std)
    return g._replace(kl_prior_instance=g.kl_instance, kl_prior_amortised=g.kl_amortised)
  return gaps


MUTATIONS: tuple[Mutation, ...] = (
    Mutation("elbo_drops_trace", "closed-form ELBO without the tr(W S W^T) term",
             (("gdm_jax.amortized", "expected_log_likelihood", _elbo_no_trace),), "q2.*,q3.elbo*"),
    Mutation("b_theta_kl_to_prior", "Answer 2.1: KL to the prior where the posterior belongs",
             (("gdm_jax.amortized", "kl_to_posterior", _kl_to_prior),), "q2.*"),
    Mutation("marginal_drops_noise_det", "log p(x) without the D log s^2 determinant term",
             (("gdm_jax.models.LinearGaussian", "log_marginal", _marginal_drops_noise_det),),
             "q2.*,q3.*"),
    Mutation("posterior_cov_not_inverted", "p(z|x) with covariance P for P^-1",
             ((_LG, "posterior", _posterior_cov_not_inverted),), "q2.*,q3.*"),
    Mutation("posterior_mean_no_s2", "posterior mean P^-1 W^T (x - b) without the 1/s^2",
             ((_LG, "posterior", _posterior_mean_no_s2),), "q2.*,q3.*"),
    Mutation("kl_diag_log_swapped", "diagonal KL with log(s1/s2) for log(s2/s1)",
             _at("kl_diag_gaussians", _kl_diag_log_swapped, _MODELS, _AM), "q2.*,q3.elbo*"),
    Mutation("kl_trace_transposed", "full KL with tr(C1^-1 C2) for tr(C2^-1 C1)",
             _at("kl_gaussians", _kl_trace_transposed, _MODELS, _AM), "q2.*"),
    Mutation("likelihood_without_b", "log p(x|z) = log N(x; W z, s^2 I), b forgotten",
             ((_LG, "log_likelihood", _likelihood_without_b),), "q2.*,q3.*"),
    Mutation("elbo_plus_kl", "closed-form ELBO = E_q log p(x|z) + KL(q || p(z))",
             ((_AM, "closed_form_elbo", _elbo_plus_kl),), "q2.*,q3.elbo*"),
    Mutation("mean_field_std_no_sqrt", "mean-field optimum std 1/P_jj for 1/sqrt(P_jj)",
             ((_AM, "mean_field_optimum", _mean_field_no_sqrt),), "q2.*"),
    Mutation("instance_fit_two_steps", "per-instance L-BFGS stopped after 2 steps",
             ((_AM, "fit_per_instance", _instance_two_steps),), "q2.*"),
    Mutation("amortised_fit_two_steps", "amortised L-BFGS stopped after 2 steps",
             ((_AM, "fit_amortised", _amortised_two_steps),), "q2.*"),
    Mutation("kl_to_posterior_reversed", "KL(p(z|x) || q) for KL(q || p(z|x))",
             ((_AM, "kl_to_posterior", _kl_to_posterior_reversed),), "q2.*"),
    Mutation("golden_section_argmin", "golden section with the comparison flipped (finds a min)",
             _at("golden_section_max", _golden_argmin, _OPT, "gdm_jax.claims.q2",
                 "gdm_jax.claims.q5", "gdm_jax.claims.q6"), "q2.b_theta,q5.*,q6.*"),
    Mutation("golden_section_one_iteration", "golden section stopped after one iteration",
             _at("golden_section_max", _golden_one_iteration, _OPT, "gdm_jax.claims.q2",
                 "gdm_jax.claims.q5", "gdm_jax.claims.q6"), "q2.b_theta,q5.*,q6.*"),
    Mutation("log_weights_drop_log_q", "log-weights log p(x, z) without - log q(z)",
             ((_VAE, "diag_gaussian_log_weights", _log_weights_no_log_q),),
             "q2.vae_log_weights_exact"),
    Mutation("local_fit_descends", "per-point q* by Adam on +ELBO (minimised, not maximised)",
             ((_VAE, "fit_local_gaussians", _local_fit_descends),),
             "q2.amortisation_gap_positive"),
    Mutation("log_weights_sampler_variance", "log-weights drawn at z = m + s^2 eps (the variance "
             "as the std), log q(z) evaluated correctly",
             ((_VAE, "diag_gaussian_log_weights", _log_weights_sampler_variance),),
             "q2.vae_log_weights_exact"),
    Mutation("amortised_fit_35_steps", "amortised L-BFGS stopped after 35 steps (a gap of ~1e-2 "
             "nats left)", ((_AM, "fit_amortised", _amortised_35_steps),),
             "q2.amortisation_gap_vanishes"),
    Mutation("encoder_ignores_mean_rank", "Encoder without the mean's rank-r bottleneck",
             _at("Encoder", _encoder_ignores_mean_rank, _AM, _VAE),
             "q2.amortisation_gap_positive"),
    Mutation("encoder_ignores_input", "Encoder whose mean and std are free parameters, not "
             "functions of x (2d parameters)", _at("Encoder", _encoder_ignores_input, _AM, _VAE),
             "q2.written_same_per_iteration,q2.storage_law,q2.cost_law"),
    Mutation("written_expected_log_likelihood", "Answer 2.1: E_q log p(x|z) = log p(x) + "
             "KL(q || p(z))", ((_AM, "expected_log_likelihood", _written_expected_log_likelihood),),
             "q2.written_b_theta"),
    Mutation("elbo_likelihood_dropped", "Answer 2.2: the ELBO as -KL(q || p(z)), E_q log p(x|z) "
             "dropped as a constant in theta",
             ((_AM, "closed_form_elbo", _elbo_likelihood_dropped),),
             "q2.written_elbo_is_kl_to_prior"),
    Mutation("gaps_prior_is_posterior", "Answer 2.2: Gaps' KL to the prior measured against the "
             "posterior", ((_AM, "gaps", _gaps_prior_is_posterior),), "q2.written_kl_to_prior"),
)
