"""bounds.py: iwae_bound against scipy's logsumexp; estimators against exact log p(x)."""
import math
import os
import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl.testing import parameterized
from hypothesis import given, settings, strategies as st
from scipy.special import logsumexp

from gdm_jax import bounds, models, stats


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1e4, 1e4), min_size=1, max_size=20))
def test_iwae_bound_matches_scipy(lw):
  lw = np.asarray(lw)
  np.testing.assert_allclose(bounds.iwae_bound(jnp.asarray(lw)),
                             logsumexp(lw) - math.log(lw.size), rtol=1e-12, atol=1e-9)


def test_iwae_bound_infinities():
  assert float(bounds.iwae_bound(jnp.full((4,), -jnp.inf))) == -np.inf
  np.testing.assert_allclose(bounds.iwae_bound(jnp.array([-jnp.inf, 0.0])), -math.log(2))
  got = bounds.iwae_bound(jnp.array([1e4, 1e4], jnp.float32))
  assert np.isfinite(got) and float(got) == 1e4


def test_prefix_bounds_equal_direct_bounds():
  lw = jax.random.normal(jax.random.key(0), (3, 9), jnp.float64)
  pre = bounds.prefix_bounds(lw)
  for k in range(1, 10):
    np.testing.assert_allclose(pre[:, k - 1], bounds.iwae_bound(lw[:, :k]), rtol=1e-12)


def _problem():
  m = models.random_linear_gaussian(jax.random.key(1), 2, 4, 0.7, jnp.float64)
  x = m.sample(jax.random.key(2), 1)[0][0]
  pm, pc = m.posterior(x)
  return m, x, pm, pc


@pytest.fixture(scope="module")
def problem():
  return _problem()


class ExactPosteriorTest(chex.TestCase):
  """q = p(z|x) makes every log-weight log p(x): the estimate is exact for every draw, eagerly
  (the chunk loop also carries the NaN flags it reads back) and under ``jit`` (it does not)."""

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.named_parameters(("f32", jnp.float32), ("f64", jnp.float64))
  def test_exact_posterior_gives_log_marginal_for_every_draw(self, dtype):
    m, x, pm, pc = _problem()
    m = jax.tree_util.tree_map(lambda a: a.astype(dtype), m)
    x, pm, pc = x.astype(dtype), pm.astype(dtype), pc.astype(dtype)
    prop = bounds.full_gaussian_proposal(pm, pc)
    # K = 16 in chunks of 5: three scanned chunks and a remainder of 1.
    got = self.variant(lambda k: bounds.iwae_estimate(k, lambda z: m.log_joint(x, z), prop, 16,
                                                      chunk_size=5))(jax.random.key(3))
    chex.assert_shape(got, ())
    chex.assert_type(got, dtype)
    tol = {jnp.float32: 2e-5, jnp.float64: 1e-10}[dtype]
    np.testing.assert_allclose(got, m.log_marginal(x), rtol=tol)


def test_chunked_path_is_exact_for_constant_weights():
  # Every log-weight is 0, so L_K = log 1 = 0 exactly for any K and chunking (remainders too).
  def sample_and_log_q(key, n):
    del key
    return jnp.zeros((n, 1)), jnp.zeros((n,))

  for K, chunk in [(10, 3), (1000, 96), (7, 7), (5, 100)]:
    got = bounds.iwae_estimate(jax.random.key(0), lambda z: jnp.zeros(z.shape[0]),
                               sample_and_log_q, K, chunk)
    np.testing.assert_allclose(got, 0.0, atol=1e-12)


def test_chunked_is_unbiased_within_se(problem):
  m, x, pm, pc = problem
  qm, qs = pm + 0.2, 1.3 * jnp.sqrt(jnp.diagonal(pc))
  prop = bounds.diag_gaussian_proposal(qm, qs)
  f = jax.jit(jax.vmap(lambda k: bounds.iwae_estimate(k, lambda z: m.log_joint(x, z), prop, 200,
                                                      chunk_size=64)))
  g = jax.jit(jax.vmap(lambda k: bounds.iwae_estimate(k, lambda z: m.log_joint(x, z), prop, 200)))
  a = np.asarray(f(jax.random.split(jax.random.key(5), 2000)))
  b = np.asarray(g(jax.random.split(jax.random.key(6), 2000)))
  ma, mb = stats.mean_and_se(a), stats.mean_and_se(b)
  z = stats.z_for_rate(1e-4)
  assert abs(ma.mean - mb.mean) <= z * math.hypot(ma.se, mb.se)


