r"""Planted mistakes against the grad.* claims (see :mod:`gdm_jax.mutations`)."""
from __future__ import annotations

from gdm_jax.mutations import Mutation  # noqa: F401

MUTATIONS: tuple[Mutation, ...] = ()
