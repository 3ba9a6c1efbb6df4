r"""Planted mistakes against the design.* claims: the statistics every Monte Carlo design
rests on (gdm_jax.stats).

See :mod:`gdm_jax.mutations`. Each is named by the claims whose ``mistakes`` list it; ``scope``
is the glob the whole-catalogue ``gdm-jax mutate`` reruns."""
from __future__ import annotations

import math


from gdm_jax.mutations import _STATS, _STOCHASTIC, Mutation


def _z_one_sided(orig):
  return lambda rate, two_sided=True: orig(rate, False)


def _se_is_std(orig):
  def mean_and_se(x, axis=0):
    from gdm_jax import stats
    m = orig(x, axis)
    return stats.MeanSE(m.mean, m.se * math.sqrt(m.n), m.n)  # the std, not std / sqrt(n)
  return mean_and_se


def _bonferroni_no_split(orig):
  return lambda family_rate, n_tests: orig(family_rate, 1)


MUTATIONS: tuple[Mutation, ...] = (
    Mutation("z_one_sided", "z_for_rate one-sided where a two-sided z is asked for",
             ((_STATS, "z_for_rate", _z_one_sided),), _STOCHASTIC),
    Mutation("se_is_std", "standard error without the 1/sqrt(n) (the std)",
             ((_STATS, "mean_and_se", _se_is_std),), _STOCHASTIC),
    Mutation("bonferroni_no_split", "the family rate used for every claim, not split",
             ((_STATS, "bonferroni", _bonferroni_no_split),), _STOCHASTIC),
)
