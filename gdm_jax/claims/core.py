r"""Claims, evidence and verdicts.

A :class:`Claim` is one checkable statement of the problem set. Its ``check(key, config)`` calls the
math modules and compares what they measure with an *independent* reference (closed form, scipy,
quadrature, autodiff), returning :class:`Evidence`. A ``theorem`` is true mathematics and must
*hold*; an ``erratum`` is a statement the written answers make that is false and must be
*refuted*. A run succeeds exactly when every theorem holds and every erratum is refuted.
"""
from __future__ import annotations

import dataclasses
import math
import time
import zlib
from typing import Any, Callable, Iterable, Literal, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gdm_jax import stats

Kind = Literal["theorem", "erratum"]

#: Relative tolerance for deterministic (non-Monte-Carlo) comparisons, keyed by dtype, as in
#: jax's scipy tests. The error is measured relative to max(1, |reference|).
DTYPE_RTOL = {"float32": 2e-5, "float64": 1e-10}

def max_rel_error(measured, reference) -> float:
  """max |measured - reference| / max(1, |reference|): the error :data:`DTYPE_RTOL` bounds."""
  a, b = np.asarray(measured, np.float64), np.asarray(reference, np.float64)
  return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b))))


#: ``jax.jit(..., compiler_options=FULL_OPT)`` for the few compute-heavy programs: the CLI lowers
#: XLA's CPU optimisation level for the many compile-bound ones (gdm_jax.cli.setup_jax).
FULL_OPT = {"xla_backend_optimization_level": 3}


@dataclasses.dataclass(frozen=True)
class Config:
  """What a run of the claims is configured with (passed explicitly, never read from globals)."""
  seed: int = 0
  x64: bool = False
  family_rate: float = stats.FAMILY_RATE
  n_stochastic: int = 1   # Monte Carlo claims in the registry (the Bonferroni split; fixed by the
                          # registry, not by a selection, so a claim's tolerance never changes)
  quick: bool = False     # smaller problems, for smoke tests
  claim_rate: float | None = None  # per-claim rate override (`gdm-jax seeds`)

  @property
  def dtype(self):
    return jnp.float64 if self.x64 else jnp.float32

  @property
  def dtype_name(self) -> str:
    return "float64" if self.x64 else "float32"

  @property
  def rtol(self) -> float:
    return DTYPE_RTOL[self.dtype_name]

  @property
  def rate(self) -> float:
    """Per-claim false-failure rate: the family rate split over the stochastic claims."""
    if self.claim_rate is not None:
      return self.claim_rate
    return stats.bonferroni(self.family_rate, self.n_stochastic)

  def z(self, two_sided: bool = True, split: int = 1) -> float:
    """z for this claim's rate, further split over ``split`` sub-tests of one claim."""
    return stats.z_for_rate(self.rate / split, two_sided=two_sided)

  def crit(self, n: int, two_sided: bool = True, split: int = 1) -> float:
    """The SE multiplier for a mean of ``n`` samples: t (n - 1 dof) below 100 samples, else z."""
    return stats.critical_value(self.rate / split, n, two_sided)

  def detects(self, se: float, n: int | None = None, two_sided: bool = True,
              split: int = 1) -> float:
    """The claim's power: the smallest discrepancy detected with probability >= 0.99
    (:func:`gdm_jax.stats.detectable` at this claim's rate)."""
    return stats.detectable(se, self.rate / split, n, two_sided)

  def dtype_origin(self) -> str:
    return f"{self.dtype_name} rtol {self.rtol:g} x max(1,|ref|)"

  def z_origin(self, z: float, two_sided: bool = True, split: int = 1, n: int | None = None
               ) -> str:
    side = "two-sided" if two_sided else "one-sided"
    q = f"t({n - 1})" if n is not None and n < stats.T_BELOW else "z"
    return f"{q}={z:.2f} x SE ({side}, false-failure rate {self.rate / split:.1e})"