def test_estimator_compiles_once_per_shape(problem):
  m, x, pm, pc = problem
  chex.clear_trace_counter()  # counters are keyed on the lambda's source: a rerun starts at 0
  est = jax.jit(chex.assert_max_traces(lambda k, qm: bounds.linear_gaussian_iwae(
      k, m, x[None], qm[None], jnp.ones((1, 2)), 16), n=1))
  est(jax.random.key(0), pm)
  est(jax.random.key(1), pm + 1.0)  # new values, same shapes: a second trace raises


def test_large_k_runs_in_flat_memory():
  """K = 10^7 with chunks of 2^16: peak RSS of a fresh process stays far below the one-shot need."""
  code = r"""
import jax, jax.numpy as jnp
from gdm_jax import bounds
prop = bounds.diag_gaussian_proposal(jnp.zeros(8), jnp.ones(8))
f = jax.jit(lambda k: bounds.iwae_estimate(k, lambda z: -0.5 * jnp.sum(z * z, -1) - 7.3515,
                                           prop, 10_000_000, chunk_size=65536))
v = float(f(jax.random.key(0)))
# VmHWM is this process's own peak (ru_maxrss would carry the forking parent's across exec).
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(v, int(hwm) / 1024)
"""
  # XLA's default optimisation (not the suite's compile-time flags): 10^7 samples are compute
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env=env)
  val, rss_mb = map(float, out.stdout.split())
  assert np.isfinite(val) and abs(val) < 1e-3  # log p = q exactly: log-weights all equal
  # One-shot K = 10^7 x 8 float32 samples would need >= 320 MB for z alone.
  assert rss_mb < 900, rss_mb


@pytest.mark.parametrize("call, name", [
    (lambda: bounds.iwae_estimate(jax.random.key(0), lambda z: z[:, 0],
                                  bounds.diag_gaussian_proposal(jnp.zeros(1), jnp.ones(1)), 0),
     "K"),
    (lambda: bounds.iwae_estimate(jax.random.key(0), lambda z: z[:, 0],
                                  bounds.diag_gaussian_proposal(jnp.zeros(1), jnp.ones(1)), 2.5),
     "K"),
    (lambda: bounds.iwae_estimate(jax.random.key(0), lambda z: z[:, 0],
                                  bounds.diag_gaussian_proposal(jnp.zeros(1), jnp.ones(1)), 10,
                                  chunk_size=0), "chunk_size"),
    (lambda: bounds.iwae_bound(jnp.array([0.0, jnp.nan])), "log_w"),
    (lambda: bounds.iwae_bound(jnp.zeros((0,))), "log_w"),
    (lambda: bounds.diag_gaussian_proposal(jnp.zeros(2), jnp.array([1.0, 0.0])), "std"),
])
def test_bad_input(call, name):
  with pytest.raises(ValueError, match=f"`{name}`"):
    call()


def test_iwae_estimate_batch_equals_per_point_estimates():
  m = models.random_linear_gaussian(jax.random.key(4), 2, 3, 0.6, jnp.float64)
  xs = m.sample(jax.random.key(5), 3)[0]
  prop = lambda x: bounds.full_gaussian_proposal(*m.posterior(x))  # exact posterior per point
  got = bounds.iwae_estimate_batch(jax.random.key(6), m.log_joint, prop, xs, 4)
  np.testing.assert_allclose(got, m.log_marginal(xs), rtol=1e-10)   # zero variance at q = p(z|x)
  keys = jax.random.split(jax.random.key(6), 3)
  q = lambda x: bounds.diag_gaussian_proposal(jnp.zeros(2), jnp.ones(2))
  got = bounds.iwae_estimate_batch(jax.random.key(6), m.log_joint, q, xs, 5, chunk_size=2)
  chex.clear_trace_counter()
  one = jax.jit(chex.assert_max_traces(
      lambda k, x: bounds.iwae_estimate(k, lambda z: m.log_joint(x, z), q(x), 5, 2), n=1))
  for i in range(3):  # one compiled program for the three points
    np.testing.assert_allclose(got[i], one(keys[i], xs[i]), rtol=1e-12)


