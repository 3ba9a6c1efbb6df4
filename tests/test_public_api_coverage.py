"""Which claim or test reaches each public function, class and method of the math modules.

``REACHED_BY`` is an explicit table, written by hand from the claims and the tests and checked
against what actually runs: each reference executes the name, directly or through the library
functions it calls (a profiler over every claim's check and every test, with jax's caches
cleared so that traced code runs again, listed it; claims that catch a mutation of the name come
first). Reaching is not checking: ``gdm-jax mutate`` says which of these references would notice
a mistake. References are ``claim:<id>`` (an id of ``gdm_jax.claims.REGISTRY``) or
``test:<path>::<function>``.

A name that no claim and no test reaches has an empty list and sits in ``NOT_YET_REACHED``; that
set may only shrink: reaching one of its names (a non-empty list) fails until it is removed, and
its size may not grow past :data:`MAX_NOT_YET_REACHED`.
"""
import pathlib
import re
import warnings

from api_names import public_names
from gdm_jax import claims

ROOT = pathlib.Path(__file__).resolve().parent.parent
MATH_MODULES = ("change_of_variables", "models", "bounds", "amortized", "masked_conv", "gan",
                "kl_bounds", "divergences", "optimize", "stats", "sweeps", "mi", "vae")

REACHED_BY: dict[str, list[str]] = {
    # change_of_variables
    "gdm_jax.change_of_variables.standard_normal_log_prob": [
        "claim:q1.diag_affine_density", "claim:q1.full_affine_density", "claim:q1.nonlinear_2d",
        "test:tests/test_change_of_variables.py::test_sinh_pushforward_matches_analytic_density",
        "test:tests/test_change_of_variables.py::test_diag_affine_matches_scipy"],
    "gdm_jax.change_of_variables.affine": [
        "claim:q1.diag_affine_density", "claim:q1.full_affine_density",
        "test:tests/test_change_of_variables.py::test_diag_affine_matches_scipy",
        "test:tests/test_change_of_variables.py::test_negative_determinant_is_fine"],
    "gdm_jax.change_of_variables.log_abs_det_jacobian": [
        "claim:q1.diag_affine_density", "claim:q1.full_affine_density", "claim:q1.nonlinear_1d",
        "test:tests/test_change_of_variables.py::test_log_abs_det_matches_numpy",
        "test:tests/test_change_of_variables.py::test_sinh_pushforward_matches_analytic_density"],
    "gdm_jax.change_of_variables.pushforward_log_prob": [
        "claim:q1.diag_affine_density", "claim:q1.full_affine_density", "claim:q1.nonlinear_1d",
        "test:tests/test_change_of_variables.py::test_sinh_pushforward_matches_analytic_density",
        "test:tests/test_change_of_variables.py::test_diag_affine_matches_scipy"],
    "gdm_jax.change_of_variables.gaussian_log_prob": [
        "test:tests/test_change_of_variables.py::test_gaussian_log_prob_does_not_retrace",
        "test:tests/test_change_of_variables.py::test_full_affine_matches_scipy_and_closed_form"],
    "gdm_jax.change_of_variables.bisect_inverse": [
        "claim:q1.nonlinear_2d",
        "test:tests/test_change_of_variables.py::test_bisect_inverse_recovers_monotone_map"],
    # models
    "gdm_jax.models.diag_gaussian_log_prob": [
        "claim:q3.upper_bound", "claim:q3.tighter_than_elbo", "claim:q3.monotone_in_k",
        "test:tests/test_sharding.py::test_single_device_sharded_equals_chunked",
        "test:tests/test_bounds.py::test_estimator_compiles_once_per_shape"],
    "gdm_jax.models.kl_diag_gaussians": [
        "claim:q2.decomposition", "claim:q2.instance_optimum", "claim:q2.amortised_kl_ge_instance",
        "test:tests/test_models.py::test_kl_gaussians_matches_diag_and_mc",
        "test:tests/test_amortized.py::test_elbo_gap_is_kl_to_posterior"],
    "gdm_jax.models.kl_gaussians": [
        "claim:q2.decomposition", "claim:q2.b_theta", "claim:q2.written_b_theta",
        "test:tests/test_models.py::test_kl_gaussians_matches_diag_and_mc",
        "test:tests/test_amortized.py::test_elbo_gap_is_kl_to_posterior"],
    "gdm_jax.models.LinearGaussian": [
        "claim:q2.decomposition", "claim:q2.b_theta", "claim:q2.written_b_theta",
        "test:tests/test_models.py::test_float32_matches_float64",
        "test:tests/test_models.py::test_vmap_over_models_and_points"],
    "gdm_jax.models.LinearGaussian.create": ["test:tests/test_models.py::test_bad_input"],
    "gdm_jax.models.LinearGaussian.latent_dim": [
        "claim:q2.decomposition", "claim:q2.b_theta", "claim:q2.written_b_theta",
        "test:tests/test_models.py::test_float32_matches_float64",
        "test:tests/test_models.py::test_vmap_over_models_and_points"],
    "gdm_jax.models.LinearGaussian.data_dim": [
        "claim:q2.decomposition", "claim:q2.b_theta", "claim:q2.written_b_theta",
        "test:tests/test_models.py::test_float32_matches_float64",
        "test:tests/test_models.py::test_vmap_over_models_and_points"],
    "gdm_jax.models.LinearGaussian.log_prior": [
        "claim:q3.exact_posterior", "claim:q3.upper_bound", "claim:q3.tighter_than_elbo",
        "test:tests/test_models.py::test_posterior_is_bayes_rule",
        "test:tests/test_bounds.py::test_estimator_compiles_once_per_shape"],
    "gdm_jax.models.LinearGaussian.log_likelihood": [
        "claim:q2.decomposition", "claim:q2.b_theta", "claim:q3.exact_posterior",
        "test:tests/test_models.py::test_gram_log_likelihood_equals_dense",
        "test:tests/test_models.py::test_posterior_is_bayes_rule"],
    "gdm_jax.models.LinearGaussian.log_likelihood_gram": [
        "test:tests/test_models.py::test_gram_log_likelihood_equals_dense"],
    "gdm_jax.models.LinearGaussian.log_joint": [
        "claim:q3.exact_posterior", "claim:q3.upper_bound", "claim:q3.tighter_than_elbo",
        "test:tests/test_models.py::test_posterior_is_bayes_rule",
        "test:tests/test_bounds.py::test_estimator_compiles_once_per_shape"],
    "gdm_jax.models.LinearGaussian.posterior": [
        "claim:q2.decomposition", "claim:q2.b_theta", "claim:q2.instance_optimum",
        "test:tests/test_amortized.py::test_elbo_gap_is_kl_to_posterior",
        "test:tests/test_amortized.py::test_per_instance_fit_reaches_closed_form"],
    "gdm_jax.models.LinearGaussian.log_marginal": [
        "claim:q2.decomposition", "claim:q3.exact_posterior", "claim:q2.b_theta",
        "test:tests/test_models.py::test_float32_matches_float64",
        "test:tests/test_models.py::test_vmap_over_models_and_points"],
    "gdm_jax.models.LinearGaussian.sample": [
        "claim:q2.decomposition", "claim:q2.b_theta", "claim:q2.written_b_theta",
        "test:tests/test_models.py::test_vmap_over_models_and_points",
        "test:tests/test_models.py::test_gram_log_likelihood_equals_dense"],
    "gdm_jax.models.random_linear_gaussian": [
        "claim:q2.decomposition", "claim:q2.b_theta", "claim:q2.written_b_theta",
        "test:tests/test_models.py::test_float32_matches_float64",
        "test:tests/test_models.py::test_log_marginal_matches_scipy"],
    "gdm_jax.models.MLP": [
        "claim:q6.r2_le_kl", "claim:q6.r1_le_r2", "claim:q6.trained_critics",
        "test:tests/test_gan_kl_divergences.py::test_trained_critic_improves_the_exact_bound",
        "test:tests/test_gan_kl_divergences.py::test_trained_discriminator_reduces_loss"],
    "gdm_jax.models.NonlinearModel": [
        "test:tests/test_models.py::test_nonlinear_quadrature_matches_scipy_quad"],
    "gdm_jax.models.NonlinearModel.create": [
        "test:tests/test_models.py::test_nonlinear_quadrature_matches_scipy_quad"],
    "gdm_jax.models.NonlinearModel.mean": [
        "test:tests/test_models.py::test_nonlinear_quadrature_matches_scipy_quad"],
    "gdm_jax.models.NonlinearModel.log_joint": [
        "test:tests/test_models.py::test_nonlinear_quadrature_matches_scipy_quad"],
    "gdm_jax.models.NonlinearModel.log_marginal": [
        "test:tests/test_models.py::test_nonlinear_quadrature_matches_scipy_quad"],
    "gdm_jax.models.NonlinearModel.sample": [
        "test:tests/test_models.py::test_nonlinear_quadrature_matches_scipy_quad"],
    "gdm_jax.models.log_second_moment_ratio": [  # q3's shared problem computes it for all
        "claim:q3.consistency", "claim:q3.exact_posterior", "claim:q3.upper_bound",
        "test:tests/test_models.py::test_second_moment_ratio_matches_quadrature"],
    # bounds
    "gdm_jax.bounds.iwae_bound": [
        "claim:q3.exact_posterior", "claim:q3.extreme_log_weights", "claim:q3.bias_law",
        "test:tests/test_bounds.py::test_iwae_bound_infinities",
        "test:tests/test_bounds.py::test_iwae_bound_matches_scipy"],
    "gdm_jax.bounds.elbo": ["test:tests/test_bounds.py::test_elbo_is_the_mean_of_log_weights"],
    "gdm_jax.bounds.prefix_bounds": [
        "claim:q3.upper_bound", "claim:q3.tighter_than_elbo", "claim:q3.monotone_in_k",
        "test:tests/test_bounds.py::test_prefix_bounds_equal_direct_bounds"],
    "gdm_jax.bounds.diag_gaussian_proposal": [
        "claim:q3.upper_bound", "claim:q3.tighter_than_elbo", "claim:q3.monotone_in_k",
        "test:tests/test_sharding.py::test_single_device_sharded_equals_chunked",
        "test:tests/test_bounds.py::test_estimator_compiles_once_per_shape"],
    "gdm_jax.bounds.full_gaussian_proposal": [
        "claim:q3.exact_posterior",
        "test:tests/test_bounds.py::test_exact_posterior_gives_log_marginal_for_every_draw"],
    "gdm_jax.bounds.iwae_estimate": [
        "claim:q3.exact_posterior", "claim:q3.estimator_exact",
        "test:tests/test_bounds.py::test_chunked_path_is_exact_for_constant_weights",
        "test:tests/test_sharding.py::test_single_device_sharded_equals_chunked"],
    "gdm_jax.bounds.linear_gaussian_log_weights": [
        "claim:q3.upper_bound", "claim:q3.tighter_than_elbo", "claim:q3.monotone_in_k",
        "test:tests/test_amortized.py::test_closed_form_elbo_matches_monte_carlo"],
    "gdm_jax.bounds.linear_gaussian_iwae": [
        "test:tests/test_bounds.py::test_estimator_compiles_once_per_shape"],
    "gdm_jax.bounds.iwae_surrogates": ["claim:grad.dreg_zero_at_posterior", "claim:grad.dreg_unbiased",
                                       "claim:grad.stl_zero_at_posterior", "claim:grad.stl_biased",
                                       "claim:grad.stl_unbiased_k1", "claim:grad.snr_slopes",
                                       "test:tests/test_bounds.py::test_stl_gradient_is_iwae_less_the_score_term"],
    "gdm_jax.bounds.Surrogates": ["test:tests/test_bounds.py::test_stl_gradient_is_iwae_less_the_score_term"],
    "gdm_jax.bounds.surrogates": [
        "claim:grad.dreg_unbiased",
        "test:tests/test_bounds.py::test_generic_surrogates_match_tucker_et_al_formulas"],
    "gdm_jax.bounds.Reparam": [
        "test:tests/test_bounds.py::test_generic_surrogates_match_tucker_et_al_formulas"],
    "gdm_jax.bounds.renyi_bound": [
        "claim:q3.renyi_monotone", "claim:q3.renyi_limits",
        "test:tests/test_bounds.py::test_renyi_bound_matches_its_definition"],
    "gdm_jax.bounds.vimco_baselines": [
        "claim:grad.vimco_unbiased", "claim:grad.vimco_variance",
        "test:tests/test_bounds.py::test_vimco_baselines_and_gradient_by_enumeration"],
    "gdm_jax.bounds.score_function_surrogates": [
        "claim:grad.vimco_unbiased", "claim:grad.vimco_variance",
        "test:tests/test_bounds.py::test_vimco_baselines_and_gradient_by_enumeration"],
    "gdm_jax.bounds.ScoreSurrogates": [
        "test:tests/test_bounds.py::test_vimco_baselines_and_gradient_by_enumeration"],
    "gdm_jax.bounds.iwae_estimate_sharded": [
        "test:tests/test_sharding.py::test_single_device_sharded_equals_chunked"],
    # amortized
    "gdm_jax.amortized.expected_log_likelihood": [
        "claim:q2.instance_optimum", "claim:q2.amortised_kl_ge_instance",
        "claim:q2.written_kl_to_prior",
        "test:tests/test_amortized.py::test_elbo_gap_is_kl_to_posterior",
        "test:tests/test_amortized.py::test_per_instance_fit_reaches_closed_form"],
    "gdm_jax.amortized.closed_form_elbo": [
        "claim:q2.instance_optimum", "claim:q2.amortised_kl_ge_instance",
        "claim:q2.amortisation_gap_vanishes",
        "test:tests/test_amortized.py::test_elbo_gap_is_kl_to_posterior",
        "test:tests/test_amortized.py::test_per_instance_fit_reaches_closed_form"],
    "gdm_jax.amortized.kl_to_posterior": [
        "claim:q2.decomposition", "claim:q2.b_theta", "claim:q2.amortised_kl_ge_instance",
        "test:tests/test_amortized.py::test_elbo_gap_is_kl_to_posterior"],
    "gdm_jax.amortized.mean_field_optimum": [
        "claim:q2.instance_optimum", "claim:q2.amortised_kl_ge_instance",
        "claim:q2.written_kl_to_prior",
        "test:tests/test_amortized.py::test_per_instance_fit_reaches_closed_form"],
    "gdm_jax.amortized.InstanceFit": [
        "claim:q2.instance_optimum", "claim:q2.amortised_kl_ge_instance",
        "claim:q2.written_kl_to_prior",
        "test:tests/test_amortized.py::test_per_instance_fit_reaches_closed_form"],
    "gdm_jax.amortized.fit_per_instance": [
        "claim:q2.instance_optimum", "claim:q2.amortised_kl_ge_instance",
        "claim:q2.amortisation_gap_vanishes",
        "test:tests/test_amortized.py::test_per_instance_fit_reaches_closed_form"],
    "gdm_jax.amortized.Encoder": [
        "claim:q2.instance_optimum", "claim:q2.amortised_kl_ge_instance",
        "claim:q2.written_kl_to_prior",
        "test:tests/test_amortized.py::test_encoder_shapes_and_param_counts"],
    "gdm_jax.amortized.fit_amortised": [
        "claim:q2.amortisation_gap_vanishes", "claim:q2.instance_optimum",
        "claim:q2.amortised_kl_ge_instance"],
    "gdm_jax.amortized.Gaps": [
        "claim:q2.instance_optimum", "claim:q2.amortised_kl_ge_instance",
        "claim:q2.written_kl_to_prior"],
    "gdm_jax.amortized.Gaps.approximation_gap": [
        "claim:q2.amortisation_gap_vanishes", "claim:q2.amortisation_gap_positive"],
    "gdm_jax.amortized.Gaps.amortisation_gap": [
        "claim:q2.amortisation_gap_vanishes", "claim:q2.amortisation_gap_positive"],
    "gdm_jax.amortized.gaps": [
        "claim:q2.instance_optimum", "claim:q2.amortised_kl_ge_instance",
        "claim:q2.written_kl_to_prior"],
    "gdm_jax.amortized.param_count": [
        "test:tests/test_amortized.py::test_encoder_shapes_and_param_counts"],
    # masked_conv
    "gdm_jax.masked_conv.mask": [
        "claim:q4.field_AA", "claim:q4.field_AB", "claim:q4.field_BA",
        "test:tests/test_masked_conv.py::test_masks_match_q4_definition",
        "test:tests/test_masked_conv.py::test_masked_conv_keeps_size_and_channels"],
    "gdm_jax.masked_conv.channel_mask": [
        "claim:q4.field_AA", "claim:q4.field_AB", "claim:q4.field_BA",
        "test:tests/test_masked_conv.py::test_masked_conv_keeps_size_and_channels",
        "test:tests/test_masked_conv.py::test_flax_conv_is_not_flipped"],
    "gdm_jax.masked_conv.MaskedConv": [
        "claim:q4.written_hidden_pixels", "claim:q4.bb_breaks_autoregression",
        "claim:q4.a_layer_autoregressive",
        "test:tests/test_masked_conv.py::test_masked_conv_keeps_size_and_channels",
        "test:tests/test_masked_conv.py::test_flax_conv_is_not_flipped"],
    "gdm_jax.masked_conv.MaskedStack": [
        "claim:q4.written_hidden_pixels", "claim:q4.bb_breaks_autoregression",
        "claim:q4.a_layer_autoregressive",
        "test:tests/test_masked_conv.py::test_flax_conv_is_not_flipped",
        "test:tests/test_masked_conv.py::test_jacobian_field_matches_oracle"],
    "gdm_jax.masked_conv.GatedPixelCNN": ["claim:q4.gated_no_blind_spot"],
    "gdm_jax.masked_conv.jacobian_dependencies": [
        "claim:q4.gated_no_blind_spot", "claim:q4.written_hidden_pixels",
        "claim:q4.bb_breaks_autoregression",
        "test:tests/test_masked_conv.py::test_flax_conv_is_not_flipped",
        "test:tests/test_masked_conv.py::test_jacobian_field_matches_oracle"],
    "gdm_jax.masked_conv.stack_dependencies": [
        "claim:q4.written_hidden_pixels", "claim:q4.bb_breaks_autoregression",
        "claim:q4.a_layer_autoregressive",
        "test:tests/test_masked_conv.py::test_flax_conv_is_not_flipped",
        "test:tests/test_masked_conv.py::test_jacobian_field_matches_oracle"],
    "gdm_jax.masked_conv.pixel_field": [
        "claim:q4.blind_spot_law",
        "test:tests/test_masked_conv.py::test_pixel_field_matches_the_oracle_per_layer_and_off_diagonal"],
    "gdm_jax.masked_conv.receptive_field": [
        "claim:q4.written_hidden_pixels", "claim:q4.bb_breaks_autoregression",
        "claim:q4.blind_spot", "test:tests/test_masked_conv.py::test_flax_conv_is_not_flipped",
        "test:tests/test_masked_conv.py::test_jacobian_field_matches_oracle"],
    "gdm_jax.masked_conv.autoregressive_violations": [
        "claim:q4.a_layer_autoregressive", "claim:q4.colour_channels",
        "test:tests/test_masked_conv.py::test_violation_helper_reports_bb"],
    "gdm_jax.masked_conv.blind_spot": [
        "claim:q4.blind_spot", "claim:q4.field_AA", "claim:q4.field_AB",
        "test:tests/test_masked_conv.py::test_blind_spot_grows_with_depth",
        "test:tests/test_experiment_q4_masks.py::test_blind_spot_vs_depth_shrinks_but_never_closes"],
    "gdm_jax.masked_conv.grid": ["claim:q4.field_AA", "claim:q4.field_AB", "claim:q4.field_BA"],
    # gan
    "gdm_jax.gan.optimal_discriminator": [
        "claim:q5.d_star_maximises", "claim:q5.density_identity",
        "test:tests/test_gan_kl_divergences.py::test_optimal_discriminator_matches_ratio"],
    "gdm_jax.gan.logit": [
        "claim:q5.density_identity",
        "test:tests/test_gan_kl_divergences.py::"
        "test_density_from_discriminator_is_stable_near_0_and_1"],
    "gdm_jax.gan.density_from_discriminator": [
        "claim:q5.density_identity",
        "test:tests/test_gan_kl_divergences.py::"
        "test_density_from_discriminator_is_stable_near_0_and_1"],
    "gdm_jax.gan.density_from_logit": ["claim:q5.trained_discriminator"],
    "gdm_jax.gan.pointwise_objective": [
        "claim:q5.d_star_maximises",
        "test:tests/test_reliability.py::test_a_planted_mistake_is_caught_and_then_undone"],
    "gdm_jax.gan.gan_objective_terms": ["claim:q5.objective_is_jsd"],
    "gdm_jax.gan.bce_loss": [
        "claim:q5.trained_discriminator",
        "test:tests/test_gan_kl_divergences.py::test_trained_discriminator_reduces_loss"],
    "gdm_jax.gan.train_discriminator": [
        "claim:q5.trained_discriminator",
        "test:tests/test_gan_kl_divergences.py::test_trained_discriminator_reduces_loss"],
    "gdm_jax.gan.discriminator_logit": [
        "claim:q5.trained_discriminator",
        "test:tests/test_gan_kl_divergences.py::test_trained_discriminator_reduces_loss"],
    # kl_bounds
    "gdm_jax.kl_bounds.conjugate_u_log_u": ["claim:q6.conjugates"],
    "gdm_jax.kl_bounds.r1": [
        "claim:q6.sample_estimators", "claim:q6.r1_le_r2", "claim:q6.trained_critics",
        "test:tests/test_gan_kl_divergences.py::test_r1_le_r2_and_finite_float32",
        "test:tests/test_experiment_q6_critics.py::test_bound_variance_means_match_kl"],
    "gdm_jax.kl_bounds.r2": [
        "claim:q6.sample_estimators", "claim:q6.r1_le_r2", "claim:q6.trained_critics",
        "test:tests/test_gan_kl_divergences.py::test_r1_le_r2_and_finite_float32",
        "test:tests/test_experiment_q6_critics.py::test_bound_variance_means_match_kl"],
    "gdm_jax.kl_bounds.r1_quadrature": [
        "claim:q6.r1_optimum", "claim:q6.r1_le_r2", "claim:q6.r2_le_kl",
        "test:tests/test_gan_kl_divergences.py::test_r2_at_log_ratio_is_kl_by_quadrature"],
    "gdm_jax.kl_bounds.r2_quadrature": [
        "claim:q6.r2_equality", "claim:q6.r1_le_r2", "claim:q6.trained_critics",
        "test:tests/test_gan_kl_divergences.py::test_r2_at_log_ratio_is_kl_by_quadrature",
        "test:tests/test_gan_kl_divergences.py::test_trained_critic_improves_the_exact_bound"],
    "gdm_jax.kl_bounds.train_critic": [
        "claim:q6.trained_critics",
        "test:tests/test_gan_kl_divergences.py::test_trained_critic_improves_the_exact_bound"],
    "gdm_jax.kl_bounds.critic_values": [
        "claim:q6.trained_critics",
        "test:tests/test_gan_kl_divergences.py::test_trained_critic_improves_the_exact_bound"],
    # divergences
    "gdm_jax.divergences.trapezoid_weights": [
        "claim:q6.sup_r1_is_kl", "claim:q6.r2_equality", "claim:q6.written_r2_iff",
        "test:tests/test_gan_kl_divergences.py::test_kl_quadrature_matches_closed_form",
        "test:tests/test_gan_kl_divergences.py::test_jsd_quadrature_matches_scipy"],
    "gdm_jax.divergences.kl_quadrature": [
        "test:tests/test_gan_kl_divergences.py::test_kl_quadrature_matches_closed_form"],
    "gdm_jax.divergences.log_mixture": [
        "claim:q7.disjoint_is_log2", "claim:q7.partial_overlap", "claim:q7.parallel_lines",
        "test:tests/test_gan_kl_divergences.py::test_jsd_quadrature_matches_scipy",
        "test:tests/test_experiment_q7_jsd.py::test_parallel_lines_curve"],
    "gdm_jax.divergences.jsd_quadrature": [
        "claim:q7.overlap_below_log2", "claim:q7.partial_overlap", "claim:q5.objective_is_jsd",
        "test:tests/test_gan_kl_divergences.py::test_jsd_quadrature_matches_scipy",
        "test:tests/test_experiment_q7_jsd.py::test_parallel_lines_curve"],
    "gdm_jax.divergences.jsd_monte_carlo_terms": [
        "claim:q7.disjoint_is_log2", "claim:q7.parallel_lines",
        "test:tests/test_gan_kl_divergences.py::test_bad_input"],
    "gdm_jax.divergences.jsd_monte_carlo": [
        "claim:q7.disjoint_is_log2", "claim:q7.parallel_lines",
        "test:tests/test_gan_kl_divergences.py::test_bad_input"],
    "gdm_jax.divergences.wasserstein1_1d": [
        "claim:q7.parallel_lines",
        "test:tests/test_gan_kl_divergences.py::test_wasserstein_matches_scipy"],
    # optimize
    "gdm_jax.optimize.golden_section_max": [
        "claim:q5.d_star_maximises", "claim:q6.conjugates", "claim:q6.sup_r1_is_kl",
        "test:tests/test_gan_kl_divergences.py::test_golden_section_finds_quadratic_max"],
    # stats
    "gdm_jax.stats.MeanSE": [
        "claim:q1.affine_moments", "claim:q3.bias_law", "claim:q5.objective_is_jsd",
        "test:tests/test_stats.py::test_mean_and_se",
        "test:tests/test_bounds.py::test_chunked_is_unbiased_within_se"],
    "gdm_jax.stats.mean_and_se": [
        "claim:q1.affine_moments", "claim:q3.bias_law", "claim:q5.objective_is_jsd",
        "test:tests/test_stats.py::test_mean_and_se",
        "test:tests/test_bounds.py::test_chunked_is_unbiased_within_se"],
    "gdm_jax.stats.real_array": [
        "claim:q1.affine_moments", "claim:q3.bias_law",
        "test:tests/test_bad_input_classes.py::"
        "test_round_two_each_class_gives_the_oracle_or_names_the_argument"],
    "gdm_jax.stats.z_for_rate": [
        "claim:q1.affine_moments", "claim:q3.bias_law", "claim:q5.objective_is_jsd",
        "test:tests/test_stats.py::test_z_for_rate",
        "test:tests/test_experiment_q6_critics.py::test_bound_variance_means_match_kl"],
    "gdm_jax.stats.t_for_rate": ["test:tests/test_stats.py::test_t_for_rate_matches_scipy"],
    "gdm_jax.stats.critical_value": ["claim:q5.trained_discriminator", "test:tests/test_stats.py::test_critical_value_switches_from_t_to_z_at_100"],
    "gdm_jax.stats.detectable": ["claim:design.statistics", "test:tests/test_stats.py::test_detectable_has_the_stated_power"],
    "gdm_jax.stats.min_samples": ["test:tests/test_stats.py::test_min_samples_inverts_detectable"],
    "gdm_jax.stats.bonferroni": [
        "claim:q1.affine_moments", "claim:q3.bias_law", "claim:q5.objective_is_jsd",
        "test:tests/test_cli.py::test_bonferroni_split_is_fixed_by_the_registry",
        "test:tests/test_stats.py::test_bad_input"],
    "gdm_jax.stats.samples_for_resolution": [
        "test:tests/test_stats.py::test_samples_for_resolution"],
    "gdm_jax.stats.binomial_ci": ["test:tests/test_stats.py::test_binomial_ci_matches_scipy"],
    # sweeps
    "gdm_jax.sweeps.replicate_keys": [
        "claim:q3.variance_law",
        "test:tests/test_sweeps.py::test_estimator_sweep_slopes_match_the_asymptotic_laws"],
    "gdm_jax.sweeps.loglog_slope": [
        "test:tests/test_sweeps.py::test_loglog_slope_recovers_power_law"],
    "gdm_jax.bounds.per_sample_bytes": [
        "test:tests/test_bounds.py::test_per_sample_bytes_counts_the_widest_intermediate"],
    "gdm_jax.bounds.auto_chunk_size": [
        "test:tests/test_bounds.py::test_auto_chunk_size_follows_its_formula"],
    "gdm_jax.bounds.iwae_estimate_batch": ["test:tests/test_bounds.py::test_iwae_estimate_batch_equals_per_point_estimates"],
    "gdm_jax.bounds.check_linear_gaussian_args": ["test:tests/test_bad_input.py::test_bad_input_raises_value_error_naming_the_argument"],
    "gdm_jax.gan.recovered_density_error": ["claim:q5.trained_discriminator", "claim:q5.discriminator_error_shrinks"],
    "gdm_jax.kl_bounds.log_expectation_quadrature": ["claim:q6.tilted_density", "test:tests/test_gan_kl_divergences.py::test_tilted_density_matches_scipy"],
    "gdm_jax.kl_bounds.tilted_log_density": ["claim:q6.tilted_density", "test:tests/test_gan_kl_divergences.py::test_tilted_density_matches_scipy"],
    "gdm_jax.divergences.check_quadrature_args": ["claim:q7.kl_quadrature_ends", "test:tests/test_bad_input.py::test_bad_input_raises_value_error_naming_the_argument"],
    "gdm_jax.sweeps.variance_se": ["claim:q3.variance_law", "test:tests/test_sweeps.py::test_variance_se_matches_normal_theory"],
    "gdm_jax.sweeps.Slope": ["claim:q3.variance_law"],
    "gdm_jax.sweeps.snr_rms": ["claim:grad.snr_slopes", "test:tests/test_sweeps.py::test_snr_rms_matches_the_true_rms_snr_within_its_se"],
    "gdm_jax.sweeps.fit_loglog": ["claim:q3.variance_law", "claim:grad.snr_slopes", "test:tests/test_sweeps.py::test_fit_loglog_without_inflation_keeps_the_errors_se", "test:tests/test_sweeps.py::test_estimator_sweep_slopes_match_the_asymptotic_laws"],
    "gdm_jax.sweeps.EstimatorSweep": ["claim:q3.variance_law"],
    "gdm_jax.sweeps.estimator_sweep": ["claim:q3.variance_law", "test:tests/test_sweeps.py::test_estimator_sweep_slopes_match_the_asymptotic_laws"],
    "gdm_jax.sweeps.GradSnrSweep": [
        "test:tests/test_sweeps.py::test_grad_snr_sweep_has_slope_one_half_for_a_mean",
        "test:tests/test_sweeps.py::test_grad_snr_sweep_is_not_at_the_floor_on_a_zero_mean_gradient"],
    "gdm_jax.sweeps.grad_snr_sweep": [
        "test:tests/test_sweeps.py::test_grad_snr_sweep_has_slope_one_half_for_a_mean",
        "test:tests/test_sweeps.py::test_grad_snr_sweep_is_not_at_the_floor_on_a_zero_mean_gradient"],
    # mi
    "gdm_jax.mi.infonce": [
        "claim:mi.score_estimators", "claim:mi.infonce_le_log_batch", "claim:mi.infonce_bracket",
        "test:tests/test_mi.py::test_estimators_match_scipy_oracle",
        "test:tests/test_mi.py::test_infonce_never_exceeds_log_b"],
    "gdm_jax.mi.nwj": [
        "claim:mi.score_estimators", "claim:mi.optimal_critic_tight", "claim:mi.nwj_variance",
        "test:tests/test_mi.py::test_estimators_match_scipy_oracle",
        "test:tests/test_mi.py::test_nwj_variance_matches_monte_carlo"],
    "gdm_jax.mi.dv": [
        "claim:mi.score_estimators", "claim:mi.optimal_critic_tight",
        "test:tests/test_mi.py::test_estimators_match_scipy_oracle"],
    "gdm_jax.mi.gaussian_mi": [
        "claim:mi.gaussian_benchmark",
        "test:tests/test_mi.py::test_gaussian_mi_matches_log_determinants_and_inverts"],
    "gdm_jax.mi.rho_for_mi": [
        "claim:mi.gaussian_benchmark", "claim:mi.infonce_bracket",
        "test:tests/test_mi.py::test_gaussian_mi_matches_log_determinants_and_inverts"],
    "gdm_jax.mi.correlated_gaussian_sample": [
        "claim:mi.sample_covariance", "claim:mi.optimal_critic_tight", "claim:mi.infonce_bracket",
        "claim:mi.bounds_below_mi", "test:tests/test_mi.py::test_sample_has_the_benchmark_covariance"],
    "gdm_jax.mi.optimal_scores": [
        "claim:mi.gaussian_benchmark", "claim:mi.optimal_critic_tight",
        "claim:mi.self_consistency",
        "test:tests/test_mi.py::test_optimal_scores_match_scipy_multivariate_normal"],
    "gdm_jax.mi.nwj_variance": [
        "claim:mi.nwj_variance", "claim:mi.nwj_variance_formula",
        "test:tests/test_mi.py::test_nwj_variance_matches_monte_carlo",
        "test:tests/test_mi.py::test_nwj_variance_brute_force_oracle"],
    "gdm_jax.mi.SeparableCritic": [
        "claim:mi.critic_layout", "claim:mi.trained_critic", "test:tests/test_mi.py::test_trained_critic_improves_infonce"],
    "gdm_jax.mi.train_critic": [
        "claim:mi.trained_critic", "claim:mi.train_critic_objective",
        "test:tests/test_mi.py::test_trained_critic_improves_infonce",
        "test:tests/test_mi.py::test_train_critic_with_zero_learning_rate_draws_the_requested_estimator"],
    # vae
    "gdm_jax.vae.bernoulli_log_prob": [
        "claim:q3.vae_log_joint",
        "test:tests/test_vae.py::test_bernoulli_log_prob_matches_scipy",
        "test:tests/test_vae.py::test_log_joint_matches_scipy_densities"],
    "gdm_jax.vae.BernoulliVAE": [
        "claim:q3.vae_log_joint",
        "test:tests/test_vae.py::test_log_joint_matches_scipy_densities",
        "test:tests/test_vae.py::test_iwae_objective_approaches_log_marginal_by_quadrature"],
    "gdm_jax.vae.BernoulliVAE.setup": [
        "claim:q3.vae_log_joint",
        "test:tests/test_vae.py::test_log_joint_matches_scipy_densities",
        "test:tests/test_vae.py::test_iwae_objective_approaches_log_marginal_by_quadrature"],
    "gdm_jax.vae.BernoulliVAE.encode": [
        "test:tests/test_vae.py::test_iwae_objective_approaches_log_marginal_by_quadrature",
        "test:tests/test_vae.py::test_vae_digits_experiment_runs_at_a_tiny_budget"],
    "gdm_jax.vae.BernoulliVAE.decode": [
        "claim:q3.vae_log_joint",
        "test:tests/test_vae.py::test_log_joint_matches_scipy_densities",
        "test:tests/test_vae.py::test_iwae_objective_approaches_log_marginal_by_quadrature"],
    "gdm_jax.vae.log_joint": [
        "claim:q3.vae_log_joint",
        "test:tests/test_vae.py::test_log_joint_matches_scipy_densities",
        "test:tests/test_vae.py::test_iwae_objective_approaches_log_marginal_by_quadrature"],
    "gdm_jax.vae.iwae_objective": [
        "test:tests/test_vae.py::test_iwae_objective_approaches_log_marginal_by_quadrature",
        "test:tests/test_vae.py::test_vae_digits_experiment_runs_at_a_tiny_budget"],
    "gdm_jax.vae.diag_gaussian_log_weights": [
        "claim:q2.vae_log_weights_exact",
        "test:tests/test_vae.py::test_log_weights_give_the_closed_form_elbo",
        "test:tests/test_vae.py::test_fit_local_gaussians_reaches_the_mean_field_optimum"],
    "gdm_jax.vae.fit_local_gaussians": [
        "test:tests/test_vae.py::test_fit_local_gaussians_reaches_the_mean_field_optimum",
        "test:tests/test_vae.py::test_vae_digits_experiment_runs_at_a_tiny_budget"],
}

