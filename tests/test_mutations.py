"""The catalogue of planted mistakes (gdm_jax/mutations.py) is itself checked: every mutation
changes what its target computes on a small probe input, is undone on leaving ``applied``, patches
every binding of the name it replaces, and names a narrow scope of claims; a few cheap mutations
run through the real harness."""
import fnmatch
import importlib
import pathlib
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gdm_jax import (amortized as am, bounds, change_of_variables as cov, claims,
                     divergences as dv, gan, kl_bounds as kb, masked_conv as mc, mi, models,
                     mutations, optimize, stats, sweeps, vae as vl)
from gdm_jax.claims import densities as ds
from gdm_jax.claims.core import Config

MATH_MODULES = ("change_of_variables", "models", "bounds", "amortized", "masked_conv", "gan",
                "kl_bounds", "divergences", "optimize", "stats", "sweeps", "mi", "vae")
F64 = jnp.float64


# ---------------------------------------------------------------------------------------------
# Probe inputs: small, float64, chosen so that each planted slip shows (a non-symmetric S with
# det S < 0, a non-diagonal covariance, scales != 1, unsorted samples, ...).

def _lg():
  return models.LinearGaussian(jnp.array([[1.0, 0.5], [-0.3, 0.8], [0.2, -1.1], [0.7, 0.4]], F64),
                               jnp.array([0.3, -0.2, 0.5, 0.1], F64), jnp.asarray(0.7, F64))


_S = jnp.array([[1.0, 2.0], [0.5, -1.0]], F64)     # det -2, not symmetric
_C = jnp.array([[2.0, 0.6], [0.6, 1.0]], F64)      # SPD, not diagonal
_C2 = jnp.array([[1.0, -0.3], [-0.3, 0.5]], F64)
_Z0 = jnp.array([[0.3, -0.5], [1.2, 0.4], [-0.7, 0.9]], F64)
_X = jnp.array([[0.5, -1.0, 0.2, 1.5], [1.0, 0.3, -0.4, 0.0], [-0.6, 0.8, 1.1, 0.2]], F64)
_QM, _QS = jnp.array([0.4, -0.2], F64), jnp.array([0.6, 1.3], F64)
_LW = jnp.array([0.3, -1.2, 2.0, 0.5, -0.1], F64)
_TP, _TQ = jnp.array([0.3, -1.2, 2.0], F64), jnp.array([0.1, 0.4, -0.7, 1.5], F64)
_GRID = jnp.linspace(-3.0, 4.0, 71, dtype=F64)
_LP = -0.5 * _GRID ** 2 - 0.5 * np.log(2 * np.pi)
_LQ = -0.5 * ((_GRID - 1.0) / 1.5) ** 2 - np.log(1.5) - 0.5 * np.log(2 * np.pi)


def _key(i=0):
  return jax.random.key(i)


def _linear_map(z):
  return _S @ z


def _chunked():
  lg = _lg()
  prop = bounds.diag_gaussian_proposal(_QM, _QS)
  return bounds.iwae_estimate(_key(), lambda z: lg.log_joint(_X[0], z), prop, 10, 3)


class _OnlyStructural(nn.Module):
  """Dependencies that only the positive structural draw sees: at random weights every
  pre-activation is about -100 (ReLU' = 0); at positive weights and a zero input it is > 0."""

  @nn.compact
  def __call__(self, x):
    return jax.nn.relu(nn.Dense(1, bias_init=nn.initializers.constant(-100.0))(x))


def _surrogate_grad(name):
  lg = _lg()
  eps = jax.random.normal(_key(), (6, 2), F64)
  return jax.grad(lambda m: getattr(bounds.iwae_surrogates(eps, lg, m, jnp.log(_QS), _X[0]),
                                    name))(_QM)


def _dreg_grad():
  return _surrogate_grad("dreg")


def _VAE():
  """A 2-latent Bernoulli VAE on 4 pixels, float64, with encoder stds != 1 (log-std bias 0.7)."""
  model = vl.BernoulliVAE(4, 2, (3,))
  params = jax.tree_util.tree_map(lambda p: p.astype(F64),
                                  model.init(_key(5), jnp.zeros((1, 4), F64)))
  enc = params["params"]["encoder"]
  last = sorted(enc)[-1]  # the log-std layer
  enc[last]["bias"] = enc[last]["bias"] + 0.7
  return model, params


