"""Bad input by class (issue 26): every public array function of the math modules is fed each
class of input that a careless user passes, and each case must give the right number (against an
independent numpy/scipy oracle) or a ``ValueError`` naming the argument. Nothing may crash with
an XLA trace, return a silent NaN or return a wrong number.

The classes, per array argument of each function in :data:`SPECS` (the rules are written once, in
:mod:`gdm_jax.validation`):

- dtypes: int8, int32 (promoted to the default float: the oracle's number), bool, float16,
  bfloat16, complex64 (refused), float32, float64 (the oracle's number);
- values: NaN and +inf (refused), -inf (the oracle's number where it is a zero density, refused
  elsewhere);
- sizes: an empty array and an extra leading axis (refused unless the function is documented to
  take them).

Then hand-written classes: counts and sizes (0, -1, larger than the data), callables, keys, flax
parameters of another network, broadcasting, and the issue's named examples.

Round two (:data:`SPECS2`, :data:`ROUND_TWO`): the same classes for models (LinearGaussian and its
methods, NonlinearModel, the KL functions, log_second_moment_ratio), amortized, vae, the users'
assertions in testing, stats and optimize, and the counts, sizes, callables and keys of
masked_conv and dependencies; every function that takes a key refuses an int or float array, a
Python int, a uint32 [3] and a batch of keys, and gives a legacy ``PRNGKey`` the typed key's
result.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Callable

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special, stats

from gdm_jax import bounds, change_of_variables as cov, divergences as dv, gan
from gdm_jax import kl_bounds as kb, mi, models

key = lambda i=0: jax.random.key(i)  # a fresh key per call (key-reuse checks are on)

# --- the oracles' inputs: small, exactly representable in every accepted dtype ---------------
GRID = np.arange(-10.0, 11.0)                    # an integer grid: int8 and int32 are exact
LP = stats.norm.logpdf(GRID)
LQ = stats.norm.logpdf(GRID, 1.0, 1.5)
T = np.round(1.0 + LP - LQ)                      # a critic, integer valued
LW = np.array([-3.0, -1.0, 0.0, 2.0, -7.0])      # log-weights
SCORES = np.array([[2.0, -1.0, 0.0], [1.0, 3.0, -2.0], [0.0, -1.0, 1.0]])
X2 = np.array([[1.0, -2.0], [0.0, 1.0], [2.0, 1.0]])
Y2 = np.array([[0.0, 1.0], [-1.0, 2.0], [1.0, 1.0]])
D_PROB = np.array([0.25, 0.5, 0.75])
SIGMA = np.array([[2.0, 0.5], [0.5, 1.0]])


def trap(f, g=GRID):
  return integrate.trapezoid(f, g)


def o_kl(lp, lq, g):
  p, q = np.exp(lp), np.exp(lq)
  return trap(special.rel_entr(p, q), g)


def o_jsd(lp, lq, g):
  p, q = np.exp(lp), np.exp(lq)
  m = 0.5 * (p + q)
  return 0.5 * trap(special.rel_entr(p, m), g) + 0.5 * trap(special.rel_entr(q, m), g)


def o_trapezoid_weights(g):
  return np.array([trap(np.eye(len(g))[i], g) for i in range(len(g))])


def o_jsd_mc(a, b, c, d):
  m1, m2 = np.logaddexp(a, b) - math.log(2), np.logaddexp(c, d) - math.log(2)
  return 0.5 * (np.mean(a - m1) + np.mean(d - m2))


def o_offdiag(s):
  return s[~np.eye(len(s), dtype=bool)]


def o_scores(x, y, rho):
  """log p(y | x) - log p(y) by scipy's normal log-density (not the library's quadratic form)."""
  s = 1.0 - rho * rho
  cond = stats.norm.logpdf(y[None, :, :], rho * x[:, None, :], math.sqrt(s)).sum(-1)
  return cond - stats.norm.logpdf(y).sum(-1)[None, :]


@dataclasses.dataclass(frozen=True)
class Spec:
  """A public function, its valid arguments and its oracle.

  ``kinds`` per array argument: "logd" (a log-density or log-weight: -inf allowed), "own" (a
  log-density at the distribution's own samples: -inf refused), "real" (finite numbers) or
  "prob" (in [0, 1]) or "propagate" (NaN and infinities give the oracle's NaN or infinity, as
  numpy does). ``bool_ok``: binary data, where bool is the natural dtype. ``ints``: the arguments whose integer-valued base values stay valid when
  cast to int (the others are covered by the float dtypes). ``empty_ok``/``batched``: arguments
  documented to accept an empty array / an extra leading axis.
  """
  fn: Callable
  args: dict
  oracle: Callable
  kinds: dict
  ints: tuple = ()
  empty_ok: tuple = ()
  batched: tuple = ()
  bool_ok: tuple = ()
  pos: int = -1  # the flat index where an infinity or NaN is put


SPECS = {
    "bounds.iwae_bound": Spec(bounds.iwae_bound, {"log_w": LW},
                              lambda log_w: (special.logsumexp(log_w, axis=-1)
                                             - math.log(log_w.shape[-1])),
                              {"log_w": "logd"}, ints=("log_w",), batched=("log_w",)),
    "bounds.elbo": Spec(bounds.elbo, {"log_w": LW}, lambda log_w: np.mean(log_w, -1),
                        {"log_w": "logd"}, ints=("log_w",), batched=("log_w",)),
    "bounds.prefix_bounds": Spec(
        bounds.prefix_bounds, {"log_w": LW},
        lambda log_w: np.stack([special.logsumexp(log_w[..., :k], axis=-1) - math.log(k)
                                for k in range(1, log_w.shape[-1] + 1)], -1),
        {"log_w": "logd"}, ints=("log_w",), batched=("log_w",)),
    "divergences.trapezoid_weights": Spec(dv.trapezoid_weights, {"grid": GRID},
                                          o_trapezoid_weights, {"grid": "real"}, ints=("grid",)),
    "divergences.kl_quadrature": Spec(dv.kl_quadrature, {"log_p": LP, "log_q": LQ, "grid": GRID},
                                      o_kl, {"log_p": "logd", "log_q": "logd", "grid": "real"},
                                      ints=("grid",)),
    "divergences.jsd_quadrature": Spec(dv.jsd_quadrature,
                                       {"log_p": LP, "log_q": LQ, "grid": GRID}, o_jsd,
                                       {"log_p": "logd", "log_q": "logd", "grid": "real"},
                                       ints=("grid",)),
    "divergences.jsd_monte_carlo": Spec(
        dv.jsd_monte_carlo, {"log_p_at_p": LP[8:13], "log_q_at_p": LQ[8:13],
                             "log_p_at_q": LP[9:15], "log_q_at_q": LQ[9:15]}, o_jsd_mc,
        {"log_p_at_p": "own", "log_q_at_p": "logd", "log_p_at_q": "logd", "log_q_at_q": "own"}),
    "divergences.wasserstein1_1d": Spec(
        dv.wasserstein1_1d, {"x": np.array([-100.0, 3.0, 100.0]), "y": np.array([0.0, 90.0, 5.0])},
        stats.wasserstein_distance, {"x": "real", "y": "real"}, ints=("x", "y")),
    "kl_bounds.r1": Spec(kb.r1, {"t_p": T[8:13], "t_q": T[6:14]},
                         lambda t_p, t_q: np.mean(t_p) - np.mean(np.exp(t_q - 1.0)),
                         {"t_p": "real", "t_q": "real"}, ints=("t_p", "t_q"),
                         batched=("t_p", "t_q")),
    "kl_bounds.r2": Spec(kb.r2, {"t_p": T[8:13], "t_q": T[6:14]},
                         lambda t_p, t_q: np.mean(t_p) - np.log(np.mean(np.exp(t_q))),
                         {"t_p": "real", "t_q": "real"}, ints=("t_p", "t_q"),
                         batched=("t_p", "t_q")),
    "kl_bounds.r1_quadrature": Spec(
        kb.r1_quadrature, {"t": T, "log_p": LP, "log_q": LQ, "grid": GRID},
        lambda t, log_p, log_q, grid: (trap(np.exp(log_p) * t, grid)
                                       - trap(np.exp(log_q + t - 1.0), grid)),
        {"t": "real", "log_p": "logd", "log_q": "logd", "grid": "real"}, ints=("t", "grid"),
        pos=0),
    "kl_bounds.r2_quadrature": Spec(
        kb.r2_quadrature, {"t": T, "log_p": LP, "log_q": LQ, "grid": GRID},
        lambda t, log_p, log_q, grid: (trap(np.exp(log_p) * t, grid)
                                       - np.log(trap(np.exp(log_q + t), grid))),
        {"t": "real", "log_p": "logd", "log_q": "logd", "grid": "real"}, ints=("t", "grid"),
        pos=0),
    "kl_bounds.log_expectation_quadrature": Spec(
        kb.log_expectation_quadrature, {"t": T, "log_q": LQ, "grid": GRID},
        lambda t, log_q, grid: np.log(trap(np.exp(log_q + t), grid)),
        {"t": "real", "log_q": "logd", "grid": "real"}, ints=("t", "grid")),
    "kl_bounds.tilted_log_density": Spec(
        kb.tilted_log_density, {"t": T, "log_q": LQ, "grid": GRID},
        lambda t, log_q, grid: t + log_q - np.log(trap(np.exp(log_q + t), grid)),
        {"t": "real", "log_q": "logd", "grid": "real"}, ints=("t", "grid")),
    "mi.infonce": Spec(mi.infonce, {"scores": SCORES},
                       lambda scores: (math.log(len(scores)) + np.mean(
                           np.diag(scores) - special.logsumexp(scores, axis=1))),
                       {"scores": "real"}, ints=("scores",)),
    "mi.nwj": Spec(mi.nwj, {"scores": SCORES},
                   lambda scores: (np.mean(np.diag(scores))
                                   - np.mean(np.exp(o_offdiag(scores) - 1.0))),
                   {"scores": "real"}, ints=("scores",)),
    "mi.dv": Spec(mi.dv, {"scores": SCORES},
                  lambda scores: (np.mean(np.diag(scores))
                                  - np.log(np.mean(np.exp(o_offdiag(scores))))),
                  {"scores": "real"}, ints=("scores",)),
    "mi.optimal_scores": Spec(lambda x, y: mi.optimal_scores(x, y, 0.5), {"x": X2, "y": Y2},
                              lambda x, y: o_scores(x, y, 0.5), {"x": "real", "y": "real"},
                              ints=("x", "y"), empty_ok=("x", "y")),
    "mi.gaussian_mi": Spec(lambda rho: mi.gaussian_mi(rho, 3), {"rho": np.array([0.0, 0.5, -0.9])},
                           lambda rho: -1.5 * np.log(1.0 - rho ** 2), {"rho": "real"},
                           empty_ok=("rho",), batched=("rho",)),
    "mi.rho_for_mi": Spec(functools.partial(mi.rho_for_mi, d=2),
                          {"mi": np.array([0.0, 1.0, 3.0])},
                          lambda m: np.sqrt(1.0 - np.exp(-m)), {"mi": "real"}, ints=("mi",),
                          empty_ok=("mi",), batched=("mi",)),
    "gan.optimal_discriminator": Spec(gan.optimal_discriminator,
                                      {"log_f1_x": LP[8:13], "log_f0_x": LQ[8:13]},
                                      lambda log_f1_x, log_f0_x: special.expit(log_f1_x - log_f0_x),
                                      {"log_f1_x": "logd", "log_f0_x": "logd"},
                                      empty_ok=("log_f1_x", "log_f0_x"),
                                      batched=("log_f1_x", "log_f0_x")),
    "gan.density_from_logit": Spec(gan.density_from_logit,
                                   {"log_f0_x": LQ[8:13], "logit_x": T[8:13]},
                                   lambda log_f0_x, logit_x: log_f0_x + logit_x,
                                   {"log_f0_x": "logd", "logit_x": "real"}, ints=("logit_x",),
                                   empty_ok=("log_f0_x", "logit_x"),
                                   batched=("log_f0_x", "logit_x")),
    "gan.density_from_discriminator": Spec(
        gan.density_from_discriminator, {"log_f0_x": LQ[8:11], "d_x": D_PROB},
        lambda log_f0_x, d_x: log_f0_x + special.logit(d_x), {"log_f0_x": "logd", "d_x": "prob"},
        empty_ok=("log_f0_x", "d_x"), batched=("log_f0_x", "d_x")),
    "gan.logit": Spec(gan.logit, {"d": D_PROB}, special.logit, {"d": "prob"}, empty_ok=("d",),
                      batched=("d",)),
    "gan.pointwise_objective": Spec(
        gan.pointwise_objective, {"d": D_PROB, "f1": np.array([0.0, 1.0, 2.0]),
                                  "f0": np.array([1.0, 3.0, 0.0])},
        lambda d, f1, f0: special.xlogy(f1, d) + special.xlogy(f0, 1.0 - d),
        {"d": "prob", "f1": "real", "f0": "real"}, ints=("f1", "f0"),
        empty_ok=("d", "f1", "f0"), batched=("d", "f1", "f0")),
    "change_of_variables.standard_normal_log_prob": Spec(
        cov.standard_normal_log_prob, {"z": np.array([[20.0, -3.0], [0.0, 1.0]])},
        lambda z: stats.norm.logpdf(z).sum(-1), {"z": "real"}, ints=("z",), empty_ok=("z",),
        batched=("z",)),
    "change_of_variables.gaussian_log_prob": Spec(
        lambda x, mean: cov.gaussian_log_prob(x, mean, SIGMA),
        {"x": X2, "mean": np.array([1.0, -1.0])},
        lambda x, mean: stats.multivariate_normal(mean, SIGMA).logpdf(x).reshape(x.shape[:-1]),
        {"x": "real", "mean": "real"}, ints=("x", "mean"), empty_ok=("x",), batched=("x",)),
}

REFUSED_DTYPES = {"bool": np.bool_, "float16": np.float16, "bfloat16": jnp.bfloat16,
                  "complex64": np.complex64}
INT_DTYPES = {"int8": np.int8, "int32": np.int32}
TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-9, atol=1e-12)}


def _cases(specs):
  """(id, spec name, argument, how the argument is changed, expected: None = the oracle's
  number, else the argument the ValueError names)."""
  out = []
  for fname, spec in specs.items():
    for arg, kind in spec.kinds.items():
      for dt in ("float32", "float64"):
        out.append((f"{fname}-{arg}-{dt}", fname, arg, ("dtype", dt), None))
      for dt in INT_DTYPES:
        if arg in spec.ints:
          out.append((f"{fname}-{arg}-{dt}", fname, arg, ("dtype", dt), None))
      for dt in REFUSED_DTYPES:
        ok = dt == "bool" and arg in spec.bool_ok
        out.append((f"{fname}-{arg}-{dt}", fname, arg, ("dtype", dt), None if ok else arg))
      nonfinite = None if kind == "propagate" else arg
      out.append((f"{fname}-{arg}-nan", fname, arg, ("value", np.nan), nonfinite))
      out.append((f"{fname}-{arg}-+inf", fname, arg, ("value", np.inf), nonfinite))
      out.append((f"{fname}-{arg}--inf", fname, arg, ("value", -np.inf),
                  None if kind in ("logd", "propagate") else arg))
      out.append((f"{fname}-{arg}-empty", fname, arg, ("empty",),
                  None if arg in spec.empty_ok else arg))
      out.append((f"{fname}-{arg}-extra axis", fname, arg, ("axis",),
                  None if arg in spec.batched else arg))
  return out


CASES = _cases(SPECS)


def _changed(spec, arg, change):
  """The spec's arguments as float64 numpy arrays with ``arg`` changed; and the float64 values
  that the oracle sees (None when the function must refuse)."""
  args = {k: np.asarray(a, np.float64) for k, a in spec.args.items()}
  a = args[arg]
  if change[0] == "dtype":
    dt = {**INT_DTYPES, **REFUSED_DTYPES, "float32": np.float32, "float64": np.float64}[change[1]]
    if dt is jnp.bfloat16:
      new = jnp.asarray(a, jnp.bfloat16)
    elif dt is np.bool_:
      new = a != 0
    else:
      new = a.astype(dt)
    args[arg] = new
  elif change[0] == "value":
    new = a.copy()
    new.flat[spec.pos] = change[1]
    args[arg] = new
  elif change[0] == "empty":
    args = {k: (np.zeros((0,) + v.shape[1:]) if k == arg or (
        k in spec.empty_ok and v.shape == a.shape) else v) for k, v in args.items()}
  elif change[0] == "axis":
    args = {k: (v[None] if k == arg or (k in spec.batched and v.shape == a.shape) else v)
            for k, v in args.items()}
  return args


@pytest.mark.parametrize("fname, arg, change, expected", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_each_class_gives_the_oracle_or_names_the_argument(fname, arg, change, expected):
  _check_case(SPECS[fname], arg, change, expected)


def _check_case(spec, arg, change, expected):
  args = _changed(spec, arg, change)
  if expected is not None:
    with pytest.raises(ValueError, match=f"`{expected}`"):
      spec.fn(**args)
    return
  got = spec.fn(**args)
  ref = spec.oracle(*[np.asarray(a, np.float64) for a in args.values()])
  dts = {np.asarray(a).dtype for a in args.values()}
  tol = TOL[np.float32] if np.dtype(np.float32) in dts else TOL[np.float64]
  got = np.asarray(got, np.float64)
  assert got.shape == np.shape(ref)
  np.testing.assert_allclose(got, ref, **tol)
  assert np.all(np.isfinite(got) == np.isfinite(ref))


def test_catalogue_size_and_counts():
  """The catalogue covers every class for every spec (round one: the math modules; round two:
  models, amortized, vae, testing, stats, optimize), both outcomes, plus the hand-written rows
  (counts, sizes, callables, keys: all named ValueErrors)."""
  cases = CASES + CASES2
  n_number = sum(c[-1] is None for c in cases)
  n_error = len(cases) - n_number
  n_hand = len(COUNTS + DOMAIN + CALLABLES + ROUND_TWO)
  assert len(CASES2) >= 700 and len(cases) >= 1400 and n_number >= 450 and n_error >= 900, (
      len(cases), n_number, n_error)
  assert n_hand >= 300, n_hand
  assert len({c[0] for c in cases}) == len(cases)
  assert len({n for n, _, _ in COUNTS + DOMAIN + CALLABLES + ROUND_TWO}) == n_hand
  print(f"{len(cases) + n_hand} cases: {n_number} give the oracle's number, "
        f"{n_error + n_hand} a named ValueError")


# --- counts and sizes --------------------------------------------------------------------------

X1, X0 = jnp.zeros((4, 1)), jnp.ones((4, 1))
SP = lambda k, n: jax.random.normal(k, (n, 1))


def _disc(**kw):
  return gan.train_discriminator(key(), X1, X0, **{"steps": 2, "batch": 4, "hidden": 2, **kw})


def _critic(**kw):
  return kb.train_critic(key(), SP, SP, **{"steps": 2, "batch": 4, "hidden": 2, **kw})


def _mi_critic(**kw):
  return mi.train_critic(key(), 0.5, 2, **{"steps": 2, "batch": 4, "hidden": 2, "embed": 2, **kw})


def _iwae(**kw):
  kw = {"log_joint": lambda z: -jnp.sum(z * z, -1),
        "sample_and_log_q": bounds.diag_gaussian_proposal(jnp.zeros(2), jnp.ones(2)), "K": 8,
        **kw}
  return bounds.iwae_estimate(kw.pop("key", key()), **kw)


COUNTS = [
    ("train_discriminator n_used > N", lambda: _disc(n_used=5), "n_used"),
    ("train_discriminator n_used = 0", lambda: _disc(n_used=0), "n_used"),
    ("train_discriminator n_used = -1", lambda: _disc(n_used=-1), "n_used"),
    ("train_discriminator n_used = 1.5", lambda: _disc(n_used=1.5), "n_used"),
    ("train_discriminator n_used vector", lambda: _disc(n_used=jnp.array([2, 3])), "n_used"),
    ("train_discriminator batch = 0", lambda: _disc(batch=0), "batch"),
    ("train_discriminator steps = 0", lambda: _disc(steps=0), "steps"),
    ("train_discriminator steps = -1", lambda: _disc(steps=-1), "steps"),
    ("train_discriminator hidden = 0", lambda: _disc(hidden=0), "hidden"),
    ("train_discriminator lr NaN", lambda: _disc(learning_rate=float("nan")), "learning_rate"),
    ("train_discriminator lr < 0", lambda: _disc(learning_rate=-1.0), "learning_rate"),
    ("train_discriminator lr inf", lambda: _disc(learning_rate=float("inf")), "learning_rate"),
    ("train_discriminator x1 [N]", lambda: gan.train_discriminator(key(), jnp.zeros(4),
                                                                   jnp.zeros(4)), "x1"),
    ("train_discriminator x0 shape", lambda: gan.train_discriminator(key(), X1,
                                                                     jnp.zeros((3, 1))), "x0"),
    ("train_discriminator x1 NaN", lambda: gan.train_discriminator(
        key(), X1.at[0, 0].set(jnp.nan), X0), "x1"),
    ("train_critic hidden = 0", lambda: _critic(hidden=0), "hidden"),
    ("train_critic steps = -1", lambda: _critic(steps=-1), "steps"),
    ("train_critic steps = 0", lambda: _critic(steps=0), "steps"),
    ("train_critic batch = 0", lambda: _critic(batch=0), "batch"),
    ("train_critic lr NaN", lambda: _critic(learning_rate=float("nan")), "learning_rate"),
    ("train_critic lr < 0", lambda: _critic(learning_rate=-1e-3), "learning_rate"),
    ("train_critic steps float", lambda: _critic(steps=2.0), "steps"),
    ("mi.train_critic steps = 0", lambda: _mi_critic(steps=0), "steps"),
    ("mi.train_critic batch = 1", lambda: _mi_critic(batch=1), "batch"),
    ("mi.train_critic hidden = 0", lambda: _mi_critic(hidden=0), "hidden"),
    ("mi.train_critic embed = -1", lambda: _mi_critic(embed=-1), "embed"),
    ("mi.train_critic lr NaN", lambda: _mi_critic(learning_rate=float("nan")), "learning_rate"),
    ("mi.train_critic lr < 0", lambda: _mi_critic(learning_rate=-1e-3), "learning_rate"),
    ("iwae_estimate K = 0", lambda: _iwae(K=0), "K"),
    ("iwae_estimate K = -1", lambda: _iwae(K=-1), "K"),
    ("iwae_estimate chunk_size = 0", lambda: _iwae(chunk_size=0), "chunk_size"),
    ("correlated_gaussian_sample n = 0", lambda: mi.correlated_gaussian_sample(key(), 0.5, 2, 0),
     "n"),
    ("correlated_gaussian_sample d = -1",
     lambda: mi.correlated_gaussian_sample(key(), 0.5, -1, 3), "d"),
    ("gaussian_mi d = 0", lambda: mi.gaussian_mi(0.5, 0), "d"),
    ("nwj_variance batch = 1", lambda: mi.nwj_variance(0.5, 2, 1), "batch"),
    ("wasserstein1_1d [n, 2]", lambda: dv.wasserstein1_1d(np.zeros((4, 2)), np.ones((4, 2))),
     "x"),
    ("jsd_monte_carlo [R, N]", lambda: dv.jsd_monte_carlo(*[np.zeros((2, 3))] * 4),
     "log_p_at_p"),
    ("infonce B = 1", lambda: mi.infonce(np.zeros((1, 1))), "scores"),
    ("infonce [B, B + 1]", lambda: mi.infonce(np.zeros((2, 3))), "scores"),
    ("trapezoid one node", lambda: dv.trapezoid_weights(np.zeros(1)), "grid"),
]

# --- values outside the domain -----------------------------------------------------------------

DOMAIN = [
    ("logit d = 2", lambda: gan.logit(jnp.array(2.0)), "d"),
    ("logit d = -0.1", lambda: gan.logit(jnp.array([0.5, -0.1])), "d"),
    ("pointwise_objective d = 1.5", lambda: gan.pointwise_objective(jnp.array(1.5), 1.0, 1.0),
     "d"),
    ("pointwise_objective f1 < 0", lambda: gan.pointwise_objective(jnp.array(0.5), -1.0, 1.0),
     "f1"),
    ("density_from_discriminator d = 1", lambda: gan.density_from_discriminator(
        jnp.zeros(1), jnp.ones(1)), "d_x"),
    ("jsd_monte_carlo q = 0 at a sample of q", lambda: dv.jsd_monte_carlo(
        jnp.zeros(2), jnp.zeros(2), jnp.zeros(2), jnp.array([0.0, -jnp.inf])), "log_q_at_q"),
    ("rho_for_mi mi < 0", lambda: mi.rho_for_mi(-0.1, 2), "mi"),
    ("gaussian_mi rho = 1", lambda: mi.gaussian_mi(1.0, 2), "rho"),
    ("iwae_estimate log_joint +inf", lambda: _iwae(
        log_joint=lambda z: jnp.where(z[:, 0] > 0, jnp.inf, 0.0)), "log_joint"),
    ("iwae_estimate chunked log_joint +inf", lambda: _iwae(
        log_joint=lambda z: jnp.where(z[:, 0] > 0, jnp.inf, 0.0), chunk_size=3), "log_joint"),
    ("iwae_estimate log_q -inf at its samples", lambda: _iwae(
        sample_and_log_q=lambda k, n: (jnp.zeros((n, 2)), jnp.full((n,), -jnp.inf))),
     "sample_and_log_q"),
]

# --- callables, keys, flax parameters, broadcasting -------------------------------------------

PROP = bounds.diag_gaussian_proposal(jnp.zeros(2), jnp.ones(2))
LJ_XZ = lambda x, z: -jnp.sum((z - x) ** 2, -1)
DATA = jnp.zeros((3, 2))
BAD_KEYS = {"int32 [2]": jnp.array([0, 5], jnp.int32), "float [2]": jnp.zeros(2),
            "python int": 0, "uint32 [3]": jnp.zeros(3, jnp.uint32),
            "2 typed keys": jax.random.split(jax.random.key(0), 2)}
_PARAMS_H2 = {}


def _params_h2():
  if not _PARAMS_H2:
    _PARAMS_H2["p"] = models.MLP((2, 2, 1)).init(key(9), jnp.zeros((1, 1)))
  return _PARAMS_H2["p"]


CALLABLES = [
    ("iwae_estimate log_joint = 3.0", lambda: _iwae(log_joint=3.0), "log_joint"),
    ("iwae_estimate log_joint = None", lambda: _iwae(log_joint=None), "log_joint"),
    ("iwae_estimate sample_and_log_q = array",
     lambda: _iwae(sample_and_log_q=jnp.zeros(2)), "sample_and_log_q"),
    ("iwae_estimate chunked log_joint = None", lambda: _iwae(log_joint=None, chunk_size=3),
     "log_joint"),
    ("iwae_estimate_batch proposal (key, n) for a factory",
     lambda: bounds.iwae_estimate_batch(key(), LJ_XZ, PROP, DATA, 4), "proposal"),
    ("iwae_estimate_batch proposal = None",
     lambda: bounds.iwae_estimate_batch(key(), LJ_XZ, None, DATA, 4), "proposal"),
    ("iwae_estimate_batch proposal returns an array",
     lambda: bounds.iwae_estimate_batch(key(), LJ_XZ, lambda x: x, DATA, 4, 4), "proposal"),
    ("iwae_estimate_batch log_joint = 1",
     lambda: bounds.iwae_estimate_batch(key(), 1, lambda x: PROP, DATA, 4), "log_joint"),
    ("pushforward g = None", lambda: cov.pushforward_log_prob(None, cov.standard_normal_log_prob,
                                                              jnp.zeros(2)), "g"),
    ("pushforward base_log_prob = 0", lambda: cov.pushforward_log_prob(jnp.sinh, 0,
                                                                       jnp.zeros(2)),
     "base_log_prob"),
    ("log_abs_det_jacobian g = 'sinh'", lambda: cov.log_abs_det_jacobian("sinh", jnp.zeros(2)),
     "g"),
    ("train_critic sample_p = None", lambda: kb.train_critic(key(), None, SP, steps=2, batch=4),
     "sample_p"),
    ("train_critic sample_q = array", lambda: kb.train_critic(key(), SP, jnp.zeros(3), steps=2,
                                                              batch=4), "sample_q"),
    ("discriminator_logit params of hidden 2 at hidden 32",
     lambda: gan.discriminator_logit(_params_h2(), jnp.zeros((3, 1))), "params"),
    ("discriminator_logit empty params",
     lambda: gan.discriminator_logit({"params": {}}, jnp.zeros((3, 1)), hidden=2), "params"),
    ("critic_values params of hidden 2 at hidden 32",
     lambda: kb.critic_values(_params_h2(), jnp.zeros((3, 1))), "params"),
    ("critic_values x bool", lambda: kb.critic_values(_params_h2(), jnp.zeros((3, 1), bool),
                                                      hidden=2), "x"),
    ("optimal_scores rho vector", lambda: mi.optimal_scores(X2, Y2, np.array([0.5, 0.1])), "rho"),
    ("correlated_gaussian_sample rho [3]",
     lambda: mi.correlated_gaussian_sample(key(), jnp.array([0.5, 0.1, 0.2]), 2, 4), "rho"),
    ("correlated_gaussian_sample rho [n, d]",
     lambda: mi.correlated_gaussian_sample(key(), jnp.full((4, 2), 0.5), 2, 4), "rho"),
    ("correlated_gaussian_sample dtype int",
     lambda: mi.correlated_gaussian_sample(key(), 0.5, 2, 4, jnp.int32), "dtype"),
    ("mi.train_critic rho vector", lambda: mi.train_critic(key(), jnp.array([0.5, 0.2]), 2,
                                                           steps=2, batch=4), "rho"),
] + [
    (f"{name} key {kname}", (lambda c=call, k=kval: c(k)), "key")
    for kname, kval in BAD_KEYS.items()
    for name, call in (
        ("iwae_estimate", lambda k: _iwae(key=k)),
        ("iwae_estimate_batch", lambda k: bounds.iwae_estimate_batch(k, LJ_XZ, lambda x: PROP,
                                                                     DATA, 4)),
        ("correlated_gaussian_sample", lambda k: mi.correlated_gaussian_sample(k, 0.5, 2, 3)),
        ("train_discriminator", lambda k: gan.train_discriminator(k, X1, X0, steps=2, batch=4)),
        ("train_critic", lambda k: kb.train_critic(k, SP, SP, steps=2, batch=4)),
        ("mi.train_critic", lambda k: mi.train_critic(k, 0.5, 2, steps=2, batch=4)))
]


@pytest.mark.parametrize("call, arg", [(c, a) for _, c, a in COUNTS + DOMAIN + CALLABLES],
                         ids=[n for n, _, _ in COUNTS + DOMAIN + CALLABLES])
def test_counts_domains_callables_keys_params_and_broadcasting_name_the_argument(call, arg):
  with pytest.raises(ValueError, match=f"`{arg}`"):
    call()


def test_the_valid_neighbours_still_work():
  """Next to the refusals: a legacy uint32 key, n_used = N, learning rate 0, a vector rho where
  the formula takes any shape, 0 log 0 = 0 and a zero density at D = 0 or 1."""
  legacy = _iwae(key=jax.random.PRNGKey(3), chunk_size=8)
  typed = _iwae(key=jax.random.wrap_key_data(jax.random.PRNGKey(3)), chunk_size=8)
  assert float(legacy) == float(typed)
  np.testing.assert_allclose(mi.gaussian_mi(np.array([0.5, 0.1]), 2),
                             -np.log1p(-np.array([0.25, 0.01])))
  np.testing.assert_array_equal(gan.pointwise_objective(jnp.array([0.0, 1.0, 0.0]),
                                                        jnp.array([0.0, 2.0, 1.0]),
                                                        jnp.array([1.0, 0.0, 0.0])),
                                [0.0, 0.0, -np.inf])
  assert float(gan.logit(jnp.array(1.0))) == np.inf  # d = 1 is a probability: logit +inf


def test_traced_n_used_out_of_range_gives_nan_not_a_clamped_sample():
  """Under vmap ``n_used`` is a tracer and cannot be checked: outside [1, N] the parameters and
  losses are NaN (documented), inside they are the eager call's."""
  f = jax.vmap(lambda n: gan.train_discriminator(key(1), X1, X0, n, steps=2, batch=4, hidden=2))
  params, losses = f(jnp.array([4, 5, 0]))
  assert np.all(np.isfinite(losses[0])) and np.all(np.isnan(losses[1:]))
  leaf = jax.tree_util.tree_leaves(params)[0]
  assert np.all(np.isfinite(leaf[0])) and np.all(np.isnan(leaf[1:]))
  _, eager = gan.train_discriminator(key(1), X1, X0, 4, steps=2, batch=4, hidden=2)
  np.testing.assert_allclose(losses[0], eager, rtol=1e-6)  # vmapped matmuls round differently


class DtypeRulesTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_dtype_rules_hold_under_jit(self):
    """dtypes are static: a bool or float16 score matrix is refused eagerly and while tracing; an
    int one is promoted to the default float in both modes."""
    f = self.variant(mi.dv)
    for dt in (jnp.bool_, jnp.float16):
      with pytest.raises(ValueError, match="`scores`"):
        f(jnp.zeros((3, 3), dt))
    got = f(jnp.asarray(SCORES, jnp.int32))
    chex.assert_type(got, jnp.result_type(float))
    np.testing.assert_allclose(got, SPECS["mi.dv"].oracle(SCORES), rtol=1e-12)


# --- round two: models, amortized, vae, testing, stats, optimize (the same classes) ---------------

from gdm_jax import amortized as am, dependencies as deps, masked_conv as mc  # noqa: E402
from gdm_jax import optimize, stats as gstats, testing as ut, vae as vl  # noqa: E402

W_LG = np.array([[1.0, 0.0], [0.5, -1.0], [0.0, 2.0]])  # [D, d] = [3, 2]
B_LG = np.array([0.0, 1.0, -1.0])
S_LG = 2.0
X_LG = np.array([1.0, 0.0, -2.0])
XB_LG = np.array([[1.0, 0.0, -2.0], [0.0, 1.0, 1.0]])
Z_LG = np.array([[0.0, 1.0], [-1.0, 2.0], [1.0, 1.0]])
LG = models.LinearGaussian.create(jnp.asarray(W_LG), jnp.asarray(B_LG), S_LG)
M2, S2 = np.array([1.0, -1.0]), np.array([1.0, 2.0])
C_P, C_Q = np.array([[2.0, 1.0], [1.0, 2.0]]), np.array([[4.0, 1.0], [1.0, 3.0]])
NL = models.NonlinearModel.create(key(3), data_dim=2, hidden=3, noise_std=0.5, dtype=jnp.float64)
VAE = vl.BernoulliVAE(data_dim=3, latent_dim=2, hidden=(3,))
VP = jax.tree_util.tree_map(lambda p: p.astype(jnp.float64), VAE.init(key(4), jnp.zeros((1, 3))))
X_BIN = np.array([1.0, 0.0, 1.0])
SAMPLES = np.array([0.0, 1.0, 2.0, 5.0])


def np_mlp(params, x):
  """A models.MLP forward pass in numpy (tanh between the Dense layers)."""
  p = params["params"] if "params" in params else params
  n = len(p)
  for i in range(n):
    x = x @ np.asarray(p[f"Dense_{i}"]["kernel"]) + np.asarray(p[f"Dense_{i}"]["bias"])
    x = np.tanh(x) if i < n - 1 else x
  return x


def o_lg_marginal(W, b, s, x):
  mvn = stats.multivariate_normal(b, W @ W.T + s * s * np.eye(len(b)))
  return np.array([mvn.logpdf(r) for r in x.reshape(-1, len(b))]).reshape(x.shape[:-1])


def o_lg_loglik(x, z):
  return stats.norm.logpdf(x, z @ W_LG.T + B_LG, S_LG).sum(-1)


def o_lg_posterior(x):
  cov_ = np.linalg.inv(np.eye(2) + W_LG.T @ W_LG / S_LG ** 2)
  mean = (x - B_LG) @ W_LG / S_LG ** 2 @ cov_
  return np.concatenate([mean.ravel(), cov_.ravel()])


def o_kl_full(m1, c1, m2, c2):
  p2 = np.linalg.inv(c2)
  dm = m2 - m1
  return 0.5 * (np.trace(p2 @ c1) + np.einsum("...i,ij,...j->...", dm, p2, dm) - len(c1)
                + np.linalg.slogdet(c2)[1] - np.linalg.slogdet(c1)[1])


def o_kl_diag(m1, s1, m2, s2):
  """Per coordinate, with r the variance ratio: (r - 1 - log r + (m1 - m2)^2 / s2^2) / 2."""
  r = (s1 / s2) ** 2
  return 0.5 * np.sum(r - 1.0 - np.log(r) + ((m1 - m2) / s2) ** 2, -1)


def o_second_moment(m_p, c_p, m_q, c_q):
  """log int p^2 / q by the 2-D trapezoid rule on [-12, 12]^2 (spectrally accurate for this
  Gaussian integrand), not the closed form."""
  t = np.linspace(-12.0, 12.0, 481)
  pts = np.stack(np.meshgrid(t, t, indexing="ij"), -1)
  lp = stats.multivariate_normal(m_p, c_p).logpdf(pts)
  lq = stats.multivariate_normal(m_q, c_q).logpdf(pts)
  return np.log(integrate.trapezoid(integrate.trapezoid(np.exp(2 * lp - lq), t), t))


def o_elbo(x, m, s):
  ell = (stats.norm.logpdf(x, m @ W_LG.T + B_LG, S_LG).sum(-1)
         - np.sum(s ** 2 * np.sum(W_LG ** 2, 0), -1) / (2 * S_LG ** 2))
  return ell - o_kl_diag(m, s, np.zeros_like(m), np.ones_like(s))


def o_kl_posterior(x, m, s):
  c = np.linalg.inv(np.eye(2) + W_LG.T @ W_LG / S_LG ** 2)
  return o_kl_full(m, np.diag(s ** 2), (x - B_LG) @ W_LG / S_LG ** 2 @ c, c)


def o_nl_log_joint(x, z):
  return (stats.norm.logpdf(x, np_mlp(NL.params, z), 0.5).sum(-1)
          + stats.norm.logpdf(z[..., 0]))


def o_nl_marginal(x):
  f = lambda t: np.exp(o_nl_log_joint(x, np.array([[t]]))[0])
  return np.log(integrate.quad(f, -12, 12, epsabs=0, epsrel=1e-12, limit=200)[0])


def o_bernoulli(x, logits):
  return np.sum(x * logits - np.logaddexp(0.0, logits), -1)


def o_vae_log_joint(x, z):
  logits = np_mlp(VP["params"]["decoder"], z)
  return stats.norm.logpdf(z).sum(-1) + o_bernoulli(x, logits)


def _exact_proposal_log_weights(mean, std):
  """log_joint_fn = the proposal's own density: every log-weight is 0 whatever the draw."""
  m, s = jnp.asarray(np.asarray(mean, np.float64)), jnp.asarray(np.asarray(std, np.float64))
  lj = lambda i, z: models.diag_gaussian_log_prob(z, m[i], s[i])
  return vl.diag_gaussian_log_weights(key(5), lj, jnp.arange(len(m) if m.ndim else 0), mean,
                                      std, 3)


SPECS2 = {
    "models.diag_gaussian_log_prob": Spec(
        models.diag_gaussian_log_prob, {"z": Z_LG, "mean": M2, "std": S2},
        lambda z, mean, std: stats.norm.logpdf(z, mean, std).sum(-1),
        {"z": "real", "mean": "real", "std": "real"}, ints=("z", "mean", "std"),
        empty_ok=("z",), batched=("z", "mean", "std")),
    "models.kl_diag_gaussians": Spec(
        models.kl_diag_gaussians, {"m1": M2, "s1": S2, "m2": M2[::-1], "s2": S2 + 1.0}, o_kl_diag,
        {"m1": "real", "s1": "real", "m2": "real", "s2": "real"}, ints=("m1", "s1", "m2", "s2"),
        batched=("m1", "s1", "m2", "s2")),
    "models.kl_gaussians": Spec(
        models.kl_gaussians, {"m1": M2, "c1": C_P, "m2": M2[::-1], "c2": C_Q}, o_kl_full,
        {"m1": "real", "c1": "real", "m2": "real", "c2": "real"}, ints=("m1", "c1", "m2", "c2"),
        batched=("m1", "m2")),
    "models.log_second_moment_ratio": Spec(
        models.log_second_moment_ratio, {"m_p": M2 * 0.5, "c_p": C_P, "m_q": M2, "c_q": C_Q},
        o_second_moment, {"m_p": "real", "c_p": "real", "m_q": "real", "c_q": "real"},
        ints=("c_p", "m_q", "c_q")),
    "models.LinearGaussian.create": Spec(
        lambda W, b, noise_std: models.LinearGaussian.create(W, b, noise_std).log_marginal(X_LG),
        {"W": W_LG, "b": B_LG, "noise_std": np.array(S_LG)},
        lambda W, b, noise_std: o_lg_marginal(W, b, noise_std, X_LG),
        {"W": "real", "b": "real", "noise_std": "real"}, ints=("W", "b", "noise_std")),
    "models.LinearGaussian.log_marginal": Spec(
        LG.log_marginal, {"x": XB_LG}, lambda x: o_lg_marginal(W_LG, B_LG, S_LG, x),
        {"x": "real"}, ints=("x",), empty_ok=("x",), batched=("x",)),
    "models.LinearGaussian.log_prior": Spec(
        LG.log_prior, {"z": Z_LG}, lambda z: stats.norm.logpdf(z).sum(-1), {"z": "real"},
        ints=("z",), empty_ok=("z",), batched=("z",)),
    "models.LinearGaussian.log_likelihood": Spec(
        LG.log_likelihood, {"x": X_LG, "z": Z_LG}, o_lg_loglik, {"x": "real", "z": "real"},
        ints=("x", "z"), empty_ok=("z",), batched=("x", "z")),
    "models.LinearGaussian.log_likelihood_gram": Spec(
        LG.log_likelihood_gram, {"x": X_LG, "z": Z_LG}, o_lg_loglik, {"x": "real", "z": "real"},
        ints=("x", "z"), empty_ok=("z",), batched=("z",)),
    "models.LinearGaussian.log_joint": Spec(
        LG.log_joint, {"x": X_LG, "z": Z_LG},
        lambda x, z: o_lg_loglik(x, z) + stats.norm.logpdf(z).sum(-1), {"x": "real", "z": "real"},
        ints=("x", "z"), empty_ok=("z",), batched=("x", "z")),
    "models.LinearGaussian.posterior": Spec(
        lambda x: jnp.concatenate([a.ravel() for a in LG.posterior(x)]), {"x": X_LG},
        o_lg_posterior, {"x": "real"}, ints=("x",), batched=("x",)),
    "models.NonlinearModel.mean": Spec(NL.mean, {"z": Z_LG[:, :1]},
                                       lambda z: np_mlp(NL.params, z), {"z": "real"},
                                       ints=("z",), empty_ok=("z",), batched=("z",)),
    "models.NonlinearModel.log_joint": Spec(
        NL.log_joint, {"x": M2, "z": Z_LG[:, :1]}, o_nl_log_joint, {"x": "real", "z": "real"},
        ints=("x", "z"), empty_ok=("z",), batched=("z",)),
    "models.NonlinearModel.log_marginal": Spec(NL.log_marginal, {"x": M2}, o_nl_marginal,
                                               {"x": "real"}, ints=("x",)),
    "amortized.expected_log_likelihood": Spec(
        lambda x, q_mean, q_std: am.expected_log_likelihood(LG, x, q_mean, q_std),
        {"x": XB_LG, "q_mean": Z_LG[:2], "q_std": np.array([[1.0, 2.0], [0.5, 1.0]])},
        lambda x, q_mean, q_std: o_elbo(x, q_mean, q_std) + o_kl_diag(
            q_mean, q_std, np.zeros_like(q_mean), np.ones_like(q_std)),
        {"x": "real", "q_mean": "real", "q_std": "real"}, ints=("x", "q_mean"),
        batched=("x",)),
    "amortized.closed_form_elbo": Spec(
        lambda x, q_mean, q_std: am.closed_form_elbo(LG, x, q_mean, q_std),
        {"x": XB_LG, "q_mean": Z_LG[:2], "q_std": np.array([[1.0, 2.0], [0.5, 1.0]])}, o_elbo,
        {"x": "real", "q_mean": "real", "q_std": "real"}, ints=("x", "q_mean"),
        batched=("x",)),
    "amortized.kl_to_posterior": Spec(
        lambda x, q_mean, q_std: am.kl_to_posterior(LG, x, q_mean, q_std),
        {"x": X_LG, "q_mean": M2, "q_std": S2}, o_kl_posterior,
        {"x": "real", "q_mean": "real", "q_std": "real"}, ints=("x", "q_mean", "q_std")),
    "amortized.mean_field_optimum": Spec(
        lambda x: jnp.concatenate([a.ravel() for a in am.mean_field_optimum(LG, x)]),
        {"x": XB_LG},
        lambda x: np.concatenate([o_lg_posterior(x)[:x.size // 3 * 2],
                                  np.tile(1.0 / np.sqrt(1.0 + np.sum(W_LG ** 2, 0) / S_LG ** 2),
                                          x.size // 3)]),
        {"x": "real"}, ints=("x",), empty_ok=("x",), batched=("x",)),
    "vae.bernoulli_log_prob": Spec(vl.bernoulli_log_prob, {"x": X_BIN, "logits": T[8:11]},
                                   o_bernoulli, {"x": "real", "logits": "real"},
                                   ints=("x", "logits"), bool_ok=("x",), batched=("x", "logits")),
    "vae.log_joint": Spec(lambda x, z: vl.log_joint(VAE, VP, x, z), {"x": X_BIN, "z": Z_LG},
                          o_vae_log_joint, {"x": "real", "z": "real"}, ints=("x", "z"),
                          bool_ok=("x",), empty_ok=("z",)),
    "vae.diag_gaussian_log_weights": Spec(
        _exact_proposal_log_weights, {"mean": Z_LG, "std": np.ones((3, 2)) * 2.0},
        lambda mean, std: np.zeros((len(mean), 3)), {"mean": "real", "std": "real"},
        ints=("mean", "std")),
    "testing.assert_mean_le": Spec(
        lambda samples, bound: ut.assert_mean_le(samples, bound).measured,
        {"samples": SAMPLES, "bound": np.array(10.0)}, lambda samples, bound: np.mean(samples),
        {"samples": "real", "bound": "real"}, ints=("samples", "bound"), batched=("samples",)),
    "testing.assert_mean_ge": Spec(
        lambda samples, bound: ut.assert_mean_ge(samples, bound).measured,
        {"samples": SAMPLES, "bound": np.array(-10.0)}, lambda samples, bound: np.mean(samples),
        {"samples": "real", "bound": "real"}, ints=("samples", "bound"), batched=("samples",)),
    "testing.assert_mean_close": Spec(
        lambda samples, value: ut.assert_mean_close(samples, value).tolerance,
        {"samples": SAMPLES, "value": np.array(2.0)},
        lambda samples, value: stats.t.isf(0.5e-6, samples.size - 1) * stats.sem(samples.ravel()),
        {"samples": "real", "value": "real"}, ints=("samples", "value"), batched=("samples",)),
    "testing.assert_mean_in_interval_dkwm": Spec(
        lambda samples, low, high, expected_low, expected_high: ut.assert_mean_in_interval_dkwm(
            samples, low, high, expected_low, expected_high).detects,
        {"samples": SAMPLES, "low": np.array(0.0), "high": np.array(8.0),
         "expected_low": np.array(1.0), "expected_high": np.array(3.0)},
        lambda samples, low, high, expected_low, expected_high: (
            2 * np.sqrt(np.log(2e6) / (2 * samples.size)) * (high - low)),
        {"samples": "real", "low": "real", "high": "real", "expected_low": "real",
         "expected_high": "real"},
        ints=("samples", "low", "high", "expected_low", "expected_high"), batched=("samples",)),
    "stats.mean_and_se": Spec(lambda x: np.array(gstats.mean_and_se(x)[:2]), {"x": SAMPLES},
                              lambda x: np.array([np.mean(x), stats.sem(x)]), {"x": "propagate"},
                              ints=("x",)),
    "optimize.golden_section_max": Spec(
        lambda lo, hi: optimize.golden_section_max(lambda t: -jnp.abs(t - 0.3), lo, hi)[0],
        {"lo": np.array([-1.0, 0.0, 1.0]), "hi": np.array([1.0, 2.0, 3.0])},
        lambda lo, hi: np.clip(0.3, lo, hi), {"lo": "real", "hi": "real"}, ints=("lo", "hi"),
        empty_ok=("lo", "hi"), batched=("lo", "hi")),
}


CASES2 = _cases(SPECS2)


@pytest.mark.parametrize("fname, arg, change, expected", [c[1:] for c in CASES2],
                         ids=[c[0] for c in CASES2])
def test_round_two_each_class_gives_the_oracle_or_names_the_argument(fname, arg, change,
                                                                       expected):
  _check_case(SPECS2[fname], arg, change, expected)


# --- round two: keys, counts, sizes, callables (models, amortized, vae, bounds, testing,
# masked_conv, dependencies, stats, optimize) ---------------------------------------------------

_ENC = am.Encoder(2)
_F = lambda x: jnp.cumsum(x) - x  # causal in raster order
_LJ_VAE = lambda xi, z: -jnp.sum(z * z, -1)
_PROP2 = (lambda k, n: jax.random.normal(k, (n, 2)),
          lambda x: jax.scipy.stats.norm.logpdf(x).sum(-1))
_LP2 = lambda x: jax.scipy.stats.norm.logpdf(x).sum(-1)
_MSTACK = mc.MaskedStack(("A", "B"))

KEYED = (
    ("LinearGaussian.sample", lambda k: LG.sample(k, 3)),
    ("NonlinearModel.sample", lambda k: NL.sample(k, 3)),
    ("NonlinearModel.create", lambda k: models.NonlinearModel.create(k, 2, 2)),
    ("random_linear_gaussian", lambda k: models.random_linear_gaussian(k, 2, 3)),
    ("linear_gaussian_log_weights", lambda k: bounds.linear_gaussian_log_weights(
        k, LG, X_LG, M2, S2, 4)),
    ("linear_gaussian_iwae", lambda k: bounds.linear_gaussian_iwae(k, LG, XB_LG, Z_LG[:2],
                                                                   np.ones((2, 2)), 4)),
    ("fit_amortised", lambda k: am.fit_amortised(k, LG, XB_LG, _ENC, 0)),
    ("vae.iwae_objective", lambda k: vl.iwae_objective(k, VAE, VP, X_BIN[None], 2)),
    ("vae.diag_gaussian_log_weights", lambda k: vl.diag_gaussian_log_weights(
        k, _LJ_VAE, X_BIN[None], M2[None], S2[None], 2)),
    ("vae.fit_local_gaussians", lambda k: vl.fit_local_gaussians(
        k, _LJ_VAE, X_BIN[None], M2[None], S2[None], 1)),
    ("dependencies.jacobian_dependencies", lambda k: deps.jacobian_dependencies(
        _F, (3,), key=k)),
    ("dependencies.perturbation_dependencies", lambda k: deps.perturbation_dependencies(
        _F, (3,), key=k)),
    ("testing.assert_autoregressive", lambda k: ut.assert_autoregressive(_F, (3,), key=k)),
    ("testing.assert_normalised", lambda k: ut.assert_normalised(_LP2, proposal=_PROP2, n=100,
                                                                 key=k)),
)

ROUND_TWO = [
    # models: sizes, counts, shapes, dtypes of the constructors
    ("LinearGaussian.create W [D]", lambda: models.LinearGaussian.create(B_LG, B_LG, 1.0), "W"),
    ("LinearGaussian.create W [3, 0]", lambda: models.LinearGaussian.create(
        np.zeros((3, 0)), B_LG, 1.0), "W"),
    ("LinearGaussian.create b of D + 1", lambda: models.LinearGaussian.create(
        W_LG, np.zeros(4), 1.0), "b"),
    ("LinearGaussian.create noise_std = 0", lambda: models.LinearGaussian.create(
        W_LG, B_LG, 0.0), "noise_std"),
    ("LinearGaussian.create noise_std [2]", lambda: models.LinearGaussian.create(
        W_LG, B_LG, np.ones(2)), "noise_std"),
    ("LinearGaussian.sample n = 0", lambda: LG.sample(key(), 0), "n"),
    ("LinearGaussian.sample n = -1", lambda: LG.sample(key(), -1), "n"),
    ("LinearGaussian.sample n = 2.0", lambda: LG.sample(key(), 2.0), "n"),
    ("LinearGaussian.log_likelihood z of d + 1", lambda: LG.log_likelihood(X_LG, np.zeros(3)),
     "z"),
    ("LinearGaussian.log_likelihood_gram x [n, D]", lambda: LG.log_likelihood_gram(XB_LG, Z_LG),
     "x"),
    ("LinearGaussian.log_marginal x of D - 1", lambda: LG.log_marginal(np.zeros(2)), "x"),
    ("NonlinearModel.create data_dim = 0", lambda: models.NonlinearModel.create(key(), 0), "data_dim"),
    ("NonlinearModel.create hidden = 0", lambda: models.NonlinearModel.create(key(), 2, 0),
     "hidden"),
    ("NonlinearModel.create noise_std = -1", lambda: models.NonlinearModel.create(
        key(), 2, 2, -1.0), "noise_std"),
    ("NonlinearModel.create noise_std [2]", lambda: models.NonlinearModel.create(
        key(), 2, 2, np.ones(2)), "noise_std"),
    ("NonlinearModel.create dtype int32", lambda: models.NonlinearModel.create(
        key(), 2, 2, 0.5, jnp.int32), "dtype"),
    ("NonlinearModel.create dtype float16", lambda: models.NonlinearModel.create(
        key(), 2, 2, 0.5, jnp.float16), "dtype"),
    ("NonlinearModel.sample n = 0", lambda: NL.sample(key(), 0), "n"),
    ("NonlinearModel.log_marginal num_nodes = 1", lambda: NL.log_marginal(M2, num_nodes=1),
     "num_nodes"),
    ("NonlinearModel.log_marginal half_width = 0", lambda: NL.log_marginal(M2, 0.0),
     "half_width"),
    ("NonlinearModel.log_joint x [1, D]", lambda: NL.log_joint(M2[None], Z_LG[:, :1]), "x"),
    ("NonlinearModel.mean z [n, 2]", lambda: NL.mean(Z_LG), "z"),
    ("random_linear_gaussian latent_dim = 0", lambda: models.random_linear_gaussian(
        key(), 0, 3), "latent_dim"),
    ("kl_gaussians c1 [3, 3] for d = 2", lambda: models.kl_gaussians(M2, np.eye(3), M2, C_Q),
     "c1"),
    ("log_second_moment_ratio m_p [1, d]", lambda: models.log_second_moment_ratio(
        M2[None], C_P, M2, C_Q), "m_p"),
    ("log_second_moment_ratio c_q not symmetric", lambda: models.log_second_moment_ratio(
        M2, C_P, M2, np.array([[4.0, 1.0], [0.0, 3.0]])), "c_q"),
    ("log_second_moment_ratio c_p not positive definite", lambda: models.log_second_moment_ratio(
        M2, -C_P, M2, C_Q), "c_p"),
    # amortized
    ("fit_amortised encoder = 'Encoder'", lambda: am.fit_amortised(key(), LG, XB_LG, "Encoder"),
     "encoder"),
    ("fit_amortised num_steps = -1", lambda: am.fit_amortised(key(), LG, XB_LG, _ENC, -1),
     "num_steps"),
    ("fit_amortised x bool", lambda: am.fit_amortised(key(), LG, XB_LG > 0, _ENC, 0), "x"),
    ("fit_amortised x [0, D]", lambda: am.fit_amortised(key(), LG, XB_LG[:0], _ENC, 0), "x"),
    ("fit_per_instance num_steps = -1", lambda: am.fit_per_instance(LG, XB_LG, -1), "num_steps"),
    ("fit_per_instance x [D]", lambda: am.fit_per_instance(LG, X_LG, 0), "x"),
    ("fit_per_instance x float16", lambda: am.fit_per_instance(LG, XB_LG.astype(np.float16), 0),
     "x"),
    ("fit_per_instance x +inf", lambda: am.fit_per_instance(LG, XB_LG * np.inf, 0), "x"),
    ("kl_to_posterior q_std = 0", lambda: am.kl_to_posterior(LG, X_LG, M2, np.zeros(2)),
     "q_std"),
    ("closed_form_elbo q_std of another shape", lambda: am.closed_form_elbo(
        LG, XB_LG, Z_LG[:2], np.ones(2)), "q_std"),
    # vae
    ("vae.bernoulli_log_prob x = 0.5", lambda: vl.bernoulli_log_prob(X_BIN * 0.5, T[8:11]), "x"),
    ("vae.log_joint params of another network", lambda: vl.log_joint(
        VAE, {"params": {}}, X_BIN, Z_LG), "params"),
    ("vae.log_joint vae = 'vae'", lambda: vl.log_joint("vae", VP, X_BIN, Z_LG), "vae"),
    ("vae.iwae_objective K = 0", lambda: vl.iwae_objective(key(), VAE, VP, X_BIN[None], 0), "K"),
    ("vae.iwae_objective x [D]", lambda: vl.iwae_objective(key(), VAE, VP, X_BIN, 2), "x"),
    ("vae.diag_gaussian_log_weights log_joint_fn = None", lambda: vl.diag_gaussian_log_weights(
        key(), None, X_BIN[None], M2[None], S2[None], 2), "log_joint_fn"),
    ("vae.diag_gaussian_log_weights n = 0", lambda: vl.diag_gaussian_log_weights(
        key(), _LJ_VAE, X_BIN[None], M2[None], S2[None], 0), "n"),
    ("vae.diag_gaussian_log_weights log_joint_fn returns [n, 1]",
     lambda: vl.diag_gaussian_log_weights(key(), lambda x, z: z[:, :1], X_BIN[None], M2[None],
                                          S2[None], 2), "log_joint_fn"),
    ("vae.fit_local_gaussians log_joint_fn = 1", lambda: vl.fit_local_gaussians(
        key(), 1, X_BIN[None], M2[None], S2[None], 1), "log_joint_fn"),
    ("vae.fit_local_gaussians learning_rate < 0", lambda: vl.fit_local_gaussians(
        key(), _LJ_VAE, X_BIN[None], M2[None], S2[None], 1, learning_rate=-1e-2),
     "learning_rate"),
    ("vae.fit_local_gaussians learning_rate NaN", lambda: vl.fit_local_gaussians(
        key(), _LJ_VAE, X_BIN[None], M2[None], S2[None], 1, learning_rate=np.nan),
     "learning_rate"),
    ("vae.fit_local_gaussians num_samples = 0", lambda: vl.fit_local_gaussians(
        key(), _LJ_VAE, X_BIN[None], M2[None], S2[None], 1, num_samples=0), "num_samples"),
    ("vae.fit_local_gaussians num_steps = -1", lambda: vl.fit_local_gaussians(
        key(), _LJ_VAE, X_BIN[None], M2[None], S2[None], -1), "num_steps"),
    ("vae.fit_local_gaussians init_mean int8 +inf-free but bool", lambda: vl.fit_local_gaussians(
        key(), _LJ_VAE, X_BIN[None], M2[None] > 0, S2[None], 1), "init_mean"),
    # testing (the users' assertions)
    ("assert_mean_le false_fail_rate = 0", lambda: ut.assert_mean_le(
        SAMPLES, 10.0, false_fail_rate=0.0), "false_fail_rate"),
    ("assert_mean_le false_pass_rate = 1", lambda: ut.assert_mean_le(
        SAMPLES, 10.0, false_pass_rate=1.0), "false_pass_rate"),
    ("assert_mean_close samples of one", lambda: ut.assert_mean_close(SAMPLES[:1], 1.0),
     "samples"),
    ("assert_mean_in_interval_dkwm low >= high", lambda: ut.assert_mean_in_interval_dkwm(
        SAMPLES, 8.0, 0.0, 1.0, 3.0), "low"),
    ("assert_mean_in_interval_dkwm samples outside", lambda: ut.assert_mean_in_interval_dkwm(
        SAMPLES, 0.0, 4.0, 1.0, 3.0), "samples"),
    ("assert_mean_in_interval_dkwm expected reversed", lambda: ut.assert_mean_in_interval_dkwm(
        SAMPLES, 0.0, 8.0, 3.0, 1.0), "expected_low"),
    ("dkwm_epsilon n = 0", lambda: ut.dkwm_epsilon(0, 1e-3), "n"),
    ("min_detectable n = 1", lambda: ut.min_detectable(1.0, 1), "n"),
    ("min_detectable std = 0", lambda: ut.min_detectable(0.0, 10), "std"),
    ("min_samples discrepancy = 0", lambda: ut.min_samples(0.0, 1.0), "discrepancy"),
    ("assert_autoregressive fn = 3", lambda: ut.assert_autoregressive(3, (3,)), "fn"),
    ("assert_autoregressive input_shape = ()", lambda: ut.assert_autoregressive(_F, ()),
     "input_shape"),
    ("assert_autoregressive input_shape (3, -1)", lambda: ut.assert_autoregressive(_F, (3, -1)),
     "input_shape"),
    ("assert_autoregressive num_draws = 0", lambda: ut.assert_autoregressive(
        _F, (3,), num_draws=0), "num_draws"),
    ("assert_autoregressive order not a permutation", lambda: ut.assert_autoregressive(
        _F, (3,), order=[0, 0, 1]), "order"),
    ("assert_autoregressive fn returns [1]", lambda: ut.assert_autoregressive(
        lambda x: x[:1], (3,)), "fn"),
    ("assert_normalised log_prob = None", lambda: ut.assert_normalised(
        None, bounds=[(-8.0, 8.0)]), "log_prob"),
    ("assert_normalised neither bounds nor proposal", lambda: ut.assert_normalised(_LP2),
     "bounds"),
    ("assert_normalised bounds reversed", lambda: ut.assert_normalised(
        _LP2, bounds=[(8.0, -8.0)]), "bounds"),
    ("assert_normalised bounds infinite", lambda: ut.assert_normalised(
        _LP2, bounds=[(-np.inf, 8.0)]), "bounds"),
    ("assert_normalised three intervals", lambda: ut.assert_normalised(
        _LP2, bounds=[(-1.0, 1.0)] * 3), "bounds"),
    ("assert_normalised grid = 4", lambda: ut.assert_normalised(
        _LP2, bounds=[(-8.0, 8.0)] * 2, grid=4), "grid"),
    ("assert_normalised rtol = 0", lambda: ut.assert_normalised(
        _LP2, bounds=[(-8.0, 8.0)], rtol=0.0), "rtol"),
    ("assert_normalised proposal one function", lambda: ut.assert_normalised(
        _LP2, proposal=_PROP2[0]), "proposal"),
    ("assert_normalised n = 0", lambda: ut.assert_normalised(_LP2, proposal=_PROP2, n=0), "n"),
    ("assert_normalised log_prob returns [n, 1]", lambda: ut.assert_normalised(
        lambda x: x[:, :1], proposal=_PROP2, n=10), "log_prob"),
    # masked_conv
    ("mask kind 'C'", lambda: mc.mask("C"), "kind"),
    ("mask kernel_size = 2", lambda: mc.mask("A", 2), "kernel_size"),
    ("mask kernel_size = 0", lambda: mc.mask("A", 0), "kernel_size"),
    ("mask kernel_size = True", lambda: mc.mask("A", True), "kernel_size"),
    ("channel_mask in_features = 0", lambda: mc.channel_mask("A", 3, 0, 3), "in_features"),
    ("channel_mask out_features = -1", lambda: mc.channel_mask("A", 3, 3, -1), "out_features"),
    ("channel_mask groups = 0", lambda: mc.channel_mask("A", 3, 3, 3, 0), "groups"),
    ("channel_mask groups = 3 for 4 features", lambda: mc.channel_mask("A", 3, 4, 3, 3),
     "in_features"),
    ("stack_dependencies masks = ()", lambda: mc.stack_dependencies(()), "masks"),
    ("stack_dependencies masks ('A', 'C')", lambda: mc.stack_dependencies(("A", "C")), "masks"),
    ("stack_dependencies size = 0", lambda: mc.stack_dependencies(("A",), 0), "size"),
    ("stack_dependencies channels = -1", lambda: mc.stack_dependencies(("A",), 3, channels=-1),
     "channels"),
    ("receptive_field pixel (0, 1)", lambda: mc.receptive_field(("A",), 3, (0, 1)), "pixel"),
    ("receptive_field pixel (4, 1) on 3 x 3", lambda: mc.receptive_field(("A",), 3, (4, 1)),
     "pixel"),
    ("receptive_field pixel (1.5, 2)", lambda: mc.receptive_field(("A",), 3, (1.5, 2)), "pixel"),
    ("receptive_field pixel 2", lambda: mc.receptive_field(("A",), 3, 2), "pixel"),
    ("receptive_field size = 0", lambda: mc.receptive_field(("A",), 0), "size"),
    ("masked_conv.jacobian_dependencies module = 'A'", lambda: mc.jacobian_dependencies("A", 3),
     "module"),
    ("masked_conv.jacobian_dependencies size = 0", lambda: mc.jacobian_dependencies(_MSTACK, 0),
     "size"),
    ("masked_conv.jacobian_dependencies num_draws = 0", lambda: mc.jacobian_dependencies(
        _MSTACK, 3, num_draws=0), "num_draws"),
    ("masked_conv.jacobian_dependencies seed = 1.5", lambda: mc.jacobian_dependencies(
        _MSTACK, 3, seed=1.5), "seed"),
    ("masked_conv.jacobian_dependencies seed = -1", lambda: mc.jacobian_dependencies(
        _MSTACK, 3, seed=-1), "seed"),
    ("pixel_field module = None", lambda: mc.pixel_field(None, 3, (2, 2)), "module"),
    ("pixel_field size = -1", lambda: mc.pixel_field(_MSTACK, -1, (2, 2)), "size"),
    ("pixel_field pixel (2, 4)", lambda: mc.pixel_field(_MSTACK, 3, (2, 4)), "pixel"),
    ("pixel_field num_draws = 0", lambda: mc.pixel_field(_MSTACK, 3, (2, 2), num_draws=0),
     "num_draws"),
    ("pixel_field seed = 'a'", lambda: mc.pixel_field(_MSTACK, 3, (2, 2), seed="a"), "seed"),
    ("pixel_field layers=True without sown layers", lambda: mc.pixel_field(
        mc.MaskedConv(1, "A"), 3, (2, 2), layers=True), "layers"),
    ("autoregressive_violations dep [3]", lambda: mc.autoregressive_violations(np.ones(3)),
     "dep"),
    ("autoregressive_violations dep [2, 3]", lambda: mc.autoregressive_violations(
        np.ones((2, 3))), "dep"),
    ("blind_spot pixel (0, 0)", lambda: mc.blind_spot((), 3, (0, 0)), "pixel"),
    ("blind_spot size = 0", lambda: mc.blind_spot((), 0, (1, 1)), "size"),
    ("grid size = -1", lambda: mc.grid((), -1), "size"),
    # dependencies
    ("dependencies.jacobian_dependencies fn = None", lambda: deps.jacobian_dependencies(
        None, (3,)), "fn"),
    ("dependencies.jacobian_dependencies input_shape = 3", lambda: deps.jacobian_dependencies(
        _F, 3), "input_shape"),
    ("dependencies.jacobian_dependencies input_shape (0,)", lambda: deps.jacobian_dependencies(
        _F, (0,)), "input_shape"),
    ("dependencies.jacobian_dependencies num_draws = -1", lambda: deps.jacobian_dependencies(
        _F, (3,), num_draws=-1), "num_draws"),
    ("dependencies.jacobian_dependencies fn returns a scalar",
     lambda: deps.jacobian_dependencies(jnp.sum, (3,)), "fn"),
    ("dependencies.perturbation_dependencies fn = 'f'", lambda: deps.perturbation_dependencies(
        "f", (3,)), "fn"),
    ("dependencies.perturbation_dependencies num_draws = 1.0",
     lambda: deps.perturbation_dependencies(_F, (3,), num_draws=1.0), "num_draws"),
    ("dependencies.check_autoregressive dep [3]", lambda: deps.check_autoregressive(np.ones(3)),
     "dep"),
    ("dependencies.check_autoregressive order of 2 for 3", lambda: deps.check_autoregressive(
        np.eye(3), order=[0, 1]), "order"),
    # stats
    ("stats.mean_and_se x of one", lambda: gstats.mean_and_se(np.ones(1)), "x"),
    ("stats.mean_and_se x scalar", lambda: gstats.mean_and_se(np.float64(1.0)), "x"),
    ("stats.mean_and_se axis = 1 on [n]", lambda: gstats.mean_and_se(SAMPLES, 1), "axis"),
    ("stats.mean_and_se axis = 0.5", lambda: gstats.mean_and_se(SAMPLES, 0.5), "axis"),
    ("stats.z_for_rate rate = 0", lambda: gstats.z_for_rate(0.0), "rate"),
    ("stats.z_for_rate rate NaN", lambda: gstats.z_for_rate(np.nan), "rate"),
    ("stats.t_for_rate dof = 0", lambda: gstats.t_for_rate(0.05, 0), "dof"),
    ("stats.t_for_rate dof = 2.5", lambda: gstats.t_for_rate(0.05, 2.5), "dof"),
    ("stats.detectable se < 0", lambda: gstats.detectable(-1.0, 0.05), "se"),
    ("stats.detectable n = 1", lambda: gstats.detectable(1.0, 0.05, 1), "n"),
    ("stats.detectable n = 0", lambda: gstats.detectable(1.0, 0.05, 0), "n"),
    ("stats.min_samples std = 0", lambda: gstats.min_samples(0.1, 0.0, 0.05), "std"),
    ("stats.min_samples false_fail_rate = 1", lambda: gstats.min_samples(0.1, 1.0, 1.0), "rate"),
    ("stats.bonferroni n_tests = 0", lambda: gstats.bonferroni(0.05, 0), "n_tests"),
    ("stats.samples_for_resolution delta = 0", lambda: gstats.samples_for_resolution(
        1.0, 0.0, 2.0), "delta"),
    ("stats.samples_for_resolution sd NaN", lambda: gstats.samples_for_resolution(
        np.nan, 0.1, 2.0), "sd"),
    ("stats.samples_for_resolution z = inf", lambda: gstats.samples_for_resolution(
        1.0, 0.1, np.inf), "z"),
    ("stats.binomial_ci trials = 0", lambda: gstats.binomial_ci(0, 0), "trials"),
    ("stats.binomial_ci successes > trials", lambda: gstats.binomial_ci(5, 4), "successes"),
    ("stats.binomial_ci level = 1", lambda: gstats.binomial_ci(1, 4, 1.0), "level"),
    # optimize
    ("golden_section_max f = 0", lambda: optimize.golden_section_max(0, 0.0, 1.0), "f"),
    ("golden_section_max lo > hi", lambda: optimize.golden_section_max(jnp.negative, 1.0, 0.0),
     "lo"),
    ("golden_section_max lo = hi", lambda: optimize.golden_section_max(jnp.negative, 1.0, 1.0),
     "lo"),
    ("golden_section_max lo [2], hi [3]", lambda: optimize.golden_section_max(
        jnp.negative, np.zeros(2), np.ones(3)), "lo"),
    ("golden_section_max num_iters = -1", lambda: optimize.golden_section_max(
        jnp.negative, 0.0, 1.0, -1), "num_iters"),
    ("golden_section_max f returns a scalar", lambda: optimize.golden_section_max(
        jnp.sum, np.zeros(2), np.ones(2)), "f"),
] + [
    (f"{name} key {kname}", (lambda c=call, k=kval: c(k)), "key")
    for kname, kval in BAD_KEYS.items() for name, call in KEYED
]


@pytest.mark.parametrize("call, arg", [(c, a) for _, c, a in ROUND_TWO],
                         ids=[n for n, _, _ in ROUND_TWO])
def test_round_two_counts_sizes_callables_and_keys_name_the_argument(call, arg):
  with pytest.raises(ValueError, match=f"`{arg}`"):
    call()


@pytest.mark.parametrize("name, call", KEYED, ids=[n for n, _ in KEYED])
def test_round_two_a_legacy_key_works_as_its_typed_twin(name, call):
  """Next to the refused keys: ``jax.random.PRNGKey(seed)`` (uint32 [2]) and the typed key that
  wraps the same bits give the same result."""
  legacy = call(jax.random.PRNGKey(7))
  typed = call(jax.random.wrap_key_data(jax.random.PRNGKey(7)))
  for a, b in zip(jax.tree_util.tree_leaves(legacy), jax.tree_util.tree_leaves(typed)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
