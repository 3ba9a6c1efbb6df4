"""A VAE on real data: scikit-learn's 8x8 digits (binarised), trained as a VAE (k = 1) and as an
IWAE (k = 5, k = 50) at the same budget; test L_5000 and Burda et al.'s ordering, Cremer et al.'s
approximation and amortisation gaps, Rainforth et al.'s gradient SNR versus K.

Data: ``sklearn.datasets.load_digits`` (1797 images, bundled with scikit-learn: no download),
pixels 0..16 binarised as ``x = (pixel >= 8)``; a fixed split without randomness: every 6th image
(index % 6 == 0, 300 images) is the test set, the other 1497 the training set. Model: Burda et
al.'s 1-stochastic-layer shape scaled to 64 pixels: encoder 64-32-32-(8 mean, 8 log-std) and
decoder 8-32-32-64 (tanh hidden layers, Bernoulli logits). The three objectives share the
initialisation, the minibatch sequence and the sample keys: Adam (step 1e-3), batch 100, the same
number of steps.
"""
from __future__ import annotations

import functools
import math
import os
import sys
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from gdm_jax import bounds, stats, sweeps, vae as vl
from gdm_jax.experiments import common
from gdm_jax.experiments.common import out_dir, plt, save, write_table

#: Burda et al. 2016, Table 1, MNIST, one stochastic layer: test L_5000 (nats).
BURDA_MNIST = {1: -86.76, 5: -85.54, 50: -84.78}
OBJECTIVES = (1, 5, 50)


class Config(NamedTuple):
  steps: int            # Adam steps per objective
  checkpoints: int      # test L_100 evaluated this many times during training
  batch: int = 100
  learning_rate: float = 1e-3
  hidden: tuple = (32, 32)
  latent: int = 8
  eval_k: int = 5000    # L_5000
  eval_chunk: int | None = 500
  train_eval: int = 300  # training points on which L_5000 is also reported (over-fitting); as
                         # many as test points, so that one compiled program serves both
  gap_points: int = 100  # test points for Cremer et al.'s decomposition
  gap_steps: int = 1000  # Adam steps of each q*
  gap_samples: int = 2000  # samples of the ELBOs at q* and q_phi
  snr_ks: tuple = (1, 4, 16, 64, 256)
  snr_replicates: int = 500
  snr_batch: int = 8     # training images in the gradient (memory ~ replicates x batch x K)