def _golden():
  return optimize.golden_section_max(lambda u: -(u - 0.3) ** 2, jnp.asarray(-1.0, F64),
                                     jnp.asarray(2.0, F64))


def _disc(n_used):
  x1 = jax.random.normal(_key(1), (32, 1), F64) + 1.0
  x0 = jax.random.normal(_key(2), (32, 1), F64)
  return gan.train_discriminator(_key(3), x1, x0, n_used, steps=3, batch=8, hidden=4)


def _critic():
  return kb.train_critic(_key(4), ds.sample_p6, ds.sample_q6, "r1", steps=3, batch=8, hidden=4)


_R1 = lambda: (kb.r1(_TP, _TQ), kb.r1_quadrature(_LP - _LQ + 0.5, _LP, _LQ, _GRID))
_R2 = lambda: (kb.r2(_TP, _TQ), kb.r2_quadrature(_LP - _LQ + 0.5, _LP, _LQ, _GRID))
_SCORES = jnp.array([[2.0, 0.3, -1.0], [0.5, 1.5, 0.2], [-0.4, 0.8, 3.0]], F64)
_MASKS = lambda: (mc.mask("A"), mc.mask("B"), mc.mask("A", 5), mc.mask("B", 5))

#: name -> a zero-argument function that evaluates the mutation's target (through its module, as
#: the claims do) on a small input.
PROBES = {
    "drop_logdet": lambda: cov.log_abs_det_jacobian(_linear_map, _Z0[0]),
    "written_base_normaliser": lambda: cov.standard_normal_log_prob(_Z0),
    "written_det_normaliser": lambda: cov.log_abs_det_jacobian(_linear_map, _Z0[0]),
    "log_k_off_by_one": lambda: bounds.iwae_bound(_LW),
    "mean_of_log_weights": lambda: (bounds.iwae_bound(_LW), bounds.prefix_bounds(_LW)),
    "chunk_forgets_rescale": _chunked,
    "elbo_drops_trace": lambda: am.expected_log_likelihood(_lg(), _X, _QM, _QS),
    "b_theta_kl_to_prior": lambda: am.kl_to_posterior(_lg(), _X[0], _QM, _QS),
    "marginal_drops_noise_det": lambda: _lg().log_marginal(_X),
    "mask_a_leaks_centre": _MASKS,
    "mask_rows_above_one": _MASKS,
    "pixel_field_transposed": lambda: mc.pixel_field(mc.MaskedStack(("A",)), 4, (2, 3),
                                                     num_draws=1),
    "kernel_flipping": lambda: mc.channel_mask("A", 3, 3, 3, groups=3),
    "d_star_swapped": lambda: gan.optimal_discriminator(_LP, _LQ),
    "jsd_without_half": lambda: (dv.jsd_monte_carlo(_LP[:5], _LQ[:5], _LP[5:9], _LQ[5:9]),
                                 dv.jsd_quadrature(_LP, _LQ, _GRID)),
    "dv_wrong_sign": _R2,
    "nwj_without_minus_one": _R1,
    "gaussian_logdet_not_halved": lambda: cov.gaussian_log_prob(_Z0, _QM, _C),
    "gaussian_cholesky_transposed": lambda: cov.gaussian_log_prob(_Z0, _QM, _C),
    "affine_transposed": lambda: cov.affine(_QM, _S)(_Z0),
    "affine_variance": lambda: cov.affine(_QM, _QS)(_Z0),
    "pushforward_plus_logdet": lambda: cov.pushforward_log_prob(_linear_map,
                                                                cov.standard_normal_log_prob, _Z0),
    "standard_normal_no_sqrt": lambda: cov.standard_normal_log_prob(_Z0),
    "logdet_without_abs": lambda: cov.log_abs_det_jacobian(_linear_map, _Z0[0]),
    "bisect_comparison_flipped": lambda: cov.bisect_inverse(lambda u: u ** 3 + u,
                                                            jnp.array([0.5, 2.0], F64), -10.0,
                                                            10.0),
    "gram_drops_r0_r0": lambda: _lg().log_likelihood_gram(_X[0], _Z0),
    "gram_cross_term_once": lambda: _lg().log_likelihood_gram(_X[0], _Z0),
    "sample_noise_variance": lambda: _lg().sample(_key(), 5),
    "sample_forgets_b": lambda: _lg().sample(_key(), 5),
    "posterior_cov_not_inverted": lambda: _lg().posterior(_X),
    "posterior_mean_no_s2": lambda: _lg().posterior(_X),
    "kl_diag_log_swapped": lambda: models.kl_diag_gaussians(_QM, _QS, -_QM, 2.0 * _QS[::-1]),
    "kl_trace_transposed": lambda: models.kl_gaussians(_QM, _C, -_QM, _C2),
    "second_moment_half_logdet": lambda: models.log_second_moment_ratio(_QM, _C2, -_QM, _C),
    "diag_log_prob_half_log_std": lambda: models.diag_gaussian_log_prob(_Z0, _QM, _QS),
    "likelihood_without_b": lambda: _lg().log_likelihood(_X, _Z0),
    "nonlinear_marginal_no_h": lambda: models.NonlinearModel.create(
        _key(), 2, 4, 0.5, F64).log_marginal(_X[0, :2], 12.0, 101),
    "dreg_weights_not_squared": _dreg_grad,
    "dreg_no_stop_gradient": _dreg_grad,
    "stl_no_stop_gradient": lambda: _surrogate_grad("stl"),
    "stl_stops_z": lambda: _surrogate_grad("stl"),
    "prefix_divides_by_k_max": lambda: bounds.prefix_bounds(_LW),
    "chunks_share_one_key": _chunked,
    "chunk_remainder_dropped": _chunked,
    "chunk_normalised_by_full_chunks": _chunked,
    "diag_proposal_log_q_variance": lambda: bounds.diag_gaussian_proposal(_QM, _QS)(_key(), 4),
    "full_proposal_chol_untransposed": lambda: bounds.full_gaussian_proposal(_QM, _C)(_key(), 4),
    "elbo_plus_kl": lambda: am.closed_form_elbo(_lg(), _X, _QM, _QS),
    "elbo_trace_std": lambda: am.expected_log_likelihood(_lg(), _X, _QM, _QS),
    "mean_field_std_no_sqrt": lambda: am.mean_field_optimum(_lg(), _X),
    "instance_fit_two_steps": lambda: am.fit_per_instance(_lg(), _X, num_steps=10),
    "amortised_fit_two_steps": lambda: am.fit_amortised(_key(), _lg(), _X, am.Encoder(2),
                                                         num_steps=10),
    "kl_to_posterior_reversed": lambda: am.kl_to_posterior(_lg(), _X[0], _QM, _QS),
    "mask_b_excludes_centre": _MASKS,
    "mask_a_row_below": _MASKS,
    "channel_mask_a_le": lambda: mc.channel_mask("A", 3, 3, 3, groups=3),
    "gated_horizontal_sees_centre": lambda: mc.jacobian_dependencies(
        mc.GatedPixelCNN(num_layers=2, features=2), 3),
    "violations_skip_diagonal": lambda: np.asarray(mc.autoregressive_violations(
        np.tril(np.ones((4, 4), bool)))),
    "blind_spot_off_by_one": lambda: np.asarray(mc.blind_spot(((1, 1),), 3, (2, 2))),
    "jacobian_no_structural_draw": lambda: mc.jacobian_dependencies(_OnlyStructural(), 2),
    "density_log_d_plus_log_1md": lambda: gan.density_from_discriminator(
        _LQ, gan.optimal_discriminator(_LP, _LQ)),
    "objective_terms_sign": lambda: gan.gan_objective_terms(_TP, _TQ),
    "pointwise_objective_swapped": lambda: gan.pointwise_objective(jnp.array([0.2, 0.7], F64),
                                                                   1.0, 3.0),
    "density_minus_logit": lambda: gan.density_from_logit(_TP, _TP[::-1]),
    "discriminator_ignores_n_used": lambda: _disc(4),
    "discriminator_gradient_ascent": lambda: _disc(None),
    "conjugate_e_t": lambda: kb.conjugate_u_log_u(_TP),
    "r1_jensen": _R1,
    "r1_quadrature_under_p": _R1,
    "r2_mean_not_log_mean_exp": _R2,
    "r2_quadrature_no_weights": _R2,
    "critic_minimises": _critic,
    "critic_ignores_bound": _critic,
    "trapezoid_riemann": lambda: dv.trapezoid_weights(_GRID[:5]),
    "kl_quadrature_swapped": lambda: dv.kl_quadrature(_LP, _LQ, _GRID),
    "log_mixture_no_half": lambda: dv.log_mixture(_TP, _TP[::-1]),
    "jsd_terms_wrong_numerator": lambda: dv.jsd_monte_carlo_terms(_LP[:5], _LQ[:5], _LP[5:9],
                                                                 _LQ[5:9]),
    "wasserstein_unsorted": lambda: dv.wasserstein1_1d(_TP, _TP[::-1] + 1.0),
    "golden_section_argmin": _golden,
    "golden_section_one_iteration": _golden,
    "z_one_sided": lambda: stats.z_for_rate(0.05),
    "se_is_std": lambda: tuple(stats.mean_and_se(np.arange(10.0))),
    "bonferroni_no_split": lambda: stats.bonferroni(0.01, 5),
    "w1_abs_outside": lambda: dv.wasserstein1_1d(jnp.array([0.0, 1.0, 2.0], F64),
                                                jnp.array([0.5, 0.4, 3.0], F64) * 2 - 1),
    "jsd_quadrature_one_side": lambda: dv.jsd_quadrature(_LP, _LQ, _GRID),
    "jsd_mc_pooled": lambda: dv.jsd_monte_carlo(_LW[:3], _LW[1:4], _LW[2:4], _LW[3:5]),
    "jsd_se_no_half": lambda: dv.jsd_monte_carlo(_LW[:3], _LW[1:4], _LW[2:4], _LW[3:5],
                                                 with_se=True)[1],
    "r1_lse_branch_no_logn": lambda: kb.r1(jnp.array([1.0, 2.0], jnp.float32),
                                           jnp.full((1000,), 88.0, jnp.float32)),
    "r2_quadrature_linear": lambda: kb.r2_quadrature(  # critic values of ~100 in float32
        (_LP - _LQ + 100.0).astype(jnp.float32), _LP.astype(jnp.float32),
        _LQ.astype(jnp.float32), _GRID.astype(jnp.float32)),
    "d_star_linear_space": lambda: gan.optimal_discriminator(jnp.array([-800.0]),
                                                             jnp.array([-801.0])),
    "density_linear_space": lambda: gan.density_from_discriminator(jnp.array([-800.0]),
                                                                   jnp.array([0.5])),
    "prefix_linear_space": lambda: bounds.prefix_bounds(_LW - 800.0),
    "lse_no_inf_guard": lambda: bounds.iwae_estimate(
        _key(), lambda z: jnp.where(z[:, 0] > 10, 0.0, -jnp.inf),
        bounds.diag_gaussian_proposal(jnp.zeros(1, F64), jnp.ones(1, F64)), 8, 2),
    "mi_infonce_no_log_b": lambda: mi.infonce(_SCORES),
    "mi_infonce_without_positive": lambda: mi.infonce(_SCORES),
    "mi_nwj_no_e_minus_one": lambda: mi.nwj(_SCORES),
    "mi_dv_mean_not_log_mean_exp": lambda: mi.dv(_SCORES),
    "mi_gaussian_mi_one_minus_rho": lambda: mi.gaussian_mi(jnp.array([0.3, -0.6], F64), 5),
    "mi_rho_for_mi_no_sqrt": lambda: mi.rho_for_mi(jnp.array([0.5, 2.0], F64), 5),
    "mi_optimal_scores_no_marginal": lambda: mi.optimal_scores(_Z0, _Z0[::-1] * 0.5, 0.4),
    "mi_sample_no_sqrt": lambda: mi.correlated_gaussian_sample(_key(), 0.5, 2, 3, F64),
    "mi_nwj_variance_e_i": lambda: mi.nwj_variance(jnp.asarray(0.3, F64), 5, 8),
    "mi_critic_minimises": lambda: mi.train_critic(_key(5), 0.5, 2, "infonce", steps=3, batch=4,
                                                   hidden=4, embed=2)[1],
    "snr_rms_over_variance": lambda: sweeps.snr_rms(np.linspace(0.0, 1.0, 40).reshape(20, 2) ** 2,
                                              blocks=5),
    "mi_sample_shared_noise": lambda: mi.correlated_gaussian_sample(_key(), 0.5, 2, 3, F64),
    "mi_critic_transposed": lambda: (lambda net: net.apply(
        net.init(_key(), _Z0[:1], _Z0[:1]), _Z0, _Z0[::-1] * 0.5))(mi.SeparableCritic(4, 2)),
    "mi_nwj_variance_no_swap": lambda: mi.nwj_variance(jnp.asarray(0.5, F64), 3, 4),
    "mi_nwj_variance_joint_term": lambda: mi.nwj_variance(jnp.asarray(0.5, F64), 3, 4),
    "mi_train_critic_ignores_estimator": lambda: mi.train_critic(
        _key(5), 0.5, 2, "nwj", steps=3, batch=4, hidden=4, embed=2)[1],
    # float32: its rounding of 1 - rho^2 (1 - e^-x) shows above _same's atol
    "mi_gaussian_mi_log_not_log1p": lambda: mi.gaussian_mi(jnp.array([1e-3, 0.3], jnp.float32),
                                                           2),
    "mi_rho_for_mi_exp_not_expm1": lambda: mi.rho_for_mi(jnp.array([1e-6, 0.5], jnp.float32), 2),
    "loglog_slope_semilog": lambda: sweeps.fit_loglog([1, 2, 4, 8], [1.0, 0.5, 0.25, 0.125],
                                                      [0.01] * 4).slope,
    "bernoulli_x_flipped": lambda: vl.bernoulli_log_prob(_X[:, :2] > 0, _X[:, 2:]),
    "vae_log_joint_no_prior": lambda: vl.log_joint(*_VAE(), _X[0] > 0, _Z0),
    "vae_proposal_variance_as_std": lambda: vl.iwae_objective(_key(), *_VAE(), _X > 0, 3),
    "log_weights_drop_log_q": lambda: vl.diag_gaussian_log_weights(
        _key(), lambda x, z: _lg().log_joint(x, z), _X, _Z0, jnp.abs(_Z0) + 0.5, 4),
    "local_fit_descends": lambda: vl.fit_local_gaussians(
        _key(), lambda x, z: _lg().log_joint(x, z), _X, _Z0, jnp.abs(_Z0) + 0.5, 3, 2, 0.1),
}


