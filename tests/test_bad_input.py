"""Bad input at the public API (issue 13, section 3): a catalogue of inputs that used to crash with
an XLA trace, return a silent NaN or return a wrong number, each of which must now raise a
``ValueError`` naming the argument; then the valid edge cases next to them that must still work.

Value checks run on concrete (eager) arguments only. Under ``jit`` the arguments are tracers: the
shape checks still run (including the shapes a user function returns, by ``jax.eval_shape``), but
a traced bad value is not checked; ``checkify`` with ``float_checks`` catches the NaN it produces
(``test_checkify_catches_a_traced_bad_scale``).

The classes of input (dtypes, infinities, sizes, counts, callables, keys, broadcasting) are
checked function by function in ``tests/test_bad_input_classes.py`` (issue 26).
"""
import functools
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import checkify
from jax.scipy.stats import norm

from gdm_jax import amortized as am, bounds, change_of_variables as cov, divergences as dv
from gdm_jax import gan, kl_bounds as kb, models, stats, sweeps
from gdm_jax.experiments import q3_iwae
from conftest import RTOL

key = lambda i=0: jax.random.key(i)  # a fresh key per call (key-reuse checks are on)
NAN_LJ = lambda z: jnp.full(z.shape[:1], jnp.nan)
COL_LJ = lambda z: -0.5 * jnp.sum(z * z, -1, keepdims=True)  # [n, 1]: broadcasts against [n]
GRID = np.linspace(-8.0, 8.0, 401)
LP, LQ = norm.logpdf(GRID), norm.logpdf(GRID, 1.0, 1.5)


def prop(d=2):
  return bounds.diag_gaussian_proposal(jnp.zeros(d), jnp.ones(d))


def nan_log_q(k, n):
  return jnp.zeros((n, 2)), jnp.full((n,), jnp.nan)


def neg_inf_log_q(k, n):
  return jnp.zeros((n, 2)), jnp.full((n,), -jnp.inf)


def col_log_q(k, n):
  return jnp.zeros((n, 2)), jnp.zeros((n, 1))


@functools.cache
def lg():
  return models.random_linear_gaussian(key(1), 2, 3, 0.5, jnp.float64)


@functools.cache
def nonlinear():
  return models.NonlinearModel.create(key(2), data_dim=2, hidden=4, dtype=jnp.float64)


def ill_conditioned_f32(cond=1e8):
  q = np.array([[0.6, -0.8], [0.8, 0.6]])
  c = (q * np.array([1.0, 1.0 / cond])) @ q.T
  return jnp.asarray(0.5 * (c + c.T), jnp.float32)


NOT_PD = np.array([[1.0, 2.0], [2.0, 1.0]])
NOT_SYM = np.array([[1.0, 0.5], [-0.5, 1.0]])
CPLX = jnp.zeros(3, jnp.complex64)

