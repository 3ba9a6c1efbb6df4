"""vae.py: the Bernoulli log-likelihood against scipy, log p(x, z) against scipy's densities,
L_K of a 1-latent VAE against log p(x) by quadrature, the log-weights' ELBO and the per-point q*
against a LinearGaussian's closed forms; and the digits experiment's command line at a tiny
budget."""
import csv

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats as sps
from scipy.special import expit, logsumexp

from gdm_jax import amortized as am, models, stats, vae as vl

F64 = jnp.float64


def test_bernoulli_log_prob_matches_scipy():
  rng = np.random.default_rng(0)
  logits = rng.normal(0, 4, (5, 7))
  x = (rng.random((5, 7)) < 0.5).astype(np.float64)
  want = sps.bernoulli.logpmf(x, expit(logits)).sum(-1)
  np.testing.assert_allclose(vl.bernoulli_log_prob(jnp.asarray(x), jnp.asarray(logits)), want,
                             rtol=1e-10)
  # Log space: logits of +-800 (sigma = 0 or 1 in floating point) give l x - softplus(l) exactly.
  big = jnp.array([[-800.0, 800.0, -800.0, 800.0]], F64)
  got = vl.bernoulli_log_prob(jnp.array([[0.0, 1.0, 1.0, 0.0]], F64), big)
  np.testing.assert_allclose(got, [-1600.0], rtol=1e-12)


def test_bernoulli_log_prob_bad_input():
  with pytest.raises(ValueError, match="binary"):
    vl.bernoulli_log_prob(jnp.array([0.5, 1.0]), jnp.zeros(2))
  with pytest.raises(ValueError, match="one logit per pixel"):
    vl.bernoulli_log_prob(jnp.array([0.0, 1.0]), jnp.zeros(3))
  with pytest.raises(ValueError, match="last"):
    vl.bernoulli_log_prob(jnp.asarray(1.0), jnp.asarray(0.0))


def _toy(latent=1, data=4, seed=0):
  model = vl.BernoulliVAE(data, latent, (5,))
  params = model.init(jax.random.key(seed), jnp.zeros((1, data), F64))
  params = jax.tree_util.tree_map(lambda p: (2.0 * p).astype(F64), params)  # a peakier decoder
  return model, params


def test_log_joint_matches_scipy_densities():
  model, params = _toy(latent=2)
  x = jnp.array([1.0, 0.0, 1.0, 1.0], F64)
  z = jax.random.normal(jax.random.key(1), (3, 2), F64)
  logits = np.asarray(model.apply(params, z, method=vl.BernoulliVAE.decode))
  want = (sps.norm.logpdf(np.asarray(z)).sum(-1)
          + sps.bernoulli.logpmf(np.asarray(x), expit(logits)).sum(-1))
  np.testing.assert_allclose(vl.log_joint(model, params, x, z), want, rtol=1e-10)
  with pytest.raises(ValueError, match="latent_dim"):
    vl.log_joint(model, params, x, jnp.zeros((3, 3)))
  with pytest.raises(ValueError, match="BernoulliVAE"):
    vl.log_joint(object(), params, x, z)


def test_iwae_objective_approaches_log_marginal_by_quadrature():
  model, params = _toy(latent=1)
  x = jnp.array([[1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.0]], F64)
  grid = np.linspace(-12.0, 12.0, 24001)
  lj = np.stack([np.asarray(vl.log_joint(model, params, xi, jnp.asarray(grid[:, None])))
                 for xi in x])
  h = grid[1] - grid[0]
  log_px = logsumexp(lj, axis=-1, b=np.r_[0.5, np.ones(grid.size - 2), 0.5] * h)
  f = jax.jit(jax.vmap(lambda k: vl.iwae_objective(k, model, params, x, 4000, 1000)))
  est = np.asarray(f(jax.random.split(jax.random.key(2), 50)))       # [50, 2]
  z = stats.z_for_rate(1e-4)
  for b in range(2):
    m = stats.mean_and_se(est[:, b])
    # L_4000 <= log p(x) (a lower bound); its bias is ~ Var(w)/(2 K E[w]^2), well below 0.01 nats.
    assert m.mean <= log_px[b] + z * m.se
    assert log_px[b] - m.mean <= 0.01 + z * m.se
  elbo = np.asarray(jax.jit(jax.vmap(lambda k: vl.iwae_objective(k, model, params, x, 1)))(
      jax.random.split(jax.random.key(3), 400))).mean(0)
  assert np.all(elbo < est.mean(0))  # L_1 < L_4000 on average (a gap of nats here)