def _flat(tree):
  return [np.asarray(leaf) for leaf in jax.tree_util.tree_leaves(tree)]


def _same(a, b) -> bool:
  fa, fb = _flat(a), _flat(b)
  if len(fa) != len(fb):
    return False
  for x, y in zip(fa, fb):
    if x.shape != y.shape:
      return False
    if x.dtype == bool or y.dtype == bool:
      if not np.array_equal(x, y):
        return False
    elif not np.allclose(x, y, rtol=1e-9, atol=1e-12, equal_nan=True):
      return False
  return True


# The per-question mutation modules (gdm_jax/mutations/q3.py, ...) keep their probes beside this
# file, one module per question (tests/probes_q3.py, ...), each with a ``PROBES`` dict.
for _path in sorted(pathlib.Path(__file__).parent.glob("probes_*.py")):
  PROBES.update(importlib.import_module(_path.stem).PROBES)


def test_every_mutation_has_a_probe():
  names = [m.name for m in mutations.MUTATIONS]
  assert len(names) == len(set(names)), "mutation names must be unique"
  assert sorted(set(names) ^ set(PROBES)) == []


def test_catalogue_size_and_reach():
  assert len(mutations.MUTATIONS) >= 45
  touched = {mod.split(".")[1] for m in mutations.MUTATIONS for mod, _, _ in m.patches}
  assert set(MATH_MODULES) <= touched, f"no mutation in {set(MATH_MODULES) - touched}"


