"""gan.py, kl_bounds.py, divergences.py, optimize.py against closed forms and scipy."""
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import integrate, special, stats as sps

from gdm_jax import divergences as dv, gan, kl_bounds as kb
from gdm_jax.optimize import golden_section_max


# --- Q5 -------------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(st.floats(-30, 30), st.floats(-30, 30))
def test_optimal_discriminator_matches_ratio(lf1, lf0):
  d = float(gan.optimal_discriminator(jnp.array(lf1), jnp.array(lf0)))
  np.testing.assert_allclose(d, special.expit(lf1 - lf0), rtol=1e-12)


def test_density_from_discriminator_is_stable_near_0_and_1():
  lf0 = jnp.zeros(4)
  d = jnp.array([1e-300, 1e-12, 1 - 1e-12, 0.5])
  got = gan.density_from_discriminator(lf0, d)
  ref = np.log(np.array([1e-300, 1e-12, 1 - 1e-12, 0.5])) - np.log1p(-np.array(
      [1e-300, 1e-12, 1 - 1e-12, 0.5]))
  np.testing.assert_allclose(got, ref, rtol=1e-9)
  chex.assert_tree_all_finite(got)


def test_trained_discriminator_reduces_loss():
  k1, k0, kt = jax.random.split(jax.random.key(0), 3)
  x1 = 1.0 + jax.random.normal(k1, (512, 1))
  x0 = jax.random.normal(k0, (512, 1))
  params, losses = gan.train_discriminator(kt, x1, x0, steps=200, batch=128, hidden=8)
  # Exact population loss of the trained D by quadrature: below log 4 (D = 1/2) and never below
  # the optimum log 4 - 2 JSD(N(1,1) || N(0,1)) (Q5), with the JSD by quadrature too.
  grid = jnp.linspace(-12.0, 13.0, 5001)
  lf1, lf0 = sps.norm.logpdf(np.asarray(grid), 1, 1), sps.norm.logpdf(np.asarray(grid), 0, 1)
  logit = gan.discriminator_logit(params, grid[:, None], hidden=8)
  w = dv.trapezoid_weights(grid)
  pop = float(jnp.sum(w * (np.exp(lf1) * jax.nn.softplus(-logit) +
                           np.exp(lf0) * jax.nn.softplus(logit))))
  jsd = float(dv.jsd_quadrature(jnp.asarray(lf1), jnp.asarray(lf0), grid))
  # Pointwise, f1 softplus(-l) + f0 softplus(l) >= its minimum over l, whose weighted sum is
  # log 2 (M1 + M0) - 2 JSD with M the quadrature masses: the bound holds up to the masses'
  # error and the rounding of n-term float64 sums (n eps sum|terms|, Higham's gamma_n).
  wn = np.asarray(w)
  m1, m0 = float(np.sum(wn * np.exp(lf1))), float(np.sum(wn * np.exp(lf0)))
  slack = math.log(2) * (abs(m1 - 1) + abs(m0 - 1)) + grid.size * np.finfo(np.float64).eps * (
      pop + math.log(4) + 2 * jsd)
  assert math.log(4) - 2 * jsd - slack <= pop < math.log(4)
  assert float(losses[-20:].mean()) < float(losses[:5].mean())
  chex.assert_shape(gan.discriminator_logit(params, x1, hidden=8), (512,))


# --- Q6 -------------------------------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-80, 80), min_size=1, max_size=30),
       st.lists(st.floats(-80, 80), min_size=1, max_size=30))
def test_r1_le_r2_and_finite_float32(tp, tq):
  tp32, tq32 = jnp.asarray(tp, jnp.float32), jnp.asarray(tq, jnp.float32)
  a, b = float(kb.r1(tp32, tq32)), float(kb.r2(tp32, tq32))
  assert np.isfinite(a) and np.isfinite(b)
  assert a <= b + 1e-5 * max(1.0, abs(b))
  ref = np.mean(tp) - (special.logsumexp(tq) - math.log(len(tq)))
  np.testing.assert_allclose(b, ref, rtol=2e-5, atol=1e-4)


def test_r2_at_log_ratio_is_kl_by_quadrature():
  grid = jnp.linspace(-15, 15, 3001)
  lp, lq = sps.norm.logpdf(grid, 0, 1), sps.norm.logpdf(grid, 0.5, 2)
  kl = math.log(2) + (1 + 0.25) / 8 - 0.5
  np.testing.assert_allclose(kb.r2_quadrature(jnp.asarray(lp - lq) + 7.0, lp, lq, grid), kl,
                             rtol=1e-9)
  np.testing.assert_allclose(kb.r1_quadrature(jnp.asarray(lp - lq) + 1.0, lp, lq, grid), kl,
                             rtol=1e-9)