CATALOGUE = [
    # --- bounds: silent NaN, wrong shapes, memory -------------------------------------------
    ("chunked iwae NaN log_joint", lambda: bounds.iwae_estimate(key(), NAN_LJ, prop(), 10, 3),
     "log_joint"),
    ("one-shot iwae NaN log_joint", lambda: bounds.iwae_estimate(key(), NAN_LJ, prop(), 10),
     "log_joint"),
    ("chunked iwae NaN log_q", lambda: bounds.iwae_estimate(key(), lambda z: z[:, 0], nan_log_q,
                                                            10, 3), "sample_and_log_q"),
    ("one-shot iwae NaN log_q", lambda: bounds.iwae_estimate(key(), lambda z: z[:, 0], nan_log_q,
                                                             10), "sample_and_log_q"),
    ("iwae -inf - -inf", lambda: bounds.iwae_estimate(
        key(), lambda z: jnp.full(z.shape[:1], -jnp.inf), neg_inf_log_q, 10, 4), "log_joint"),
    ("one-shot log_joint [n, 1]", lambda: bounds.iwae_estimate(key(), COL_LJ, prop(), 10),
     "log_joint"),
    ("chunked log_joint [n, 1]", lambda: bounds.iwae_estimate(key(), COL_LJ, prop(), 10, 3),
     "log_joint"),
    ("log_q [n, 1]", lambda: bounds.iwae_estimate(key(), lambda z: z[:, 0], col_log_q, 10),
     "sample_and_log_q"),
    ("proposal not a pair", lambda: bounds.iwae_estimate(key(), lambda z: z[:, 0],
                                                         lambda k, n: jnp.zeros(n), 10),
     "sample_and_log_q"),
    ("one-shot K = 2^40", lambda: bounds.iwae_estimate(key(), lambda z: z[:, 0], prop(1), 2 ** 40,
                                                       2 ** 40),
     "chunk_size"),
    ("2^40 chunks", lambda: bounds.iwae_estimate(key(), lambda z: z[:, 0], prop(1), 2 ** 40, 1),
     "chunk_size"),
    ("K = 0", lambda: bounds.iwae_estimate(key(), lambda z: z[:, 0], prop(), 0), "K"),
    ("chunk_size = 0", lambda: bounds.iwae_estimate(key(), lambda z: z[:, 0], prop(), 10, 0),
     "chunk_size"),
    ("key not a key", lambda: bounds.iwae_estimate(0, lambda z: z[:, 0], prop(), 10), "key"),
    ("sharded log_joint [n, 1]", lambda: bounds.iwae_estimate_sharded(key(), COL_LJ, prop(), 4,
                                                                      2), "log_joint"),
    ("iwae_bound axis 5", lambda: bounds.iwae_bound(jnp.zeros(3), axis=5), "axis"),
    ("iwae_bound axis float", lambda: bounds.iwae_bound(jnp.zeros(3), axis=0.0), "axis"),
    ("iwae_bound complex", lambda: bounds.iwae_bound(CPLX), "log_w"),
    ("iwae_bound NaN", lambda: bounds.iwae_bound(jnp.array([0.0, jnp.nan])), "log_w"),
    ("elbo axis 3", lambda: bounds.elbo(jnp.zeros((2, 3)), axis=3), "axis"),
    ("prefix_bounds scalar", lambda: bounds.prefix_bounds(jnp.zeros(())), "log_w"),
    ("diag proposal std < 0", lambda: bounds.diag_gaussian_proposal(jnp.zeros(2), -jnp.ones(2)),
     "std"),
    ("full proposal not PD", lambda: bounds.full_gaussian_proposal(jnp.zeros(2), NOT_PD), "cov"),
    ("full proposal not symmetric", lambda: bounds.full_gaussian_proposal(jnp.zeros(2), NOT_SYM),
     "cov"),
    ("full proposal NaN cov", lambda: bounds.full_gaussian_proposal(
        jnp.zeros(2), jnp.array([[1.0, jnp.nan], [jnp.nan, 1.0]])), "cov"),
    ("full proposal cov shape", lambda: bounds.full_gaussian_proposal(jnp.zeros(2), jnp.eye(3)),
     "cov"),
    ("linear_gaussian_iwae q_std = -1", lambda: bounds.linear_gaussian_iwae(
        key(), lg(), jnp.zeros((2, 3)), jnp.zeros((2, 2)), -jnp.ones((2, 2)), 4), "q_std"),
    ("linear_gaussian_iwae q_mean rows", lambda: bounds.linear_gaussian_iwae(
        key(), lg(), jnp.zeros((2, 3)), jnp.zeros((3, 2)), jnp.ones((3, 2)), 4), "q_mean"),
    ("linear_gaussian_iwae x dim", lambda: bounds.linear_gaussian_iwae(
        key(), lg(), jnp.zeros((2, 4)), jnp.zeros((2, 2)), jnp.ones((2, 2)), 4), "x"),
    ("log_weights q_std = 0", lambda: bounds.linear_gaussian_log_weights(
        key(), lg(), jnp.zeros(3), jnp.zeros(2), jnp.zeros(2), 4), "q_std"),
    # --- sweeps --------------------------------------------------------------------------------
    # (lk_sweep is experiments.q3_iwae's; its checks are the library's, at its boundary)
    ("lk_sweep q_std = -1", lambda: q3_iwae.lk_sweep(
        key(), lg(), jnp.zeros(3), jnp.zeros(2), -jnp.ones(2), [1, 2], 8), "q_std"),
    ("lk_sweep replicates = 1", lambda: q3_iwae.lk_sweep(
        key(), lg(), jnp.zeros(3), jnp.zeros(2), jnp.ones(2), [1, 2], 1), "replicates"),
    ("lk_sweep ks = [0]", lambda: q3_iwae.lk_sweep(
        key(), lg(), jnp.zeros(3), jnp.zeros(2), jnp.ones(2), [0], 8), "ks"),
    ("lk_sweep ks = []", lambda: q3_iwae.lk_sweep(
        key(), lg(), jnp.zeros(3), jnp.zeros(2), jnp.ones(2), [], 8), "ks"),
    ("grad_snr_sweep NaN gradient", lambda: sweeps.grad_snr_sweep(
        key(), lambda k, K: jnp.full(2, jnp.nan), [1], 8), "grad_estimator"),
    ("snr_rms constant column", lambda: sweeps.snr_rms(np.ones((8, 2)), blocks=2), "g"),
    ("replicate_keys n = -1", lambda: sweeps.replicate_keys(key(), -1), "n"),
    ("loglog_slope 1 positive point", lambda: sweeps.loglog_slope([1, 2, 3], [1.0, -1.0, 0.0]),
     "y"),
    ("loglog_slope shapes", lambda: sweeps.loglog_slope([1, 2, 3], [1.0, 2.0]), "y"),
    ("loglog_slope x <= 0", lambda: sweeps.loglog_slope([0, 2, 3], [1.0, 2.0, 3.0]), "x"),
    ("loglog_slope NaN", lambda: sweeps.loglog_slope([1, 2, 3], [1.0, np.nan, 3.0]), "y"),
    # --- models --------------------------------------------------------------------------------
    ("random_lg noise_std = 0", lambda: models.random_linear_gaussian(key(), 2, 3, 0.0),
     "noise_std"),
    ("random_lg noise_std < 0", lambda: models.random_linear_gaussian(key(), 2, 3, -0.5),
     "noise_std"),
    ("random_lg latent_dim = 0", lambda: models.random_linear_gaussian(key(), 0, 3), "latent_dim"),
    ("random_lg latent_dim = -1", lambda: models.random_linear_gaussian(key(), -1, 3),
     "latent_dim"),
    ("random_lg data_dim = 0", lambda: models.random_linear_gaussian(key(), 2, 0), "data_dim"),
    ("random_lg int dtype", lambda: models.random_linear_gaussian(key(), 2, 3, 0.5, jnp.int32),
     "dtype"),
    ("kl_diag s1 = 0", lambda: models.kl_diag_gaussians(jnp.zeros(2), jnp.zeros(2), jnp.zeros(2),
                                                        jnp.ones(2)), "s1"),
    ("kl_diag s2 < 0", lambda: models.kl_diag_gaussians(jnp.zeros(2), jnp.ones(2), jnp.zeros(2),
                                                        -jnp.ones(2)), "s2"),
    ("kl_diag complex mean", lambda: models.kl_diag_gaussians(CPLX, jnp.ones(3), jnp.zeros(3),
                                                              jnp.ones(3)), "m1"),
    ("kl_gaussians c2 not PD", lambda: models.kl_gaussians(jnp.zeros(2), jnp.eye(2), jnp.zeros(2),
                                                           NOT_PD), "c2"),
    ("kl_gaussians c1 not symmetric", lambda: models.kl_gaussians(jnp.zeros(2), NOT_SYM,
                                                                  jnp.zeros(2), jnp.eye(2)), "c1"),
    ("kl_gaussians batched c1", lambda: models.kl_gaussians(
        jnp.zeros(2), jnp.stack([jnp.eye(2)] * 3), jnp.zeros(2), jnp.eye(2)), "c1"),
    ("log_marginal num_nodes = 1", lambda: nonlinear().log_marginal(jnp.zeros(2), num_nodes=1),
     "num_nodes"),
    ("log_marginal half_width = 0", lambda: nonlinear().log_marginal(jnp.zeros(2), 0.0),
     "half_width"),
    # --- amortized -----------------------------------------------------------------------------
    ("closed_form_elbo q_std = 0", lambda: am.closed_form_elbo(lg(), jnp.zeros(3), jnp.zeros(2),
                                                               jnp.array([1.0, 0.0])), "q_std"),
    ("closed_form_elbo q_std < 0", lambda: am.closed_form_elbo(lg(), jnp.zeros(3), jnp.zeros(2),
                                                               -jnp.ones(2)), "q_std"),
    ("fit_per_instance num_steps < 0", lambda: am.fit_per_instance(lg(), jnp.zeros((2, 3)), -1),
     "num_steps"),
    ("fit_per_instance x dim", lambda: am.fit_per_instance(lg(), jnp.zeros((2, 4)), 5), "x"),
    ("fit_amortised num_steps < 0", lambda: am.fit_amortised(key(), lg(), jnp.zeros((2, 3)),
                                                             am.Encoder(2), -3), "num_steps"),
    # --- gan -----------------------------------------------------------------------------------
    ("D* at (-inf, -inf)", lambda: gan.optimal_discriminator(jnp.array([0.0, -jnp.inf]),
                                                             jnp.array([0.0, -jnp.inf])),
     "log_f0_x"),
    ("D* at (+inf, +inf)", lambda: gan.optimal_discriminator(jnp.array([jnp.inf]),
                                                             jnp.array([jnp.inf])), "log_f1_x"),
    ("density from D = 1", lambda: gan.density_from_discriminator(jnp.zeros(2),
                                                                  jnp.array([0.5, 1.0])), "d_x"),
    ("density from D = 0", lambda: gan.density_from_discriminator(jnp.zeros(2),
                                                                  jnp.array([0.0, 0.5])), "d_x"),
    ("density_from_logit NaN", lambda: gan.density_from_logit(jnp.zeros(1),
                                                              jnp.array([jnp.nan])), "logit_x"),
    # --- divergences and KL bounds: silent wrong numbers -------------------------------------
    ("jsd decreasing grid", lambda: dv.jsd_quadrature(LP[::-1], LQ[::-1], GRID[::-1]), "grid"),
    ("kl decreasing grid", lambda: dv.kl_quadrature(LP[::-1], LQ[::-1], GRID[::-1]), "grid"),
    ("jsd unnormalised p", lambda: dv.jsd_quadrature(LP + math.log(2.0), LQ, GRID), "log_p"),
    ("kl unnormalised q", lambda: dv.kl_quadrature(LP, LQ - 1.0, GRID), "log_q"),
    ("jsd grid misses the support", lambda: dv.jsd_quadrature(
        norm.logpdf(GRID[150:250]), norm.logpdf(GRID[150:250], 0.5), GRID[150:250]), "log_p"),
    ("trapezoid decreasing", lambda: dv.trapezoid_weights(GRID[::-1]), "grid"),
    ("trapezoid repeated node", lambda: dv.trapezoid_weights(np.array([0.0, 1.0, 1.0, 2.0])),
     "grid"),
    ("trapezoid one node", lambda: dv.trapezoid_weights(np.zeros(1)), "grid"),
    ("r1_quadrature decreasing", lambda: kb.r1_quadrature((LP - LQ)[::-1], LP[::-1], LQ[::-1],
                                                          GRID[::-1]), "grid"),
    ("r2_quadrature decreasing", lambda: kb.r2_quadrature((LP - LQ)[::-1], LP[::-1], LQ[::-1],
                                                          GRID[::-1]), "grid"),
    ("r2_quadrature unnormalised", lambda: kb.r2_quadrature(LP - LQ, LP + 1.0, LQ, GRID),
     "log_p"),
    ("r1_quadrature t shape", lambda: kb.r1_quadrature(np.zeros(3), LP, LQ, GRID), "t"),
    ("r1 complex", lambda: kb.r1(CPLX, jnp.zeros(3)), "t_p"),
    # --- change of variables ---------------------------------------------------------------
    ("bisect lo > hi", lambda: cov.bisect_inverse(jnp.tanh, jnp.zeros(2), 5.0, -5.0), "lo"),
    ("bisect y out of range", lambda: cov.bisect_inverse(jnp.tanh, jnp.array([0.0, 2.0]), -5.0,
                                                         5.0), "y"),
    ("bisect decreasing f", lambda: cov.bisect_inverse(lambda z: -z, jnp.zeros(2), -1.0, 1.0),
     "f"),
    ("gaussian_log_prob f32 cond 1e8", lambda: cov.gaussian_log_prob(
        jnp.zeros((1, 2), jnp.float32), jnp.zeros(2, jnp.float32), ill_conditioned_f32()),
     "cov"),
    ("gaussian_log_prob not symmetric", lambda: cov.gaussian_log_prob(jnp.zeros(2), jnp.zeros(2),
                                                                      NOT_SYM), "cov"),
    ("standard normal complex", lambda: cov.standard_normal_log_prob(CPLX), "z"),
    ("affine complex scale", lambda: cov.affine(jnp.zeros(3), CPLX + 1.0), "scale"),
    # --- stats ---------------------------------------------------------------------------------
    ("binomial_ci 5 of 3", lambda: stats.binomial_ci(5, 3), "successes"),
    ("bonferroni rate -1", lambda: stats.bonferroni(-1, 3), "family_rate"),
    ("mean_and_se one sample", lambda: stats.mean_and_se(np.zeros(1)), "x"),
]