def test_elbo_is_the_mean_of_log_weights():
  lw = np.array([[0.3, -1.2, 2.0], [1e4, 1e4 - 1.0, -np.inf]])
  np.testing.assert_allclose(bounds.elbo(jnp.asarray(lw[:1]), axis=-1), lw[:1].mean(-1))
  assert float(bounds.elbo(jnp.asarray(lw[1]))) == -np.inf


def _wide_problem(dtype, width=257):
  """log_joint whose widest per-sample intermediate is ``tanh(z @ W)``: ``width`` floats; the
  constant ``W W^T`` is wider still but does not grow with the samples."""
  w = jnp.linspace(-1.0, 1.0, 3 * width, dtype=dtype).reshape(3, width)
  big = jnp.ones((600, 600), dtype)

  def log_joint(z):
    return jnp.sum(jnp.tanh(z @ w), -1) + jnp.sum(big @ big) * 0.0 - 0.5 * jnp.sum(z * z, -1)
  return log_joint, bounds.diag_gaussian_proposal(jnp.zeros(3, dtype), jnp.ones(3, dtype))


@pytest.mark.parametrize("dtype,itemsize", [(jnp.float32, 4), (jnp.float64, 8)])
def test_per_sample_bytes_counts_the_widest_intermediate(dtype, itemsize):
  with jax.enable_x64(dtype == jnp.float64):
    lj, prop = _wide_problem(dtype)
    widest, total = bounds.per_sample_bytes(jax.random.key(0), lj, prop)
  assert widest == 257 * itemsize          # [n, 257]; the [600, 600] constant cancels
  assert total >= widest + 3 * itemsize    # at least z [n, 3] besides


def test_auto_chunk_size_follows_its_formula(monkeypatch):
  lj, prop = _wide_problem(jnp.float32)
  monkeypatch.setitem(bounds.AUTO_CHUNK_BYTES, jax.default_backend(), 257 * 4 * 100)
  key = jax.random.key(0)
  assert bounds.auto_chunk_size(key, lj, prop, 1000, 1) == 100          # T / w, divides K
  assert bounds.auto_chunk_size(key, lj, prop, 1000, batch=4) == 25     # T / (B w)
  assert bounds.auto_chunk_size(key, lj, prop, 1200, batch=3) == 30     # 33 -> a divisor of K
  assert bounds.auto_chunk_size(key, lj, prop, 997, 1) == 100           # prime K: no divisor
  assert bounds.auto_chunk_size(key, lj, prop, 80, 1) == 80             # one shot
  assert bounds.ASSUMED_BATCH == 8
  assert bounds.auto_chunk_size(key, lj, prop, 1000) == 10   # None: 8 points, 12 -> divisor 10
  # the default call is the chunked estimate at that chunk, draw for draw
  got = bounds.iwae_estimate(key, lj, prop, 1000)
  want = bounds.iwae_estimate(key, lj, prop, 1000, 10)
  one_shot = bounds.iwae_estimate(key, lj, prop, 1000, 1000)
  assert float(got) == float(want) and float(got) != float(one_shot)
  with pytest.raises(ValueError, match="`batch`"):
    bounds.auto_chunk_size(key, lj, prop, 1000, batch=0)


def _surrogate_problem():
  model = models.LinearGaussian(jnp.array([[1.0, 0.5], [-0.3, 0.8], [0.2, -1.1]], jnp.float64),
                                jnp.array([0.3, -0.2, 0.5], jnp.float64), jnp.asarray(0.7))
  x = jnp.array([0.5, -1.0, 0.2], jnp.float64)
  eps = jax.random.normal(jax.random.key(3), (5, 2), jnp.float64)
  return model, x, eps, jnp.array([0.4, -0.2]), jnp.log(jnp.array([0.6, 1.3]))


