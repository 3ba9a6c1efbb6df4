"""The registry: every claim of the problem set, in question order; and the authoring API.

Where is Qn checked? In ``gdm_jax/claims/qn.py``; :data:`REGISTRY` is the whole set.

The authoring API (stable; the README's "Your own claims"): a claim file is a plain module with
``CLAIMS = [Claim(...), ...]`` that ``gdm-jax verify --claims FILE`` runs through the same
verdicts, table, JSON, ``mutate`` and ``seeds`` as the shipped claims. It needs :class:`Claim`,
:class:`Config` (``cfg.z``, ``cfg.crit``, ``cfg.detects``, ``cfg.rtol``, ``cfg.dtype_origin``,
``cfg.z_origin``, ``cfg.rate``), :class:`Evidence`, and the designs of
:mod:`gdm_jax.claims.authoring`: :func:`dtype_close` (deterministic), :func:`quadrature` (an
oracle with its error), :func:`mean_test` and :func:`samples_for` (Monte Carlo).
"""
from gdm_jax.claims.core import (  # noqa: F401
    Claim, Config, Evidence, Kind, Result, own_family, run_claims)
from gdm_jax.claims.authoring import (  # noqa: F401
    Quadrature, dtype_close, mean_test, quadrature, samples_for)
from gdm_jax.claims.loading import ClaimFileError, load_claims, load_mutations  # noqa: F401
from gdm_jax.evidence import DTYPE_RTOL, max_rel_error, worst  # noqa: F401
from gdm_jax.claims import design, grad, mi, q1, q2, q3, q4, q5, q6, q7

__all__ = ["Claim", "Config", "Evidence", "Kind", "Result", "run_claims", "own_family",
           "Quadrature", "quadrature", "dtype_close", "mean_test", "samples_for",
           "DTYPE_RTOL", "max_rel_error", "worst", "ClaimFileError", "load_claims",
           "load_mutations", "REGISTRY", "select", "clear_caches"]

REGISTRY: list[Claim] = [*q1.CLAIMS, *q2.CLAIMS, *q3.CLAIMS, *q4.CLAIMS, *q5.CLAIMS,
                         *q6.CLAIMS, *q7.CLAIMS, *mi.CLAIMS, *grad.CLAIMS, *design.CLAIMS]


def select(pattern: str | None = None, pool: "list[Claim] | None" = None) -> list[Claim]:
  """Claims of ``pool`` (default :data:`REGISTRY`) whose id matches the glob ``pattern`` (all when
  None; comma-separated globs: the union).

  A glob that matches no claim is a ``ValueError`` that names the questions there are and the
  closest ids, so a typo never silently shrinks a run; so is an empty pattern (``''`` or ``','``),
  which selects nothing (None selects every claim).
  """
  import difflib
  import fnmatch
  pool = REGISTRY if pool is None else pool
  if pattern is None:
    return list(pool)
  pats = [p.strip() for p in pattern.split(",") if p.strip()]
  if not pats:
    raise ValueError(f"`--only {pattern!r}` is an empty pattern and selects no claim; give a glob "
                     "such as 'q1.*', or leave --only out to run every claim.")
  ids = [c.id for c in pool]
  unmatched = [p for p in pats if not fnmatch.filter(ids, p)]
  if unmatched or not pats:
    questions = sorted({i.split(".")[0] for i in ids})
    close = [m for p in unmatched
             for m in difflib.get_close_matches(p.replace("*", "").replace("?", ""), ids, 3, 0.6)]
    hint = f"; closest ids: {', '.join(dict.fromkeys(close))}" if close else ""
    which = "" if unmatched == pats or not pats else f": {', '.join(unmatched)}"
    raise ValueError(f"`--only {pattern}`{which} matches no claim. Ids are <question>.<name>, "
                     f"with questions {', '.join(q + '.*' for q in questions)}{hint}.")
  return [c for c in pool if any(fnmatch.fnmatch(c.id, p) for p in pats)]


def clear_caches() -> None:
  """Forgets the claims' memoised set-ups, those in :mod:`gdm_jax.problems` and in the users'
  loaded claim files and their folders included (used after patching the mathematics)."""
  from gdm_jax import problems
  from gdm_jax.claims import loading
  import functools
  for mod in (q1, q2, q3, q4, q5, q6, q7, grad, mi, *problems.modules()):
    for obj in vars(mod).values():
      if hasattr(obj, "cache_clear"):
        obj.cache_clear()
  for mod in loading.loaded_modules():  # lru caches only (a class of theirs may have such a name)
    for obj in list(vars(mod).values()):
      if isinstance(obj, functools._lru_cache_wrapper):
        obj.cache_clear()