@pytest.mark.parametrize("m", mutations.MUTATIONS, ids=lambda m: m.name)
def test_mutation_changes_its_target_and_is_undone(m):
  probe = PROBES[m.name]
  originals = [(mutations._resolve(mod), attr) for mod, attr, _ in m.patches]
  originals = [(t, a, getattr(t, a)) for t, a in originals]
  before = probe()
  with mutations.applied(m, clear=False):  # the probe calls the patched function itself
    during = probe()
  after = probe()
  assert not _same(before, during), f"{m.name} does not change its target on the probe input"
  assert _same(before, after), f"{m.name} is not undone after `applied`"
  for target, attr, orig in originals:
    assert getattr(target, attr) is orig


def _bindings(obj):
  """(module, name) of every binding of ``obj`` in the loaded gdm_jax modules (claims included)."""
  out = set()
  for name, mod in list(sys.modules.items()):
    if not name.startswith("gdm_jax") or name.startswith("gdm_jax.mutations") or mod is None:
      continue
    for attr, val in vars(mod).items():
      if val is obj:
        out.add((name, attr))
  return out


@pytest.mark.parametrize("m", mutations.MUTATIONS, ids=lambda m: m.name)
def test_mutation_patches_every_binding(m):
  """A function imported with ``from x import y`` (q6's trapezoid_weights, q5/q6's
  golden_section_max, amortized's kl_diag_gaussians) must be patched there too."""
  import gdm_jax.claims  # noqa: F401  (loads q1..q7: their bindings count)
  import gdm_jax.sweeps  # noqa: F401
  patched = {(mod, attr) for mod, attr, _ in m.patches}
  for mod, attr, _ in m.patches:
    target = mutations._resolve(mod)
    if isinstance(target, type):  # a method: every user reaches it through the class
      continue
    missing = _bindings(getattr(target, attr)) - patched
    assert not missing, f"{m.name} leaves the original bound at {sorted(missing)}"


