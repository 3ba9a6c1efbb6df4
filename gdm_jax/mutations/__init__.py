r"""Planted mistakes: each :class:`Mutation` replaces a piece of the mathematics with a known
wrong version (the problem set's written answers among them). ``gdm-jax mutate`` applies them one
at a time, reruns the claims in its ``scope`` (those that could plausibly catch it), and counts a
mutation *caught* when at least one claim that is ok without it (:func:`baseline`) is not ok with
it. The mutation score is caught / total.

A mutation patches module attributes; functions are looked up through their modules at trace
time, so ``jax.clear_caches()`` plus clearing the claims' memoised set-ups makes the patch visible.
A name that a module imports with ``from x import y`` is a second binding: a mutation patches it
in every module that holds it (:func:`_at`), or the claims would still see the original.
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib
import math
import warnings
from typing import Callable, NamedTuple, Sequence

import jax


@dataclasses.dataclass(frozen=True)
class Mutation:
  name: str
  description: str
  patches: tuple[tuple[str, str, Callable], ...]  # (module, attribute, factory(original) -> new)
  scope: str                                       # glob of claim ids to rerun


def _at(attr: str, factory: Callable, *modules: str) -> tuple[tuple[str, str, Callable], ...]:
  """One factory patched under ``attr`` in every module that holds the name: a function a claim
  or a math module imports with ``from x import y`` must be patched there too."""
  return tuple((mod, attr, factory) for mod in modules)


_LOG_2PI = math.log(2 * math.pi)


_COV, _MODELS, _BOUNDS, _AM = ("gdm_jax.change_of_variables", "gdm_jax.models", "gdm_jax.bounds",
                               "gdm_jax.amortized")
_LG, _NL = "gdm_jax.models.LinearGaussian", "gdm_jax.models.NonlinearModel"
_MC, _GAN, _KB, _DV = ("gdm_jax.masked_conv", "gdm_jax.gan", "gdm_jax.kl_bounds",
                       "gdm_jax.divergences")
_OPT, _STATS, _SWEEPS = "gdm_jax.optimize", "gdm_jax.stats", "gdm_jax.sweeps"
#: The claims that compare a Monte Carlo mean with z x SE (those the statistics feed).
_STOCHASTIC = ("q1.affine_moments,q3.*,q5.objective_is_jsd,q5.trained_discriminator,"
               "q5.discriminator_error_shrinks,grad.*,design.*")


_MI = "gdm_jax.mi"


_VAE = "gdm_jax.vae"


def _vae_mod():
  return importlib.import_module(_VAE)


# The catalogue: one module per question (gdm_jax/mutations/q1.py ... q7.py, mi.py, grad.py,
# design.py), each mistake beside the name of the question whose claims it is planted against.
# They import Mutation and the constants above, so they are loaded here, after them.
from gdm_jax.mutations import per_question as _per_question  # noqa: E402

#: Every planted mistake, in question order.
MUTATIONS: tuple[Mutation, ...] = _per_question.MUTATIONS


def _resolve(path: str):
  parts = path.split(".")
  for i in range(len(parts), 0, -1):
    try:
      obj = importlib.import_module(".".join(parts[:i]))
    except ModuleNotFoundError:
      continue
    for p in parts[i:]:
      obj = getattr(obj, p)
    return obj
  raise ImportError(path)


@contextlib.contextmanager
def applied(m: Mutation, clear: bool = True):
  """Applies ``m``'s patches inside the block. With ``clear`` (what ``gdm-jax mutate`` does),
  jax's in-memory caches and the claims' memoised set-ups are cleared on entry and exit, so every
  program is traced anew with the patch; ``clear=False`` is for calling the patched function
  itself (a new function object is traced anew anyway) without recompiling everything else."""
  saved = []
  # Every target module is imported before anything is patched: a module first imported while
  # another is patched would bind the mutated function with ``from x import y``, and restoring it
  # would then put the mutation back (a leak into every later run).
  targets = [_resolve(mod) for mod, _, _ in m.patches]
  try:
    for target, (mod, attr, factory) in zip(targets, m.patches):
      orig = getattr(target, attr)
      saved.append((target, attr, orig))
      setattr(target, attr, factory(orig))
    if clear:
      _clear()
    yield
  finally:
    for target, attr, orig in reversed(saved):
      setattr(target, attr, orig)
    if clear:
      _clear()


def _clear():
  jax.clear_caches()
  from gdm_jax import claims
  claims.clear_caches()


#: Unmutated results, per (config, claim id): the verdicts a mutation must flip.
_BASELINE: dict = {}
_WARNED: set = set()


def baseline(selected, config) -> dict:
  """The unmutated results of ``selected`` claims, by id (computed once per config and claim)."""
  from gdm_jax.claims.core import run_claims
  missing = [c for c in selected if (config, c.id) not in _BASELINE]
  if missing:
    _clear()
    for r in run_claims(missing, config):
      _BASELINE[(config, r.claim.id)] = r
  out = {c.id: _BASELINE[(config, c.id)] for c in selected}
  broken = sorted(i for i, r in out.items() if not r.ok and i not in _WARNED)
  if broken:
    _WARNED.update(broken)
    warnings.warn(f"without any mutation these claims are not ok, so they cannot catch one: "
                  f"{', '.join(broken)}", stacklevel=2)
  return out


def run(mutations: Sequence[Mutation], config, on_result=None, pool=None):
  """Runs each mutation with the claims of ``pool`` (default: the registry) that its ``scope``
  selects. Returns ``[(mutation, caught, [ids of claims whose verdict flipped], {id: (verdict,
  detail)})]``: whether each catch is a verdict (an erratum that holds, a theorem refuted) or an
  error (NaN evidence, a crash), with its detail, so a catch by a crash can be read.

  A claim's verdict flips when it is ok without the mutation (:func:`baseline`) and not ok with
  it; a claim that is already wrong unmutated (an erratum that holds, a theorem in error) cannot
  catch anything and is reported once as a warning."""
  from gdm_jax import claims
  from gdm_jax.claims.core import run_claims
  out = []
  for m in mutations:
    selected = claims.select(m.scope, pool)
    base = baseline(selected, config)
    with applied(m):
      results = run_claims(selected, config)
    flips = [r for r in results if base[r.claim.id].ok and not r.ok]
    out.append((m, bool(flips), [r.claim.id for r in flips],
                {r.claim.id: (r.verdict, r.evidence.detail[:300]) for r in flips}))
    if on_result is not None:
      on_result(out[-1])
  return out


# ---------------------------------------------------------------------------------------------
# Per-claim power: every claim flips, alone, on the mistake its effect names.

class PerClaimRow(NamedTuple):
  """One (claim, mutation) pair of ``gdm-jax mutate --per-claim``: the claim's verdict without
  and with the mutation, run with that claim alone selected; ``flipped`` only when the verdict
  itself changes from the expected one to the other verdict (an ``error`` is not a flip)."""
  claim: str
  mutation: str
  without: str
  with_: str
  flipped: bool
  detail: str


def by_name() -> dict[str, Mutation]:
  return {m.name: m for m in MUTATIONS}


def per_claim_plan(selected, catalogue: Sequence[Mutation] | None = None
                   ) -> tuple[list[tuple[object, Mutation]], list, list]:
  """``(pairs, oracle_only, unnamed)`` for the claims ``selected``: every (claim, mutation) pair
  a claim names in ``Claim.mistakes``, the claims that call no library code (counted apart), and
  the claims that name no mistake yet. A name missing from the ``catalogue`` (default: the
  shipped :data:`MUTATIONS`; a user's own with ``mutate --mutations``) is a ``ValueError``."""
  names = by_name() if catalogue is None else {m.name: m for m in catalogue}
  pairs, oracle_only, unnamed = [], [], []
  for c in selected:
    missing = [n for n in c.mistakes if n not in names]
    if missing:
      raise ValueError(f"claim {c.id} names mistakes that are not in the catalogue: "
                       f"{', '.join(missing)}")
    if c.oracle_only is not None:
      oracle_only.append(c)
    elif not c.mistakes:
      unnamed.append(c)
    pairs.extend((c, names[n]) for n in c.mistakes)
  return pairs, oracle_only, unnamed


def run_per_claim(pairs, config, on_result=None) -> list[PerClaimRow]:
  """Runs each ``(claim, mutation)`` pair with that claim alone (:func:`applied` clears every
  cache, so nothing computed for another claim or without the mutation answers for it)."""
  from gdm_jax.claims.core import run_claims
  out = []
  for c, m in pairs:
    base = baseline([c], config)[c.id]
    with applied(m):
      (r,) = run_claims([c], config)
    flipped = base.ok and not r.ok and r.verdict != "error"
    row = PerClaimRow(c.id, m.name, base.verdict, r.verdict, flipped,
                      r.evidence.detail[:300])
    out.append(row)
    if on_result is not None:
      on_result(row)
  return out