class Evidence(NamedTuple):
  """What a check measured, against what, with which tolerance and where the tolerance comes from.

  ``relation`` says how ``measured`` is compared with ``reference``:
  ``"=="``: ``|measured - reference| <= tolerance``; ``"<="``: ``measured <= reference + tolerance``;
  ``">="``: ``measured >= reference - tolerance``.

  Both error rates are stated: the tolerance's ``origin`` gives the false-failure rate, and
  ``detects`` the claim's power, the smallest discrepancy (in the units of ``measured``) that it
  detects with probability >= 0.99 (a deterministic claim: its tolerance, the default).
  ``effect`` is the size of the effect the claim is about (the term a derivation would drop, the
  gap a bound leaves, the error of a written statement): a claim is only believed when
  ``detects < effect``, otherwise its verdict is ``error`` (underpowered).
  """
  measured: float
  reference: float
  tolerance: float
  relation: str
  origin: str
  detail: str = ""
  data: Any = None  # optional per-case numbers, for reports and figures
  detects: float | None = None
  effect: float | None = None
  effect_what: str = ""

  @property
  def power(self) -> float:
    """``detects``, or the tolerance for a deterministic claim that states none."""
    return float(self.tolerance) if self.detects is None else float(self.detects)

  def problem(self) -> str | None:
    """Why this evidence cannot give a verdict (non-finite numbers, an underpowered design)."""
    nums = {"measured": self.measured, "reference": self.reference, "tolerance": self.tolerance,
            "detects": self.power}
    bad = [k for k, x in nums.items() if not math.isfinite(float(x))]
    if bad:
      return f"non-finite evidence ({', '.join(f'{k}={float(nums[k])}' for k in bad)})"
    if self.effect is not None:
      if not math.isfinite(float(self.effect)):
        return f"non-finite effect size ({float(self.effect)})"
      if self.power >= float(self.effect):
        return (f"underpowered: detects {self.power:.3g} >= the effect {float(self.effect):.3g}"
                f" ({self.effect_what or 'the effect the claim is about'})")
    return None

  @property
  def holds(self) -> bool:
    m, r, t = float(self.measured), float(self.reference), float(self.tolerance)
    if not (math.isfinite(m) and math.isfinite(r) and math.isfinite(t)):
      raise ValueError("`Evidence.holds` needs finite evidence; see Evidence.problem().")
    if self.relation == "==":
      return abs(m - r) <= t
    if self.relation == "<=":
      return m <= r + t
    if self.relation == ">=":
      return m >= r - t
    raise ValueError(f"unknown relation {self.relation!r}")


@dataclasses.dataclass(frozen=True)
class Claim:
  """``shares`` names a setup that several claims compute once and share (an ``lru_cache`` or a
  jitted program): a parallel run keeps claims with the same ``shares`` in one process."""
  id: str
  question: str
  kind: Kind
  statement: str
  check: Callable[[jax.Array, Config], Evidence]
  stochastic: bool = False
  shares: str | None = None

  def __post_init__(self):
    if self.kind not in ("theorem", "erratum"):
      raise ValueError(f"`kind` must be 'theorem' or 'erratum'; got {self.kind!r}.")

  @property
  def expected_verdict(self) -> str:
    return "holds" if self.kind == "theorem" else "refuted"


class Result(NamedTuple):
  claim: Claim
  evidence: Evidence
  verdict: str      # "holds" | "refuted" | "error"
  seconds: float

  @property
  def ok(self) -> bool:
    return self.verdict == self.claim.expected_verdict


def claim_key(seed: int, claim_id: str) -> jax.Array:
  """A key per claim, stable across runs and independent of which other claims run."""
  return jax.random.fold_in(jax.random.key(seed), zlib.crc32(claim_id.encode()) & 0x7FFFFFFF)