def test_stl_gradient_is_iwae_less_the_score_term():
  # Oracle, written out here: grad STL = grad IWAE + sum_k w_tilde_k grad_phi log q(z_k; phi)
  # at fixed z, with grad_(mu, log s) log N(z; mu, s) = ((z - mu) / s^2, (z - mu)^2 / s^2 - 1).
  model, x, eps, m, ls = _surrogate_problem()
  sur = lambda name: jax.grad(lambda a, b: getattr(bounds.iwae_surrogates(eps, model, a, b, x),
                                                   name), (0, 1))(m, ls)
  s = jnp.exp(ls)
  z = m + s * eps
  log_w = model.log_joint(x, z) - jnp.sum(-0.5 * eps ** 2 - ls - 0.5 * np.log(2 * np.pi), -1)
  wt = np.asarray(jax.nn.softmax(log_w))[:, None]
  score = (np.sum(wt * np.asarray(eps / s), 0), np.sum(wt * np.asarray(eps ** 2 - 1), 0))
  for gi, gs, sc in zip(sur("iwae"), sur("stl"), score):
    np.testing.assert_allclose(gs, np.asarray(gi) + sc, rtol=1e-10, atol=1e-12)
  out = bounds.iwae_surrogates(eps, model, m, ls, x)
  assert isinstance(out, bounds.Surrogates)
  np.testing.assert_allclose(out.stl, out.iwae, rtol=1e-12)  # same value, other gradient


def test_stl_and_dreg_vanish_at_the_posterior():
  # One latent: p(z|x) is a 1-D Gaussian, in the encoder family; there log w(z; sg(phi)) is
  # log p(x) for every z, so both encoder gradients are 0 for every draw (K = 5 here).
  model, x, eps, _, _ = _surrogate_problem()
  lg = models.LinearGaussian(jnp.array([[1.2], [-0.4], [0.5]], jnp.float64), model.b,
                             model.noise_std)
  pm, pc = lg.posterior(x)
  for name in ("stl", "dreg"):
    g = jax.grad(lambda a, b: getattr(bounds.iwae_surrogates(eps[:, :1], lg, a, b, x), name),
                 (0, 1))(pm, 0.5 * jnp.log(jnp.diagonal(pc)))
    np.testing.assert_allclose(np.concatenate(g), 0.0, atol=1e-12)
  g = jax.grad(lambda a: bounds.iwae_surrogates(eps[:, :1], lg, a, jnp.log(jnp.sqrt(
      jnp.diagonal(pc))), x).iwae)(pm)
  assert np.max(np.abs(g)) > 1e-3  # IWAE's is not (its score term)


def test_iwae_surrogates_refuse_mismatched_shapes():
  model, x, eps, m, ls = _surrogate_problem()
  with pytest.raises(ValueError, match="`eps`"):
    bounds.iwae_surrogates(eps[0], model, m, ls, x)
  with pytest.raises(ValueError, match="`q_mean`"):
    bounds.iwae_surrogates(eps[:, :1], model, m, ls, x)


# --- Generic surrogates, the Renyi bound and VIMCO (issue 23) ---------------------------------

def _logistic_problem():
  """A non-Gaussian posterior: Bayesian logistic regression, z ~ N(0, I_2),
  y_i ~ Bernoulli(sigmoid(a_i . z)); its gradient in z written out for the oracle."""
  a = jnp.array([[1.0, -0.5], [0.3, 1.2], [-0.8, 0.4], [1.5, 0.9]], jnp.float64)
  y = jnp.array([1.0, 0.0, 1.0, 1.0], jnp.float64)

  def log_joint(z):                                          # [K, 2] -> [K]
    u = z @ a.T
    return -0.5 * jnp.sum(z * z, -1) + jnp.sum(y * u - jax.nn.softplus(u), -1)

  def grad_z(z):                                             # by hand: -z + A^T (y - sigmoid(Az))
    return -z + (y - 1.0 / (1.0 + np.exp(-np.asarray(z @ a.T)))) @ np.asarray(a)

  return log_joint, grad_z