def test_log_weights_give_the_closed_form_elbo():
  lg = models.random_linear_gaussian(jax.random.key(0), 2, 5, 0.5, F64)
  x, _ = lg.sample(jax.random.key(1), 3)
  mean = jnp.array([[0.3, -0.2], [0.0, 0.5], [1.0, 1.0]], F64)
  std = jnp.array([[0.5, 0.8], [1.0, 0.3], [0.7, 0.7]], F64)
  lw = vl.diag_gaussian_log_weights(jax.random.key(2), lambda xi, z: lg.log_joint(xi, z), x, mean,
                                    std, 20000)
  assert lw.shape == (3, 20000)
  want = np.asarray(am.closed_form_elbo(lg, x, mean, std))
  z = stats.z_for_rate(1e-4 / 3)
  for b in range(3):
    m = stats.mean_and_se(np.asarray(lw[b]))
    assert abs(m.mean - want[b]) <= z * m.se
  with pytest.raises(ValueError, match="one proposal per data point"):
    vl.diag_gaussian_log_weights(jax.random.key(3), lambda xi, z: lg.log_joint(xi, z), x[:2],
                                 mean, std, 4)
  with pytest.raises(ValueError, match="positive"):
    vl.diag_gaussian_log_weights(jax.random.key(4), lambda xi, z: lg.log_joint(xi, z), x, mean,
                                 -std, 4)
  # A log_joint returning [n, 1] broadcast against log q [n] to a wrong [B, n, n].
  with pytest.raises(ValueError, match=r"`log_joint_fn` must map .* it returns \(4, 1\)"):
    vl.diag_gaussian_log_weights(jax.random.key(5), lambda xi, z: lg.log_joint(xi, z)[:, None],
                                 x, mean, std, 4)


def test_fit_local_gaussians_reaches_the_mean_field_optimum():
  lg = models.random_linear_gaussian(jax.random.key(0), 2, 5, 0.5, F64)
  x, _ = lg.sample(jax.random.key(1), 4)
  init_m, init_s = jnp.zeros((4, 2), F64), jnp.ones((4, 2), F64)
  fit = jax.jit(lambda k: vl.fit_local_gaussians(k, lambda xi, z: lg.log_joint(xi, z), x, init_m,
                                                 init_s, 600, 64, 0.05))
  m, s = fit(jax.random.key(2))
  opt_m, opt_s = am.mean_field_optimum(lg, x)
  best = np.asarray(am.closed_form_elbo(lg, x, opt_m, opt_s))
  got = np.asarray(am.closed_form_elbo(lg, x, m, s))
  start = np.asarray(am.closed_form_elbo(lg, x, init_m, init_s))
  # The ELBO is quadratic near its optimum: Adam's remaining noise costs < 1e-3 nats per point,
  # against a start 1-10 nats below.
  assert np.all(best - got >= -1e-12) and np.all(best - got < 1e-3)
  assert np.all(best - start > 0.5)
  m0, s0 = vl.fit_local_gaussians(jax.random.key(3), lambda xi, z: lg.log_joint(xi, z), x, init_m,
                                  init_s, 0)
  np.testing.assert_array_equal(m0, init_m)
  np.testing.assert_allclose(s0, init_s, rtol=1e-15)
  with pytest.raises(ValueError, match="learning_rate"):
    vl.fit_local_gaussians(jax.random.key(4), lambda xi, z: lg.log_joint(xi, z), x, init_m,
                           init_s, 3, 4, 0.0)


@pytest.mark.slow
def test_vae_digits_experiment_runs_at_a_tiny_budget(tmp_path, monkeypatch):
  """The real pipeline (command line, training, L_K, gaps, SNR, figure, tables) on a shrunken
  configuration: `--quick --steps 8` with smaller evaluation counts (the `--quick` run itself
  takes ~1 min on a loaded 2-core machine, mostly compiling)."""
  pytest.importorskip("sklearn")
  from gdm_jax.experiments import vae_digits
  assert vae_digits.config(True, 8).steps == 8 and vae_digits.config(False).steps == 8000
  quick = vae_digits.config
  tiny = lambda q, steps=None: quick(q, steps)._replace(
      checkpoints=2, eval_k=20, eval_chunk=8, gap_points=4, gap_steps=3, gap_samples=8,
      snr_ks=(1, 2, 4), snr_replicates=8, snr_batch=2)
  monkeypatch.setattr(vae_digits, "config", tiny)
  vae_digits.main(["--quick", "--steps", "8", "--out", str(tmp_path)])
  assert (tmp_path / "vae_digits.png").stat().st_size > 1000
  with open(tmp_path / "vae_digits_ordering.csv") as f:
    rows = list(csv.reader(f))
  assert [r[0] for r in rows[1:]] == ["k=5 - k=1", "k=50 - k=5", "k=50 - k=1"]
  for name in ("ll", "gaps", "snr", "snr_slopes"):
    assert (tmp_path / f"vae_digits_{name}.md").read_text().startswith("|")
  with pytest.raises(SystemExit):
    vae_digits.main(["--steps", "0"])