def config(quick: bool, steps: int | None = None) -> Config:
  # --quick: L_100 at the end too (the checkpoints' compiled program serves it), fewer steps.
  c = (Config(steps=200, checkpoints=4, eval_k=100, eval_chunk=None, gap_points=20,
              gap_steps=100, gap_samples=500, snr_ks=(1, 8, 64), snr_replicates=100) if quick
       else Config(steps=8000, checkpoints=10))
  if steps is not None:
    c = c._replace(steps=int(steps))
  return c._replace(steps=max(c.checkpoints, c.steps // c.checkpoints * c.checkpoints))


def load_data():
  """Binarised digits ``(train [1497, 64], test [300, 64])`` float32, the fixed split above."""
  try:
    from sklearn.datasets import load_digits
  except ImportError as e:
    raise ImportError("vae_digits reads scikit-learn's bundled digits: pip install scikit-learn "
                      "(or 'gdm-jax[plots]')") from e
  x = (load_digits().data >= 8).astype(np.float32)
  test = np.arange(len(x)) % 6 == 0
  return x[~test], x[test]


def _mean_se(a):
  a = np.asarray(a, np.float64)
  return float(a.mean()), float(a.std(ddof=1) / math.sqrt(a.size))


@functools.partial(jax.jit, static_argnums=(1, 4, 5))
def _lk(key, model, params, x, k, chunk):
  return vl.iwae_objective(key, model, params, x, k, chunk)


@functools.partial(jax.jit, static_argnums=(1, 4, 5, 6, 7))
def _train_chunk(state, model, key, x_train, k, steps, batch, learning_rate):
  """``steps`` Adam steps on -mean L_k of random minibatches (one ``lax.scan``)."""
  opt = optax.adam(learning_rate)

  def step(carry, kk):
    p, s = carry
    ki, ko = jax.random.split(kk)
    idx = jax.random.randint(ki, (batch,), 0, x_train.shape[0])
    g = jax.grad(lambda q: -jnp.mean(vl.iwae_objective(ko, model, q, x_train[idx], k)))(p)
    upd, s = opt.update(g, s, p)
    return (optax.apply_updates(p, upd), s), None

  return jax.lax.scan(step, state, jax.random.split(key, steps))[0]


def train(key, model, params, x_train, x_test, k: int, c: Config):
  """Adam on -mean L_k over minibatches; returns the parameters and (steps, test L_100) at each
  checkpoint. A jitted ``lax.scan`` of ``steps / checkpoints`` steps, compiled once per k."""
  per = c.steps // c.checkpoints
  state, curve = (params, optax.adam(c.learning_rate).init(params)), []
  kt, ke = jax.random.split(key)
  for i, (ki, kj) in enumerate(zip(jax.random.split(kt, c.checkpoints),
                                   jax.random.split(ke, c.checkpoints))):
    state = _train_chunk(state, model, ki, x_train, k, per, c.batch, c.learning_rate)
    curve.append(((i + 1) * per, float(jnp.mean(_lk(kj, model, state[0], x_test, 100, None)))))
  return state[0], np.array(curve)


@functools.partial(jax.jit, static_argnums=(1, 4, 5))
def _gap_elbos(key, model, params, x, steps, samples):
  """(L[q_phi], L[q*]) per point, each a ``samples``-sample ELBO estimate; q* by Adam (``steps``)
  from the encoder's q."""
  lj = lambda xi, z: vl.log_joint(model, params, xi, z)
  mean, std = model.apply(params, x, method=vl.BernoulliVAE.encode)
  kf, ka, ks = jax.random.split(key, 3)
  m_star, s_star = vl.fit_local_gaussians(kf, lj, x, mean, std, steps, 16, 1e-2)
  elbo = lambda kk, m, s: bounds.elbo(vl.diag_gaussian_log_weights(kk, lj, x, m, s, samples))
  return elbo(ka, mean, std), elbo(ks, m_star, s_star)


def run(out, quick: bool = False, seed: int = 0, steps: int | None = None) -> None:
  """Writes this experiment's figure and tables into ``out``."""
  out = out_dir(out)
  c = config(quick, steps)
  t0 = time.perf_counter()
  x_train, x_test = load_data()
  xtr, xte = jnp.asarray(x_train), jnp.asarray(x_test)
  model = vl.BernoulliVAE(x_train.shape[1], c.latent, c.hidden)
  key = jax.random.key(seed)
  k_init, k_train, k_eval, k_gap, k_snr = jax.random.split(key, 5)
  params0 = model.init(k_init, xtr[:1])
  print(f"digits: {len(x_train)} train / {len(x_test)} test, binarised at 8; config {c}")

  fitted, curves, seconds = {}, {}, {}
  for k in OBJECTIVES:  # same init, minibatches and sample keys for every objective
    t = time.perf_counter()
    fitted[k], curves[k] = train(jax.random.clone(k_train), model, params0, xtr, xte, k, c)
    seconds[k] = time.perf_counter() - t
    print(f"k = {k}: {c.steps} steps in {seconds[k]:.1f} s; test L_100 {curves[k][-1, 1]:.3f}")

  # Test (and training-subset) L_5000, one chunked estimate per point; the same keys per model.
  k_te, k_tr = jax.random.split(k_eval)
  ll = lambda kk, k, x: np.asarray(_lk(jax.random.clone(kk), model, fitted[k], x, c.eval_k,
                                        c.eval_chunk), np.float64)
  test_ll = {k: ll(k_te, k, xte) for k in OBJECTIVES}
  train_ll = {k: ll(k_tr, k, xtr[:c.train_eval]) for k in OBJECTIVES}
  rows = []
  for k in OBJECTIVES:
    m, se = _mean_se(test_ll[k])
    mt, set_ = _mean_se(train_ll[k])
    rows.append([f"{'VAE' if k == 1 else 'IWAE'} k={k}", m, se, mt, set_, mt - m,
                 BURDA_MNIST[k], round(seconds[k], 1)])
  print(f"L_{c.eval_k}: {time.perf_counter() - t0:.1f} s so far")
  print(write_table(out, "vae_digits_ll", [
      "objective", f"test L_{c.eval_k} (nats)", "SE", f"train L_{c.eval_k} (nats)", "SE (train)",
      "train - test (nats)", "Burda MNIST L_5000", "train s"], rows))

  # Burda et al.'s ordering on the same test points: paired differences.
  z = stats.z_for_rate(0.05)  # two-sided 95%
  order = []
  for a, b in ((5, 1), (50, 5), (50, 1)):
    d = test_ll[a] - test_ll[b]
    m, se = _mean_se(d)
    verdict = ("holds" if m > z * se else "reversed" if m < -z * se
               else "not resolved at 95%")
    order.append([f"k={a} - k={b}", m, se, m / se, verdict, BURDA_MNIST[a] - BURDA_MNIST[b]])
  print(write_table(out, "vae_digits_ordering", [
      f"test L_{c.eval_k} difference", "mean (nats)", "paired SE", "z", "ordering (two-sided 95%)",
      "Burda MNIST difference"], order))

  # Cremer et al.'s decomposition on the first gap_points test points.
  xg = xte[:c.gap_points]
  gap_rows, gaps = [], {}
  for kk, k in zip(jax.random.split(k_gap, len(OBJECTIVES)), OBJECTIVES):
    l_amort, l_star = (np.asarray(a, np.float64) for a in _gap_elbos(
        kk, model, fitted[k], xg, c.gap_steps, c.gap_samples))
    log_p = test_ll[k][:c.gap_points]
    approx, amort = log_p - l_star, l_star - l_amort
    gaps[k] = (approx, amort)
    gap_rows.append([f"{'VAE' if k == 1 else 'IWAE'} k={k}", *_mean_se(log_p), *_mean_se(l_star),
                     *_mean_se(l_amort), *_mean_se(approx), *_mean_se(amort),
                     *_mean_se(log_p - l_amort), float(np.mean(amort < 0))])
  print(write_table(out, "vae_digits_gaps", [
      "model", f"L_{c.eval_k} (nats)", "SE", "L[q*] (nats)", "SE", "L[q_phi] (nats)", "SE",
      f"approximation gap L_{c.eval_k} - L[q*]", "SE", "amortisation gap L[q*] - L[q_phi]", "SE",
      "total gap", "SE", "fraction of points with L[q*] < L[q_phi]"], gap_rows))

  print(f"gaps: {time.perf_counter() - t0:.1f} s so far")
  # Rainforth et al.: SNR of the IWAE gradient of the trained VAE (k = 1) versus K.
  snr_model = fitted[1]
  xb = xtr[:c.snr_batch]

  def grads(kk, K):
    g = jax.grad(lambda p: jnp.mean(vl.iwae_objective(kk, model, p, xb, K)))(snr_model)
    return {part: ravel_pytree(g["params"][part])[0] for part in ("encoder", "decoder")}

  # Entries whose gradient is exactly 0 in every draw (encoder weights from pixels that are 0 in
  # all the batch's images) have SNR 0/0: they are left out.
  k_probe, k_sweep = jax.random.split(k_snr)
  probe = jax.jit(jax.vmap(lambda kk: grads(kk, 1)))(jax.random.split(k_probe, 16))
  live = {part: np.flatnonzero(np.any(np.asarray(g) != 0, axis=0)) for part, g in probe.items()}
  grad_estimator = lambda kk, K: {part: g[live[part]] for part, g in grads(kk, K).items()}
  print("gradient entries in the SNR (nonzero):", {p: f"{len(i)}/{probe[p].shape[1]}"
                                                   for p, i in live.items()})

  snr = sweeps.grad_snr_sweep(k_sweep, grad_estimator, list(c.snr_ks), c.snr_replicates)
  names = {"encoder": "['encoder']", "decoder": "['decoder']"}
  # The debiased RMS SNR (sweeps.grad_snr_sweep): a mean of |mean| / sd would sit at
  # sqrt(2 / (pi R)) for entries whose true mean gradient is 0; this estimate has no such floor.
  # Entries constant over the R draws (beyond those the probe dropped) are counted, not used.
  print(write_table(out, "vae_digits_snr", ["K", "encoder SNR", "SE", "decoder SNR", "SE",
                                            "zero-variance entries"],
                    [[int(K), snr.snr[names["encoder"]][i], snr.snr_se[names["encoder"]][i],
                      snr.snr[names["decoder"]][i], snr.snr_se[names["decoder"]][i],
                      int(snr.constant[names["encoder"]][i] + snr.constant[names["decoder"]][i])]
                     for i, K in enumerate(snr.ks)]))
  slope_rows = []
  for part, theory in (("encoder", -0.5), ("decoder", 0.5)):
    s = snr.slopes[names[part]]
    slope_rows.append([part, s.slope if s else math.nan, s.lo if s else math.nan,
                       s.hi if s else math.nan, f"{s.k_min}..{s.k_max}" if s else "-",
                       theory, bool(s and s.lo <= theory <= s.hi)])
  print(write_table(out, "vae_digits_snr_slopes", [
      "gradient", "slope d log SNR / d log K", "95% lo", "95% hi", "K range",
      "Rainforth (large K)", "theory inside the interval"], slope_rows))

  fig, ax = plt.subplots(2, 2, figsize=(12, 8.5))
  for k in OBJECTIVES:
    ax[0, 0].plot(curves[k][:, 0], curves[k][:, 1], "o-", label=f"trained on L_{k}")
  ax[0, 0].set(xlabel="Adam steps (batch 100)", ylabel="test L_100 (nats)",
               title="(a) training: test L_100 at checkpoints")
  ax[0, 0].legend()
  xs = np.arange(len(OBJECTIVES))
  for j, (lls, lab) in enumerate(((test_ll, "test"), (train_ll, f"train ({c.train_eval})"))):
    ms = [_mean_se(lls[k]) for k in OBJECTIVES]
    ax[0, 1].errorbar(xs + 0.1 * (2 * j - 1), [m for m, _ in ms], yerr=[z * s for _, s in ms],
                      fmt="os"[j], capsize=4, label=lab)
  ax[0, 1].set_xticks(xs, [f"k={k}" for k in OBJECTIVES])
  ax[0, 1].set(xlabel="training objective", ylabel=f"L_{c.eval_k} (nats per image)",
               title=f"(b) L_{c.eval_k} (95% CI over points; paired tests in a table)")
  ax[0, 1].legend()
  w = 0.35
  for j, (lab, idx) in enumerate((("approximation", 0), ("amortisation", 1))):
    ms = [_mean_se(gaps[k][idx]) for k in OBJECTIVES]
    ax[1, 0].bar(xs + (j - 0.5) * w, [m for m, _ in ms], w, yerr=[z * s for _, s in ms],
                 capsize=4, label=f"{lab} gap")
  ax[1, 0].axhline(0, color="k", lw=0.8)
  ax[1, 0].set_xticks(xs, [f"k={k}" for k in OBJECTIVES])
  ax[1, 0].set(xlabel="model", ylabel="nats",
               title=f"(c) Cremer et al. gaps ({c.gap_points} test points, 95% CI)")
  ax[1, 0].legend()
  for part in ("encoder", "decoder"):
    n = names[part]
    s = snr.slopes[n]
    lab = f"{part} (slope {s.slope:.2f} [{s.lo:.2f}, {s.hi:.2f}])" if s else part
    ax[1, 1].errorbar(snr.ks, snr.snr[n], yerr=z * snr.snr_se[n], fmt="o-", capsize=3,
                      label=lab)
  ax[1, 1].set(xscale="log", yscale="log", xlabel="K (importance samples)",
               ylabel="debiased RMS of |E g| / sd g",
               title="(d) IWAE gradient SNR of the trained VAE (k=1)")
  ax[1, 1].legend(fontsize=8)
  save(fig, out, "vae_digits")
  print(f"total {time.perf_counter() - t0:.1f} s")


def main(argv=None) -> None:
  args = sys.argv[1:] if argv is None else list(argv)
  if "--quick" in args:
    # The quick run is compile-bound: XLA's fast-compile settings (the CLI's and the tests') halve
    # it; they must be in the environment before jax starts its backend (no effect after).
    from gdm_jax.jaxconfig import fast_compile_flags
    os.environ["XLA_FLAGS"] = fast_compile_flags(os.environ.get("XLA_FLAGS", ""))
  common.main(run, __doc__, args, steps=True)


if __name__ == "__main__":
  main()