def test_trained_critic_improves_the_exact_bound():
  sp = lambda k, n: jax.random.normal(k, (n, 1))
  sq = lambda k, n: 1.0 + jax.random.normal(k, (n, 1))
  grid = jnp.linspace(-12.0, 13.0, 2001)
  lp, lq = jnp.asarray(sps.norm.logpdf(grid, 0, 1)), jnp.asarray(sps.norm.logpdf(grid, 1, 1))
  exact = lambda params: float(kb.r2_quadrature(kb.critic_values(params, grid[:, None], 8), lp,
                                                lq, grid))
  p0, _ = kb.train_critic(jax.random.key(1), sp, sq, "r2", steps=1, batch=128, hidden=8,
                          learning_rate=0.0)
  p1, curve = kb.train_critic(jax.random.key(1), sp, sq, "r2", steps=300, batch=128, hidden=8)
  chex.assert_shape(curve, (300,))
  # Exact (quadrature) R2 rises with training and never exceeds KL(N(0,1) || N(1,1)) = 0.5.
  assert exact(p0) < exact(p1) <= 0.5 + 1e-9


# --- Q7 -------------------------------------------------------------------------------------

@pytest.mark.parametrize("shift", [0.0, 100.0])
def test_tilted_density_matches_scipy(dtype, shift):
  # q = N(1, 1.5^2), T = 0.8 x + sin(2x) + shift: log E_q e^T and log(r q) against scipy quad of
  # the definition in float64 (the shift factored out: e^100 overflows float32).
  grid = np.linspace(-14.0, 16.0, 3001)
  tf = lambda x: 0.8 * x + np.sin(2 * x)
  lq = sps.norm.logpdf(grid, 1.0, 1.5)
  ez, _ = integrate.quad(lambda x: np.exp(tf(x) + sps.norm.logpdf(x, 1.0, 1.5)), -np.inf,
                         np.inf, epsabs=0, epsrel=1e-13, limit=200)
  ref = math.log(ez) + shift
  t = (tf(grid) + shift).astype(dtype)
  got = float(kb.log_expectation_quadrature(t, lq.astype(dtype), grid.astype(dtype)))
  rtol = {np.float32: 2e-5, np.float64: 1e-10}[dtype]
  assert abs(got - ref) <= rtol * max(1.0, abs(ref))
  lr = np.asarray(kb.tilted_log_density(t, lq.astype(dtype), grid.astype(dtype)), np.float64)
  np.testing.assert_allclose(lr, tf(grid) + lq - math.log(ez), atol=rtol * max(1.0, abs(ref)))
  with pytest.raises(ValueError, match="`log_q`"):
    kb.tilted_log_density(t, lq[:-1], grid)


def test_jsd_quadrature_matches_scipy():
  grid = np.linspace(-12, 14, 5001)
  lp, lq = sps.norm.logpdf(grid, 0, 1), sps.norm.logpdf(grid, 1.3, 1.7)
  m = lambda x: 0.5 * (sps.norm.pdf(x, 0, 1) + sps.norm.pdf(x, 1.3, 1.7))
  f = lambda x: 0.5 * sps.norm.pdf(x, 0, 1) * np.log(sps.norm.pdf(x, 0, 1) / m(x)) + \
      0.5 * sps.norm.pdf(x, 1.3, 1.7) * np.log(sps.norm.pdf(x, 1.3, 1.7) / m(x))
  ref = integrate.quad(f, -12, 14, epsabs=1e-13)[0]
  np.testing.assert_allclose(dv.jsd_quadrature(jnp.asarray(lp), jnp.asarray(lq),
                                               jnp.asarray(grid)), ref, rtol=1e-9)


def test_kl_quadrature_matches_closed_form():
  grid = jnp.linspace(-15, 15, 3001)
  lp, lq = sps.norm.logpdf(grid, 0, 1), sps.norm.logpdf(grid, 1, 1)
  np.testing.assert_allclose(dv.kl_quadrature(jnp.asarray(lp), jnp.asarray(lq), grid), 0.5,
                             rtol=1e-9)