def run_claim(claim: Claim, config: Config) -> Result:
  t0 = time.perf_counter()
  try:
    ev = claim.check(claim_key(config.seed, claim.id), config)
    why = ev.problem()
    if why is None and claim.stochastic and ev.detects is None:
      why = "a Monte Carlo claim must state its power (Evidence.detects)"
    if why is not None:  # NaN evidence or an underpowered design is an error, never a verdict
      ev = ev._replace(detail=f"{why}; {ev.detail}")
      verdict = "error"
    else:
      verdict = "holds" if ev.holds else "refuted"
  except Exception as e:  # a crashing check is reported, never silently passed
    ev = Evidence(float("nan"), float("nan"), float("nan"), "==", "error",
                  f"{type(e).__name__}: {e}")
    verdict = "error"
  return Result(claim, ev, verdict, time.perf_counter() - t0)


def _units(claims: Sequence[Claim], cost: dict[str, float] | None) -> list[list[int]]:
  """Indices of ``claims`` grouped by ``shares`` (a claim without one is its own unit), longest
  first by ``cost`` (seconds per claim id from an earlier run; registry order without it)."""
  groups: dict[str, list[int]] = {}
  for i, c in enumerate(claims):
    groups.setdefault(c.shares or c.id, []).append(i)
  units = list(groups.values())
  if cost:
    units.sort(key=lambda u: -sum(cost.get(claims[i].id, 0.0) for i in u))
  return units


def _worker_run(ids: Sequence[str], config: Config) -> list[tuple]:
  """Runs registry claims by id in a worker process; returns picklable rows."""
  from gdm_jax.claims import REGISTRY
  by_id = {c.id: c for c in REGISTRY}
  return [(r.evidence, r.verdict, r.seconds) for r in (run_claim(by_id[i], config) for i in ids)]


def _cpu_only() -> bool:
  """True when jax can only run on the CPU here: ``JAX_PLATFORMS`` says cpu, or no accelerator
  plugin (``jax_plugins``, as jax discovers them) and no ``libtpu`` is installed. Worker processes
  must not each claim an accelerator (a GPU client preallocates most of its memory)."""
  import importlib.metadata
  import importlib.util
  import os
  import pkgutil
  platforms = os.environ.get("JAX_PLATFORMS") or jax.config.jax_platforms
  if platforms:
    return all(p.strip() == "cpu" for p in platforms.split(","))
  if importlib.util.find_spec("libtpu") is not None:
    return False
  if list(importlib.metadata.entry_points(group="jax_plugins")):
    return False
  try:
    import jax_plugins
  except ImportError:
    return True
  return not any(pkgutil.iter_modules(jax_plugins.__path__))


def _fork_is_safe() -> bool:
  """Forking is safe on POSIX before jax has started its backends (and their threads), and worth
  it on the CPU only."""
  import multiprocessing
  from jax._src import xla_bridge
  return ("fork" in multiprocessing.get_all_start_methods() and
          not getattr(xla_bridge, "_backends", True) and _cpu_only())


def n_stochastic(claims: Sequence[Claim] = ()) -> int:
  """The Bonferroni count: the registry's Monte Carlo claims plus any unregistered ones given, so
  a claim's tolerance is the same whichever claims a run selects."""
  from gdm_jax.claims import REGISTRY
  ids = {c.id for c in REGISTRY if c.stochastic}
  ids |= {c.id for c in claims if c.stochastic}
  return max(1, len(ids))


