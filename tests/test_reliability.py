"""Reproducibility and the mutation harness."""
import dataclasses


from gdm_jax import claims, gan, mutations
from gdm_jax.claims.core import Config, claim_key, run_claims


def test_same_key_same_result_bit_for_bit():
  (c,) = claims.select("q3.elbo_is_l1")
  a = c.check(claim_key(0, c.id), Config())
  claims.clear_caches()
  b = c.check(claim_key(0, c.id), Config())
  assert a.measured == b.measured and a.reference == b.reference and a.tolerance == b.tolerance


def test_different_seeds_differ():
  (c,) = claims.select("q1.affine_moments")
  assert c.check(claim_key(0, c.id), Config()).measured != \
      c.check(claim_key(1, c.id), Config()).measured


def test_a_planted_mistake_is_caught_and_then_undone():
  (m,) = [m for m in mutations.MUTATIONS if m.name == "d_star_swapped"]
  quick = dataclasses.replace(m, scope="q5.d_star*,q5.density*")
  original = gan.optimal_discriminator
  ((_, caught, flipped, _),) = mutations.run([quick], Config())
  assert caught and "q5.d_star_maximises" in flipped
  assert gan.optimal_discriminator is original
  assert all(r.ok for r in run_claims(claims.select("q5.d_star*,q5.density*"), Config()))


def test_catalogue_has_the_issue_mutations():
  names = {m.name for m in mutations.MUTATIONS}
  assert len(names) >= 12
  assert {"drop_logdet", "log_k_off_by_one", "mean_of_log_weights", "dv_wrong_sign",
          "nwj_without_minus_one", "mask_a_leaks_centre", "kernel_flipping", "d_star_swapped",
          "jsd_without_half", "written_base_normaliser"} <= names