def test_wasserstein_matches_scipy():
  x = jax.random.normal(jax.random.key(0), (200,))
  y = 2 + 0.5 * jax.random.normal(jax.random.key(1), (200,))
  np.testing.assert_allclose(dv.wasserstein1_1d(x, y),
                             sps.wasserstein_distance(np.asarray(x), np.asarray(y)), rtol=1e-10)


def test_golden_section_finds_quadratic_max():
  c = jnp.array([-2.0, 0.3, 5.0])
  x, val = golden_section_max(lambda t: -(t - c) ** 2 + 1.0, -10 * jnp.ones(3), 10 * jnp.ones(3))
  np.testing.assert_allclose(x, c, atol=1e-7)
  np.testing.assert_allclose(val, 1.0, atol=1e-14)


@pytest.mark.parametrize("call, name", [
    (lambda: gan.optimal_discriminator(jnp.zeros(3), jnp.zeros(2)), "log_f1_x"),
    (lambda: gan.optimal_discriminator(jnp.array([jnp.nan]), jnp.zeros(1)), "log_f1_x"),
    (lambda: gan.density_from_discriminator(jnp.zeros(2), jnp.array([0.5, 1.5])), "d_x"),
    (lambda: gan.density_from_discriminator(jnp.zeros(2), jnp.array([-0.1, 0.5])), "d_x"),
    (lambda: kb.r1(jnp.zeros(0), jnp.zeros(3)), "t_p"),
    (lambda: kb.r2(jnp.zeros(3), jnp.array([jnp.nan])), "t_q"),
    (lambda: dv.jsd_monte_carlo(jnp.zeros(3), jnp.zeros(2), jnp.zeros(2), jnp.zeros(2)),
     "log_p_at_p"),
    (lambda: dv.jsd_quadrature(jnp.zeros(3), jnp.zeros(3), jnp.zeros(4)), "log_p"),
    (lambda: dv.wasserstein1_1d(jnp.zeros(3), jnp.zeros(4)), "x"),
    (lambda: kb.train_critic(jax.random.key(0), None, None, "r3"), "bound"),
    (lambda: kb.log_expectation_quadrature(jnp.zeros(3), jnp.zeros(3), jnp.zeros(4)), "t"),
    (lambda: kb.tilted_log_density(jnp.array([0.0, jnp.nan]), jnp.zeros(2), jnp.zeros(2)), "t"),
])
def test_bad_input(call, name):
  with pytest.raises(ValueError, match=f"`{name}`"):
    call()


def test_users_networks_train_and_jsd_reports_its_se():
  import flax.linen as nn
  from gdm_jax import kl_bounds as kb

  class Critic(nn.Module):   # a user's own architecture (one wide relu layer)
    @nn.compact
    def __call__(self, x):
      return nn.Dense(1)(jax.nn.relu(nn.Dense(24)(x)))

  sp = lambda k, n: jax.random.normal(k, (n, 1))
  sq = lambda k, n: 1.0 + jax.random.normal(k, (n, 1))
  params, curve = kb.train_critic(jax.random.key(0), sp, sq, "r2", steps=300, net=Critic())
  x = jnp.linspace(-8, 9, 2001)
  lp, lq = jax.scipy.stats.norm.logpdf(x), jax.scipy.stats.norm.logpdf(x, 1.0)
  t = kb.critic_values(params, x[:, None], net=Critic())
  assert float(kb.r2_quadrature(t, lp, lq, x)) > 0.8 * 0.5   # KL = 1/2
  kx1, kx0 = jax.random.split(jax.random.key(1))
  x1, x0 = 1.0 + jax.random.normal(kx1, (512, 1)), jax.random.normal(kx0, (512, 1))
  dp, _ = gan.train_discriminator(jax.random.key(2), x1, x0, steps=200, net=Critic())
  assert gan.discriminator_logit(dp, jnp.array([[3.0]]), net=Critic()) > 0
  # The JSD estimate's SE against the spread of independent estimates.
  def one(k):
    k1, k2 = jax.random.split(k)
    a, b = jax.random.normal(k1, (200,)), 1.0 + jax.random.normal(k2, (200,))
    n = jax.scipy.stats.norm.logpdf
    return dv.jsd_monte_carlo(n(a), n(a, 1.0), n(b), n(b, 1.0), with_se=True)
  est, se = jax.vmap(one)(jax.random.split(jax.random.key(3), 400))
  np.testing.assert_allclose(np.mean(se), np.std(est, ddof=1), rtol=0.15)