@pytest.mark.parametrize("m", mutations.MUTATIONS, ids=lambda m: m.name)
def test_scope_is_narrow_and_matches_claims(m):
  ids = [c.id for c in claims.REGISTRY]
  globs = [g.strip() for g in m.scope.split(",")]
  assert "*" not in globs and len(claims.select(m.scope)) < len(ids)
  for g in globs:
    assert any(fnmatch.fnmatch(i, g) for i in ids), f"{m.name}: scope {g!r} matches no claim"


# ---------------------------------------------------------------------------------------------
# A fast subset of the real harness: cheap claims, narrow scopes.

FAST = {"pushforward_plus_logdet": ("q1.full_affine_density", "q1.full_affine_density"),
        "mask_b_excludes_centre": ("q4.bb_breaks_autoregression,q4.field_AB",
                                   "q4.bb_breaks_autoregression"),
        "log_mixture_no_half": ("q7.disjoint_is_log2", "q7.disjoint_is_log2")}


def test_fast_mutations_are_caught_and_undone():
  import dataclasses
  chosen = [dataclasses.replace(m, scope=FAST[m.name][0])
            for m in mutations.MUTATIONS if m.name in FAST]
  saved = {(mod, attr): getattr(mutations._resolve(mod), attr)
           for m in chosen for mod, attr, _ in m.patches}
  rows = mutations.run(chosen, Config())
  for m, caught, flipped, verdicts in rows:
    assert caught and FAST[m.name][1] in flipped, (m.name, flipped)
    assert verdicts[FAST[m.name][1]][0] != "error", verdicts  # a verdict, not a crash
  for (mod, attr), orig in saved.items():
    assert getattr(mutations._resolve(mod), attr) is orig