def run_claims(claims: Sequence[Claim], config: Config,
               on_result: Callable[[Result], None] | None = None,
               workers: int = 1, cost: dict[str, float] | None = None) -> list[Result]:
  """Runs ``claims`` and returns their results in the order given.

  ``workers > 1`` runs them in that many forked processes (tracing and lowering hold the GIL, so
  threads would not overlap them), when the claims all come from the registry, jax runs on the
  CPU only and has not started its backends yet (the CLI calls this first thing); otherwise (an
  accelerator: one process owns it) it runs them in this process. Every claim has its own key,
  so the results do not depend on the schedule. ``cost`` (seconds per claim id, from an earlier
  run) orders the work longest first.
  """
  from gdm_jax.claims import REGISTRY
  registered = {c.id: c for c in REGISTRY}
  config = dataclasses.replace(config, n_stochastic=n_stochastic(claims))
  out: list[Result | None] = [None] * len(claims)
  parallel = (workers > 1 and len(claims) > 1 and _fork_is_safe() and
              all(registered.get(c.id) is c for c in claims))
  if not parallel:
    for i, c in enumerate(claims):
      out[i] = run_claim(c, config)
      if on_result is not None:
        on_result(out[i])
    return out
  import multiprocessing
  from concurrent.futures import ProcessPoolExecutor, as_completed
  units = _units(claims, cost)
  with ProcessPoolExecutor(max_workers=min(workers, len(units)),
                           mp_context=multiprocessing.get_context("fork")) as pool:
    futures = {pool.submit(_worker_run, [claims[i].id for i in u], config): u for u in units}
    for f in as_completed(futures):
      try:
        rows = f.result()
      except Exception as e:  # a worker that died is reported, never silently passed
        rows = [(Evidence(float("nan"), float("nan"), float("nan"), "==", "error",
                          f"worker process failed: {type(e).__name__}: {e}"), "error", 0.0)
                for _ in futures[f]]
      for i, (ev, verdict, seconds) in zip(futures[f], rows):
        out[i] = Result(claims[i], ev, verdict, seconds)
        if on_result is not None:
          on_result(out[i])
  return out


def fmt(x: float) -> str:
  x = float(x)
  if math.isnan(x):
    return "nan"
  if math.isinf(x):
    return "inf" if x > 0 else "-inf"
  if x == 0:
    return "0"
  if 1e-3 <= abs(x) < 1e4:
    return f"{x:.7g}"
  return f"{x:.3e}"


def environment(config: Config) -> dict:
  return {"jax": jax.__version__, "backend": jax.default_backend(),
          "devices": [str(d) for d in jax.devices()], "x64": bool(config.x64),
          "seed": config.seed, "family_rate": config.family_rate}


def to_json(results: Iterable[Result], config: Config) -> dict:
  rows = []
  for r in results:
    e = r.evidence
    rows.append({"id": r.claim.id, "question": r.claim.question, "kind": r.claim.kind,
                 "statement": r.claim.statement, "measured": _num(e.measured),
                 "reference": _num(e.reference), "tolerance": _num(e.tolerance),
                 "relation": e.relation, "origin": e.origin, "detects": _num(e.power),
                 "effect": None if e.effect is None else _num(e.effect),
                 "effect_what": e.effect_what, "detail": e.detail,
                 "verdict": r.verdict, "expected": r.claim.expected_verdict, "ok": r.ok,
                 "seconds": round(r.seconds, 3)})
  return {"claims": rows, "environment": environment(config)}


def _num(x):
  x = float(x)
  return x if math.isfinite(x) else str(x)


def to_markdown(results: Iterable[Result]) -> str:
  lines = ["| id | question | kind | statement | measured | reference | tolerance | detects | "
           "effect | verdict |",
           "|---|---|---|---|---|---|---|---|---|---|"]
  for r in results:
    e = r.evidence
    mark = "" if r.ok else " (UNEXPECTED)"
    lines.append(f"| `{r.claim.id}` | {r.claim.question} | {r.claim.kind} | "
                 f"{r.claim.statement.replace('|', '/')} | {fmt(e.measured)} | "
                 f"{e.relation} {fmt(e.reference)} | {fmt(e.tolerance)} | {fmt(e.power)} | "
                 f"{'-' if e.effect is None else fmt(e.effect)} | {r.verdict}{mark} |")
  return "\n".join(lines) + "\n"


def as_float(x) -> float:
  return float(np.asarray(x, dtype=np.float64))