def test_catalogue_is_large_and_named_uniquely():
  assert len(CATALOGUE) >= 60
  assert len({name for name, _, _ in CATALOGUE}) == len(CATALOGUE)


@pytest.mark.parametrize("call, arg", [(c, a) for _, c, a in CATALOGUE],
                         ids=[n for n, _, _ in CATALOGUE])
def test_bad_input_raises_value_error_naming_the_argument(call, arg):
  with pytest.raises(ValueError, match=f"`{arg}`"):
    call()


def test_both_iwae_paths_give_the_same_error():
  msgs = []
  for chunk in (None, 3):
    with pytest.raises(ValueError) as e:
      bounds.iwae_estimate(key(), NAN_LJ, prop(), 10, chunk)
    msgs.append(str(e.value))
  assert msgs[0] == msgs[1]


def test_zero_over_zero_names_both_log_densities():
  with pytest.raises(ValueError, match="`log_f1_x` and `log_f0_x`"):
    gan.optimal_discriminator(jnp.array([-jnp.inf]), jnp.array([-jnp.inf]))


# --- valid edge cases that must keep working ---------------------------------------------------

def test_r1_is_finite_at_t89_in_float32():
  t = 89.0 + 0.1 * jax.random.normal(key(3), (100,), jnp.float64)
  got = kb.r1(t.astype(jnp.float32), t.astype(jnp.float32))
  ref = kb.r1(t, t)
  assert np.isfinite(got) and got.dtype == jnp.float32
  np.testing.assert_allclose(float(got), float(ref), rtol=RTOL[np.float32])
  # The gradient too: d/dt_q mean(e^(t_q - 1)) = e^(t - 1) / M, finite in both branches.
  g = jax.grad(kb.r1, argnums=1)(t.astype(jnp.float32), t.astype(jnp.float32))
  np.testing.assert_allclose(g, -np.exp(np.asarray(t) - 1.0) / t.size, rtol=RTOL[np.float32])
  g = jax.grad(kb.r1, argnums=1)(jnp.zeros(4), jnp.zeros(4))
  np.testing.assert_allclose(g, -np.exp(-1.0) / 4, rtol=RTOL[np.float64])


