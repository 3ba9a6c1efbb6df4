"""The registry: every claim of the problem set, in question order.

Where is Qn checked? In ``gdm_jax/claims/qn.py``; this list is the whole set.
"""
from gdm_jax.claims.core import Claim, Config, Evidence, Result, run_claims  # noqa: F401
from gdm_jax.claims import q1, q2, q3, q4, q5, q6, q7

REGISTRY: list[Claim] = [*q1.CLAIMS, *q2.CLAIMS, *q3.CLAIMS, *q4.CLAIMS, *q5.CLAIMS,
                         *q6.CLAIMS, *q7.CLAIMS]


def select(pattern: str | None = None) -> list[Claim]:
  """Claims whose id matches the glob ``pattern`` (all when None)."""
  import fnmatch
  if not pattern:
    return list(REGISTRY)
  pats = [p.strip() for p in pattern.split(",") if p.strip()]
  out = [c for c in REGISTRY if any(fnmatch.fnmatch(c.id, p) for p in pats)]
  if not out:
    raise ValueError(f"`--only {pattern}` matches no claim; ids look like 'q1.*' or "
                     "'q3.iwae_*'.")
  return out


def clear_caches() -> None:
  """Forgets the claims' memoised set-ups (used after patching the mathematics)."""
  for mod in (q1, q2, q3, q4, q5, q6, q7):
    for obj in vars(mod).values():
      if hasattr(obj, "cache_clear"):
        obj.cache_clear()