def test_per_claim_plan_names_only_catalogue_mistakes():
  """Every mistake a claim names is in the catalogue (the plan raises otherwise), and a claim
  that names none says why it calls no library code, or is listed as unnamed."""
  pairs, oracle_only, unnamed = mutations.per_claim_plan(claims.REGISTRY)
  names = {m.name for m in mutations.MUTATIONS}
  assert all(m.name in names for _, m in pairs)
  assert all(c.oracle_only for c in oracle_only)
  # Every claim of the registry names the mistake its effect is about, or says why it calls no
  # library code; those are few (errata that integrate a written formula).
  assert [c.id for c in unnamed] == []
  assert len(oracle_only) <= 0.1 * len(claims.REGISTRY), [c.id for c in oracle_only]
  import dataclasses
  bad = dataclasses.replace(claims.REGISTRY[0], mistakes=("no_such_mutation",))
  with pytest.raises(ValueError, match="no_such_mutation"):
    mutations.per_claim_plan([bad])


def test_per_claim_flips_alone_by_verdict():
  """``run_per_claim`` runs a claim alone with its own mistake: a flip is a verdict change."""
  by = mutations.by_name()
  c = claims.select("q7.disjoint_is_log2")[0]
  (row,) = mutations.run_per_claim([(c, by["log_mixture_no_half"])], Config())
  assert row.without == "holds" and row.with_ == "refuted" and row.flipped, row


def test_applied_imports_every_target_before_patching():
  """A target module first imported while the mutation is applied (gdm_jax.vae, imported by
  nothing but the claims that use it) must not bind the mutated function and keep it after."""
  import subprocess
  code = ("import sys\n"
          "from gdm_jax import models, mutations\n"
          "assert 'gdm_jax.vae' not in sys.modules, 'precondition: vae not imported yet'\n"
          "orig = models.diag_gaussian_log_prob\n"
          "with mutations.applied(mutations.by_name()['diag_log_prob_drops_2pi'], clear=False):\n"
          "  pass\n"
          "from gdm_jax import vae\n"
          "assert models.diag_gaussian_log_prob is orig and vae.diag_gaussian_log_prob is orig\n")
  r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
  assert r.returncode == 0, r.stderr[-2000:]