def test_minus_inf_log_weights_are_allowed():
  assert float(bounds.iwae_bound(jnp.full((4,), -jnp.inf))) == -np.inf
  np.testing.assert_allclose(bounds.iwae_bound(jnp.array([-jnp.inf, 0.0])), -math.log(2))
  # p(x, z) = 0 on half the proposal's mass: L_K is finite, and both paths accept it.
  lj = lambda z: jnp.where(z[:, 0] > 0, -0.5 * jnp.sum(z * z, -1) - math.log(2 * math.pi),
                           -jnp.inf)
  assert np.isfinite(bounds.iwae_estimate(key(4), lj, prop(), 64))
  assert np.isfinite(bounds.iwae_estimate(key(5), lj, prop(), 64, 16))


def test_eager_chunked_estimate_equals_the_jitted_one():
  # Hand-written, not chex.variants: the two modes' draws are compared with each other, bit for
  # bit; variants run each mode as its own test against a shared expectation.
  lj = lambda z: -0.5 * jnp.sum((z - 0.3) ** 2, -1)
  eager = bounds.iwae_estimate(key(6), lj, prop(), 50, 8)
  jitted = jax.jit(lambda k: bounds.iwae_estimate(k, lj, prop(), 50, 8))(key(6))
  assert float(eager) == float(jitted)


class ShapeCheckTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_shape_check_holds_under_jit(self):
    """A log_joint returning [n, 1] is refused by name in both modes (jax.eval_shape)."""
    f = self.variant(lambda k: bounds.iwae_estimate(k, COL_LJ, prop(), 10, 3))
    with pytest.raises(ValueError, match="`log_joint`"):
      f(key())


def test_traced_values_are_not_checked_but_checkify_catches_their_nan():
  """Under jit a negative scale is a tracer: no ValueError, and the KL is NaN. checkify with
  float_checks reports the NaN (from the log of a negative ratio) instead of returning it."""
  f = jax.jit(models.kl_diag_gaussians)
  args = (jnp.zeros(2), -jnp.ones(2), jnp.zeros(2), jnp.ones(2))
  assert np.isnan(f(*args))
  err, _ = checkify.checkify(f, errors=checkify.float_checks)(*args)
  assert err.get() is not None and "nan" in err.get().lower()


def _log_normal_f64(x, c):
  chol = np.linalg.cholesky(np.asarray(c, np.float64))
  sol = np.linalg.solve(chol, np.asarray(x, np.float64).T)
  return (-0.5 * np.sum(sol * sol, 0) - np.sum(np.log(np.diag(chol)))
          - 0.5 * len(c) * math.log(2 * math.pi))


