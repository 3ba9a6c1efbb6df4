"""The registry: every claim of the problem set, in question order.

Where is Qn checked? In ``gdm_jax/claims/qn.py``; this list is the whole set.
"""
from gdm_jax.claims.core import Claim, Config, Evidence, Result, run_claims  # noqa: F401
from gdm_jax.claims import design, grad, mi, q1, q2, q3, q4, q5, q6, q7

REGISTRY: list[Claim] = [*q1.CLAIMS, *q2.CLAIMS, *q3.CLAIMS, *q4.CLAIMS, *q5.CLAIMS,
                         *q6.CLAIMS, *q7.CLAIMS, *mi.CLAIMS, *grad.CLAIMS, *design.CLAIMS]


def select(pattern: str | None = None) -> list[Claim]:
  """Claims whose id matches the glob ``pattern`` (all when None; comma-separated globs: the union).

  A glob that matches no claim is a ``ValueError`` that names the questions there are and the
  closest ids, so a typo never silently shrinks a run; so is an empty pattern (``''`` or ``','``),
  which selects nothing (None selects every claim).
  """
  import difflib
  import fnmatch
  if pattern is None:
    return list(REGISTRY)
  pats = [p.strip() for p in pattern.split(",") if p.strip()]
  if not pats:
    raise ValueError(f"`--only {pattern!r}` is an empty pattern and selects no claim; give a glob "
                     "such as 'q1.*', or leave --only out to run every claim.")
  ids = [c.id for c in REGISTRY]
  unmatched = [p for p in pats if not fnmatch.filter(ids, p)]
  if unmatched or not pats:
    questions = sorted({i.split(".")[0] for i in ids})
    close = [m for p in unmatched
             for m in difflib.get_close_matches(p.replace("*", "").replace("?", ""), ids, 3, 0.6)]
    hint = f"; closest ids: {', '.join(dict.fromkeys(close))}" if close else ""
    which = "" if unmatched == pats or not pats else f": {', '.join(unmatched)}"
    raise ValueError(f"`--only {pattern}`{which} matches no claim. Ids are <question>.<name>, "
                     f"with questions {', '.join(q + '.*' for q in questions)}{hint}.")
  return [c for c in REGISTRY if any(fnmatch.fnmatch(c.id, p) for p in pats)]


def clear_caches() -> None:
  """Forgets the claims' memoised set-ups, those in :mod:`gdm_jax.problems` included (used after
  patching the mathematics)."""
  from gdm_jax import problems
  for mod in (q1, q2, q3, q4, q5, q6, q7, grad, mi, *problems.modules()):
    for obj in vars(mod).values():
      if hasattr(obj, "cache_clear"):
        obj.cache_clear()
