r"""Planted mistakes against the q5.* claims (see :mod:`gdm_jax.mutations`)."""
from __future__ import annotations

import jax

from gdm_jax.mutations import Mutation

_GAN = "gdm_jax.gan"


def _objective_terms_d_for_p0(orig):
  # D read as the probability of P0: log(1 - D) on P1's samples and log D on P0's.
  return lambda logit_at_p1, logit_at_p0: (jax.nn.log_sigmoid(-logit_at_p1),
                                           jax.nn.log_sigmoid(logit_at_p0))


def _labels_swapped(orig):
  def train_discriminator(key, x1, x0, n_used=None, **kwargs):
    return orig(key, x0, x1, n_used, **kwargs)  # P0's samples labelled 1: D learns f0/(f0+f1)
  return train_discriminator


def _updates_not_applied(orig):
  def train_discriminator(key, x1, x0, n_used=None, **kwargs):
    # Adam's updates computed but never applied (a step size of 0): the initial network, whose
    # logit is near 0 (D near 1/2, f1_hat near f0), is returned.
    return orig(key, x1, x0, n_used, **{**kwargs, "learning_rate": 0.0})
  return train_discriminator


MUTATIONS: tuple[Mutation, ...] = (
    Mutation("objective_terms_d_for_p0", "the objective's terms with D as the probability of "
             "P0: log(1 - D) on P1, log D on P0",
             ((_GAN, "gan_objective_terms", _objective_terms_d_for_p0),), "q5.*"),
    Mutation("discriminator_labels_swapped", "train_discriminator labels P0's samples 1 and "
             "P1's 0 (x1 and x0 exchanged)", ((_GAN, "train_discriminator", _labels_swapped),),
             "q5.*"),
    Mutation("discriminator_updates_not_applied", "train_discriminator computes Adam's updates "
             "and never applies them (the initial network, D near 1/2, is returned)",
             ((_GAN, "train_discriminator", _updates_not_applied),), "q5.*"),
)