def test_generic_surrogates_match_tucker_et_al_formulas():
  # Oracle (Tucker et al. 2019, eqs. (5)-(7); google-research/dreg_estimators), written out on
  # the same noise draws: with z_k = mu + s eps_k, path_k = d log w_k / d z_k at fixed phi =
  # grad log p(z_k) + (z_k - mu) / s^2, dz/dmu = 1, dz/dlog s = s eps, and the score at fixed z
  # d log q / d(mu, log s) = (eps / s, eps^2 - 1):
  # IWAE = sum w~ (path dz/dphi - score), STL = sum w~ path dz/dphi, DReG = sum w~^2 path dz/dphi.
  log_joint, grad_z = _logistic_problem()
  eps = jax.random.normal(jax.random.key(7), (6, 2), jnp.float64)
  m, ls = jnp.array([0.3, -0.2]), jnp.log(jnp.array([0.7, 1.1]))
  mine = bounds.Reparam(lambda p, e: p[0] + jnp.exp(p[1]) * e,
                        lambda p, z: models.diag_gaussian_log_prob(z, p[0], jnp.exp(p[1])))
  e, s = np.asarray(eps), np.exp(np.asarray(ls))
  z = np.asarray(m) + s * e
  log_q = np.sum(-0.5 * e ** 2 - np.log(s) - 0.5 * np.log(2 * np.pi), -1)
  lw = np.asarray(log_joint(jnp.asarray(z))) - log_q
  wt = np.exp(lw - logsumexp(lw))[:, None]
  path = grad_z(z) + (z - np.asarray(m)) / s ** 2
  path_phi = (path, path * s * e)
  score = (e / s, e ** 2 - 1)
  want = {"iwae": [np.sum(wt * (p - c), 0) for p, c in zip(path_phi, score)],
          "stl": [np.sum(wt * p, 0) for p in path_phi],
          "dreg": [np.sum(wt ** 2 * p, 0) for p in path_phi]}
  for prop in (mine, bounds.DIAG_GAUSSIAN):
    for name, w in want.items():
      got = jax.grad(lambda p: getattr(bounds.surrogates(eps, log_joint, prop, p), name))((m, ls))
      np.testing.assert_allclose(np.concatenate(got), np.concatenate(w), rtol=1e-10, atol=1e-12)
  out = bounds.surrogates(eps, log_joint, mine, (m, ls))
  np.testing.assert_allclose(out.iwae, logsumexp(lw) - np.log(6), rtol=1e-12)


def test_linear_gaussian_surrogates_are_the_generic_ones():
  model, x, eps, m, ls = _surrogate_problem()
  a = bounds.iwae_surrogates(eps, model, m, ls, x)
  b = bounds.surrogates(eps, lambda z: model.log_joint(x, z), bounds.DIAG_GAUSSIAN, (m, ls))
  for name in a._fields:
    ga = jax.grad(lambda p: getattr(bounds.iwae_surrogates(eps, model, *p, x), name))((m, ls))
    gb = jax.grad(lambda p: getattr(bounds.surrogates(
        eps, lambda z: model.log_joint(x, z), bounds.DIAG_GAUSSIAN, p), name))((m, ls))
    np.testing.assert_array_equal(np.concatenate(ga), np.concatenate(gb))
    assert float(getattr(a, name)) == float(getattr(b, name))


def test_surrogates_refuse_bad_input():
  log_joint, _ = _logistic_problem()
  eps = jnp.zeros((3, 2))
  p = (jnp.zeros(2), jnp.zeros(2))
  with pytest.raises(ValueError, match="`proposal`"):
    bounds.surrogates(eps, log_joint, lambda k, n: None, p)
  with pytest.raises(ValueError, match="`log_joint`"):
    bounds.surrogates(eps, lambda z: log_joint(z)[:, None], bounds.DIAG_GAUSSIAN, p)
  with pytest.raises(ValueError, match="`eps`"):
    bounds.surrogates(jnp.zeros((0, 2)), log_joint, bounds.DIAG_GAUSSIAN, p)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-50, 50), min_size=1, max_size=12),
       st.sampled_from([-2.0, -1.0, -0.5, 0.0, 0.3, 0.5, 0.999, 1.0, 1.001, 2.0, 3.0]))
def test_renyi_bound_matches_its_definition(lw, alpha):
  # Oracle: Li & Turner (2016) eq. (7) in float64 by scipy's logsumexp; alpha = 1 its limit, the
  # mean log-weight (the ELBO).
  lw = np.asarray(lw)
  want = (lw.mean() if alpha == 1 else
          (logsumexp((1 - alpha) * lw) - math.log(lw.size)) / (1 - alpha))
  np.testing.assert_allclose(bounds.renyi_bound(jnp.asarray(lw), alpha), want, rtol=1e-11,
                             atol=1e-9)