#: Public names that no claim and no test reaches today.
NOT_YET_REACHED = frozenset({
})
MAX_NOT_YET_REACHED = 0  # lower it as names get reached; never raise it


def public_api() -> list[str]:
  """Public functions and classes defined in the math modules, and the public methods and
  properties defined in those classes' bodies (flax and NamedTuple machinery excluded)."""
  return [n for short in MATH_MODULES for n in public_names(f"gdm_jax.{short}")]


def test_every_public_name_is_in_the_table():
  api = public_api()
  missing = [n for n in api if n not in REACHED_BY]
  assert not missing, f"public names missing from REACHED_BY: {missing}"
  stale = sorted(set(REACHED_BY) - set(api))
  assert not stale, f"REACHED_BY names that are not public API (any more): {stale}"


def test_references_exist():
  ids = {c.id for c in claims.REGISTRY}
  sources: dict[str, str] = {}
  bad = []
  for name, refs in REACHED_BY.items():
    for ref in refs:
      kind, _, what = ref.partition(":")
      if kind == "claim":
        ok = what in ids
      elif kind == "test":
        path, _, func = what.partition("::")
        file = ROOT / path
        if path not in sources:
          sources[path] = file.read_text() if file.is_file() else ""
        ok = bool(func) and re.search(rf"^\s*def {re.escape(func)}\(", sources[path],
                                      re.M) is not None
      else:
        ok = False
      if not ok:
        bad.append(f"{name}: {ref}")
  assert not bad, "references to no claim or test: " + "; ".join(bad)


def test_not_yet_reached_only_shrinks():
  unreached = {n for n, refs in REACHED_BY.items() if not refs}
  unlisted = sorted(unreached - NOT_YET_REACHED)
  assert not unlisted, f"unreached names must be listed in NOT_YET_REACHED: {unlisted}"
  reached = sorted(NOT_YET_REACHED - unreached)
  assert not reached, f"now reached (or gone): remove from NOT_YET_REACHED: {reached}"
  assert len(NOT_YET_REACHED) <= MAX_NOT_YET_REACHED
  if NOT_YET_REACHED:
    report = ", ".join(sorted(NOT_YET_REACHED))
    print(f"not yet reached by any claim or test ({len(NOT_YET_REACHED)}): {report}")
    warnings.warn(f"{len(NOT_YET_REACHED)} public names are reached by no claim and no test: "
                  f"{report}")