def test_badly_scaled_but_well_correlated_cov_is_accepted_in_float32():
  """cond(C) = 1e14, cond(correlation) = 1.5: the float32 Cholesky is accurate (it is backward
  stable relative to the diagonal), so the check uses the correlation's condition number."""
  r = np.array([[1.0, 0.3, 0.1], [0.3, 1.0, 0.2], [0.1, 0.2, 1.0]])
  d = np.array([1.0, 1e-4, 1e3])
  c = (r * np.outer(d, d)).astype(np.float32)
  x = (np.random.default_rng(0).normal(size=(8, 3)) * d).astype(np.float32)
  got = cov.gaussian_log_prob(jnp.asarray(x), jnp.zeros(3, jnp.float32), jnp.asarray(c))
  ref = _log_normal_f64(x, c)
  np.testing.assert_allclose(np.asarray(got, np.float64), ref, rtol=RTOL[np.float32])


def test_ill_conditioned_cov_works_in_float64_as_advised():
  c = ill_conditioned_f32().astype(jnp.float64)
  x = np.array([[1e-4, -2e-4], [0.3, 0.1]])
  got = cov.gaussian_log_prob(jnp.asarray(x), jnp.zeros(2), c)
  np.testing.assert_allclose(got, _log_normal_f64(x, c), rtol=1e-6)


def test_quadrature_accepts_normalised_discontinuous_and_truncated_densities():
  # U(0, 1) vs U(0.5, 1.5): jumps between nodes, JSD = log(2) / 2 (Q7's overlap law).
  # The trapezoid rule misses up to half a cell at each of the four jumps: |error| <= 2 h.
  g = np.linspace(-1.0, 2.5, 401)
  lu = lambda a: np.where((g >= a) & (g <= a + 1), 0.0, -np.inf)
  np.testing.assert_allclose(dv.jsd_quadrature(lu(0.0), lu(0.5), g), 0.5 * math.log(2),
                             atol=2 * (g[1] - g[0]))
  # N(0, 1) vs N(1, 1) on [-6, 7]: KL = 1/2 up to the tails cut off, P(|x| > 6) x |log p/q|
  # ~ 2e-9 x 6.5 (the trapezoid rule is spectrally accurate for this smooth integrand).
  g = np.linspace(-6.0, 7.0, 401)
  np.testing.assert_allclose(dv.kl_quadrature(norm.logpdf(g), norm.logpdf(g, 1.0), g), 0.5,
                             atol=2e-8)


def test_saturated_discriminator_density_through_the_logit():
  """At x = 40, N(0, 1) vs N(0, 2^2) has log f1 - log f0 = -599: D* underflows to 0 (float32), so
  density_from_discriminator refuses it; the logit gives log f1 back exactly."""
  x = np.array([0.5, 40.0], np.float32)
  lf1, lf0 = norm.logpdf(x).astype(np.float32), norm.logpdf(x, 0, 2).astype(np.float32)
  d = gan.optimal_discriminator(jnp.asarray(lf1), jnp.asarray(lf0))
  assert float(d[1]) == 0.0
  with pytest.raises(ValueError, match="density_from_logit"):
    gan.density_from_discriminator(jnp.asarray(lf0), d)
  got = gan.density_from_logit(jnp.asarray(lf0), jnp.asarray(lf1 - lf0))
  np.testing.assert_allclose(got, lf1, rtol=RTOL[np.float32])
  # One density zero, the other positive: D* is defined (0 or 1), not refused.
  np.testing.assert_array_equal(gan.optimal_discriminator(jnp.array([-jnp.inf, 0.0]),
                                                          jnp.array([0.0, -jnp.inf])), [0.0, 1.0])


def test_bisect_inverse_at_the_ends_of_the_bracket():
  y = jnp.tanh(jnp.array([-3.0, 0.0, 3.0]))
  np.testing.assert_allclose(cov.bisect_inverse(jnp.tanh, y, -3.0, 3.0), [-3.0, 0.0, 3.0],
                             atol=1e-12)


def test_minimal_quadrature_node_count_is_finite():
  assert np.isfinite(nonlinear().log_marginal(jnp.zeros(2), num_nodes=2))