def test_renyi_bound_limits_order_and_zero_weights():
  lw = jnp.asarray(np.random.default_rng(1).normal(-3.0, 1.5, (4, 16)))
  np.testing.assert_allclose(bounds.renyi_bound(lw, 0.0), bounds.iwae_bound(lw), rtol=1e-13)
  np.testing.assert_allclose(bounds.renyi_bound(lw, 1.0), bounds.elbo(lw), rtol=1e-13)
  # alpha -> 1: L_(1 - d) = mean + (d / 2) Var_k(log w) + O(d^2) (cumulant expansion)
  var = np.var(np.asarray(lw), -1)
  for d in (1e-3, -1e-3):
    np.testing.assert_allclose(bounds.renyi_bound(lw, 1 - d) - bounds.elbo(lw), d / 2 * var,
                               rtol=1e-2)
  # non-increasing in alpha for every draw (power means)
  ls = np.stack([bounds.renyi_bound(lw, a) for a in (-1.0, 0.0, 0.5, 1.0, 2.0)])
  assert np.all(np.diff(ls, axis=0) <= 1e-12)
  assert float(bounds.renyi_bound(jnp.array([-jnp.inf, 0.0]), 2.0)) == -np.inf
  assert float(bounds.renyi_bound(jnp.array([-jnp.inf, -jnp.inf]), 0.5)) == -np.inf
  np.testing.assert_allclose(bounds.renyi_bound(jnp.array([-jnp.inf, 0.0]), 0.5),
                             2 * math.log(0.5))
  got = bounds.renyi_bound(jnp.array([1e4, 1e4 + 1.0], jnp.float32), 1 - 1e-4)
  np.testing.assert_allclose(got, 1e4 + 0.5 + 1e-4 / 8, rtol=1e-7)
  with pytest.raises(ValueError, match="`alpha`"):
    bounds.renyi_bound(lw, float("inf"))
  with pytest.raises(ValueError, match="`alpha`"):
    bounds.renyi_bound(lw, jnp.asarray(0.5))


def test_vimco_baselines_and_gradient_by_enumeration():
  # One Bernoulli latent z in {0, 1} with logit phi, p(x, z) fixed numbers, K = 3: every one of
  # the 2^3 draws enumerated. Oracle: the leave-one-out baselines from Mnih & Rezende (2016)
  # eq. (10) by hand, and E[VIMCO gradient] = E[REINFORCE gradient] = d L_3 / d phi by central
  # differences of the enumerated L_3(phi) (no gradient formula at all).
  log_p = np.array([-2.0, -0.7])                             # log p(x, z = 0), log p(x, z = 1)
  K = 3

  def lq(phi, z):
    return z * -np.log1p(np.exp(-phi)) + (1 - z) * -np.log1p(np.exp(phi))

  def l_k(phi):
    out = 0.0
    for bits in np.ndindex(*(2,) * K):
      z = np.asarray(bits)
      out += np.exp(np.sum(lq(phi, z))) * (logsumexp(log_p[z] - lq(phi, z)) - np.log(K))
    return out

  phi0 = 0.4
  exact = (l_k(phi0 + 1e-5) - l_k(phi0 - 1e-5)) / 2e-5
  means = {"vimco": 0.0, "reinforce": 0.0}
  for bits in np.ndindex(*(2,) * K):
    z = np.asarray(bits, np.float64)
    zi = np.asarray(bits)
    lw = log_p[zi] - lq(phi0, z)
    loo = [logsumexp(np.append(np.delete(lw, k), np.mean(np.delete(lw, k)))) - np.log(K)
           for k in range(K)]
    np.testing.assert_allclose(bounds.vimco_baselines(jnp.asarray(lw)), loo, rtol=1e-12)
    prob = np.exp(np.sum(lq(phi0, z)))
    for name in means:
      g = jax.grad(lambda ph: getattr(bounds.score_function_surrogates(
          jnp.asarray(log_p[zi]), z * -jax.nn.softplus(-ph) + (1 - z) * -jax.nn.softplus(ph)),
          name))(jnp.asarray(phi0))
      means[name] += prob * float(g)
  for name, m in means.items():
    np.testing.assert_allclose(m, exact, rtol=1e-8, err_msg=name)


def test_score_function_surrogates_refuse_bad_input():
  with pytest.raises(ValueError, match="`log_q`"):
    bounds.score_function_surrogates(jnp.zeros(3), jnp.zeros(4))
  with pytest.raises(ValueError, match="K >= 2"):
    bounds.vimco_baselines(jnp.zeros(1))
