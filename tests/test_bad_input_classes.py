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
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Callable

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
  "prob" (in [0, 1]). ``ints``: the arguments whose integer-valued base values stay valid when
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


def _cases():
  """(id, spec name, argument, how the argument is changed, expected: None = the oracle's
  number, else the argument the ValueError names)."""
  out = []
  for fname, spec in SPECS.items():
    for arg, kind in spec.kinds.items():
      for dt in ("float32", "float64"):
        out.append((f"{fname}-{arg}-{dt}", fname, arg, ("dtype", dt), None))
      for dt in INT_DTYPES:
        if arg in spec.ints:
          out.append((f"{fname}-{arg}-{dt}", fname, arg, ("dtype", dt), None))
      for dt in REFUSED_DTYPES:
        out.append((f"{fname}-{arg}-{dt}", fname, arg, ("dtype", dt), arg))
      out.append((f"{fname}-{arg}-nan", fname, arg, ("value", np.nan), arg))
      out.append((f"{fname}-{arg}-+inf", fname, arg, ("value", np.inf), arg))
      out.append((f"{fname}-{arg}--inf", fname, arg, ("value", -np.inf),
                  None if kind == "logd" else arg))
      out.append((f"{fname}-{arg}-empty", fname, arg, ("empty",),
                  None if arg in spec.empty_ok else arg))
      out.append((f"{fname}-{arg}-extra axis", fname, arg, ("axis",),
                  None if arg in spec.batched else arg))
  return out


CASES = _cases()


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
  spec = SPECS[fname]
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
  """The catalogue covers every class for every spec: at least 350 cases, both outcomes."""
  n_number = sum(c[-1] is None for c in CASES)
  n_error = len(CASES) - n_number
  assert len(CASES) >= 350 and n_number >= 100 and n_error >= 250, (len(CASES), n_number,
                                                                       n_error)
  assert len({c[0] for c in CASES}) == len(CASES)
  print(f"{len(CASES)} cases: {n_number} give the oracle's number, {n_error} a named ValueError")


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


def test_dtype_rules_hold_under_jit():
  """dtypes are static: a bool or float16 score matrix is refused while tracing; an int one is
  promoted to the default float."""
  f = jax.jit(mi.dv)
  for dt in (jnp.bool_, jnp.float16):
    with pytest.raises(ValueError, match="`scores`"):
      f(jnp.zeros((3, 3), dt))
  got = f(jnp.asarray(SCORES, jnp.int32))
  assert got.dtype == jnp.result_type(float)
  np.testing.assert_allclose(got, SPECS["mi.dv"].oracle(SCORES), rtol=1e-12)
