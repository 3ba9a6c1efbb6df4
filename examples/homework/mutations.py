"""Homework 1's planted mistakes: what students get wrong in ``solutions.py``, in the format of
gdm-jax's own catalogue. ``gdm-jax mutate --claims examples/homework --mutations
examples/homework`` plants each one at a time; a claim of ``claims.py`` must flip on it."""
import jax

from gdm_jax.mutations import Mutation


def _kl_no_half(orig):
  return lambda m1, s1, m2, s2: orig(m1, s1, m2, s2) + 0.5  # the constant -1/2 forgotten


def _kl_arguments_swapped(orig):
  return lambda m1, s1, m2, s2: orig(m2, s2, m1, s1)  # KL(q || p) when asked KL(p || q)


def _elbo_variance_as_std(orig):
  def elbo_samples(key, x, m, s, n):
    import solutions
    z = m + s * s * jax.random.normal(key, (n,))  # the variance where the std belongs
    log_joint = solutions.normal_log_prob(z, 0.0, 1.0) + solutions.normal_log_prob(x, z, 1.0)
    return log_joint - solutions.normal_log_prob(z, m, s)
  return elbo_samples


MUTATIONS = (
    Mutation("kl_no_half", "the Gaussian KL without its -1/2",
             (("solutions", "kl_normal", _kl_no_half),), "hw1.*"),
    Mutation("kl_arguments_swapped", "kl_normal(p, q) computes KL(q || p)",
             (("solutions", "kl_normal", _kl_arguments_swapped),), "hw1.*"),
    Mutation("elbo_variance_as_std", "ELBO draws z = m + s^2 eps (the variance for the std)",
             (("solutions", "elbo_samples", _elbo_variance_as_std),), "hw1.*"),
)
