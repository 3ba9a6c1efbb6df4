r"""Claims, evidence and verdicts.

A :class:`Claim` is one checkable statement of the problem set. Its ``check(key, config)`` calls the
math modules and compares what they measure with an *independent* reference (closed form, scipy,
quadrature, autodiff), returning :class:`Evidence`. A ``theorem`` is true mathematics and must
*hold*; an ``erratum`` is a statement the written answers make that is false and must be
*refuted*. A run succeeds exactly when every theorem holds and every erratum is refuted.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import signal
import threading
import time
from typing import Callable, Iterable, Literal, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gdm_jax import stats
from gdm_jax.evidence import DTYPE_RTOL, Evidence, max_rel_error, worst  # noqa: F401
from gdm_jax.jaxconfig import FULL_OPT  # noqa: F401
from gdm_jax.problems import claim_key  # noqa: F401

Kind = Literal["theorem", "erratum"]

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
  #: Names of catalogue mutations (``gdm_jax.mutations``) that plant the mistake this claim's
  #: ``effect`` is about: ``gdm-jax mutate --per-claim`` runs each with this claim alone selected,
  #: and the claim must flip by its verdict (not by ``error``).
  mistakes: tuple[str, ...] = ()
  #: Why the claim calls no library code (a pure oracle identity), or None. Such a claim has no
  #: mistake of the library to catch; ``--per-claim`` counts it apart.
  oracle_only: str | None = None

  def __post_init__(self):
    if self.kind not in ("theorem", "erratum"):
      raise ValueError(f"`kind` must be 'theorem' or 'erratum'; got {self.kind!r}.")
    if isinstance(self.mistakes, str):
      raise ValueError("`mistakes` must be a tuple of mutation names, not a string.")

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


class ClaimTimeout(BaseException):
  """Raised in a claim that runs past its time limit (a ``BaseException``, as ``KeyboardInterrupt``,
  so that a check's own ``except Exception`` cannot swallow it)."""


def _timeout_detail(seconds: float) -> str:
  return f"timed out: ran past the per-claim time limit of {seconds:g} s (--claim-timeout)"


def _error(detail: str) -> Evidence:
  nan = float("nan")
  return Evidence(nan, nan, nan, "==", "error", detail)


@contextlib.contextmanager
def _alarm(seconds: float | None):
  """Raises :class:`ClaimTimeout` in this thread once ``seconds`` have passed (``SIGALRM``).

  Only where it can work: POSIX (``signal.setitimer``) and the main thread; elsewhere (and for
  ``seconds`` None or 0) the block runs without a limit. Python runs a signal handler between
  bytecodes, so a single long call into XLA ends first; a run in worker processes has a hard limit
  instead (the parent kills the worker, :func:`_run_forked`).
  """
  usable = (seconds and hasattr(signal, "setitimer") and
            threading.current_thread() is threading.main_thread())
  if not usable:
    yield
    return
  def on_alarm(signum, frame):
    raise ClaimTimeout(_timeout_detail(seconds))
  previous = signal.signal(signal.SIGALRM, on_alarm)
  try:
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
      yield
    finally:
      signal.setitimer(signal.ITIMER_REAL, 0)
  finally:  # the one-shot timer is off or has fired: the handler can go
    signal.signal(signal.SIGALRM, previous)


def run_claim(claim: Claim, config: Config, timeout: float | None = None) -> Result:
  """Runs one claim; never raises for a failing check (verdict ``error``). ``timeout`` (seconds)
  bounds it with :func:`_alarm` where that is available."""
  t0 = time.perf_counter()
  try:
    with _alarm(timeout):
      ev = claim.check(claim_key(config.seed, claim.id), config)
    why = ev.problem()
    if why is None and claim.stochastic and ev.detects is None:
      why = "a Monte Carlo claim must state its power (Evidence.detects)"
    if why is not None:  # NaN evidence or an underpowered design is an error, never a verdict
      ev = ev._replace(detail=f"{why}; {ev.detail}")
      verdict = "error"
    else:
      verdict = "holds" if ev.holds else "refuted"
  except ClaimTimeout as e:
    ev, verdict = _error(str(e)), "error"
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


#: Seconds a worker may take from receiving a claim to starting it (fork, jax's backend, the
#: previous claim's result sent): not the claim's time, so not under ``--claim-timeout``, but
#: bounded so that a worker that hangs before it starts is still replaced.
START_LIMIT = 120.0


def _start_backend() -> None:
  """Starts jax's backend in a fresh worker before it reports a claim started, so that no claim's
  clock includes it. A failure is left to the claims, which report it as their error."""
  try:
    jax.devices()
  except Exception:
    pass


def _worker_run(conn, claims: Sequence[Claim], config: Config, close=()) -> None:
  """A forked worker process's loop: receives a unit (indices into ``claims``, which the fork
  inherited), runs its claims in order, sending ``("start", index)`` as each starts (the parent
  starts the claim's clock then) and ``(index, evidence, verdict, seconds)`` as it finishes; ends
  on ``None`` or when the parent's end of the pipe closes."""
  signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the workers
  signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler (the CLI's raises)
  signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])  # blocked by the parent's fork
  for c in close:  # the other workers' pipe ends, inherited by the fork
    c.close()
  _start_backend()
  while True:
    try:
      unit = conn.recv()
    except (EOFError, OSError):
      return
    if unit is None:
      return
    for i in unit:
      try:
        conn.send(("start", i))
      except (EOFError, OSError):
        return
      r = run_claim(claims[i], config)
      try:
        conn.send((i, r.evidence, r.verdict, r.seconds))
      except (EOFError, OSError):
        return
      except Exception as e:  # evidence that does not pickle is reported, never lost
        conn.send((i, _error(f"result could not be sent: {type(e).__name__}: {e}"), "error",
                   r.seconds))


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
  a claim's tolerance is the same whichever claims a run selects. Claims of their own family
  (:func:`own_family`: a user's claim files) are not counted: they split the rate among
  themselves."""
  from gdm_jax.claims import REGISTRY
  ids = {c.id for c in REGISTRY if c.stochastic}
  ids |= {c.id for c in claims if c.stochastic and not isinstance(c.check, _InFamily)}
  return max(1, len(ids))


@dataclasses.dataclass(frozen=True)
class _InFamily:
  """A check run with the family rate split over ``n_stochastic`` claims (its own family's)."""
  check: Callable[[jax.Array, Config], Evidence]
  n_stochastic: int

  def __call__(self, key: jax.Array, config: Config) -> Evidence:
    return self.check(key, dataclasses.replace(config, n_stochastic=self.n_stochastic))


def own_family(claims: Sequence[Claim]) -> list[Claim]:
  r"""``claims`` as a Bonferroni family of their own: each Monte Carlo claim among them runs at
  :math:`\alpha_{family} / n`, ``n`` the number of Monte Carlo claims *given* (not the
  registry's), whichever of them a run selects and whatever else it runs beside them.

  ``gdm-jax verify --claims`` runs a user's claim files this way: their tolerances depend on the
  user's claims only, and the shipped claims keep the registry's split (with ``--with-builtin``
  the run holds two families, each at the family rate).
  """
  n = max(1, len({c.id for c in claims if c.stochastic}))
  return [dataclasses.replace(c, check=_InFamily(c.check.check if isinstance(c.check, _InFamily)
                                                   else c.check, n))
          for c in claims]


def run_claims(claims: Sequence[Claim], config: Config,
               on_result: Callable[[Result], None] | None = None,
               workers: int = 1, cost: dict[str, float] | None = None,
               timeout: float | None = None) -> list[Result]:
  """Runs ``claims`` and returns their results in the order given.

  ``workers > 1`` runs them in that many forked processes (tracing and lowering hold the GIL, so
  threads would not overlap them), when jax runs on the CPU only and has not started its backends
  yet (the CLI calls this first thing); otherwise (an accelerator: one process owns it) it runs
  them in this process. Every claim has its own key, so the results do not depend on the
  schedule. ``cost`` (seconds per claim id, from an earlier run) orders the work longest first.

  ``timeout`` (seconds, None or 0 for none) limits each claim: a claim that runs past it gets
  verdict ``error``. In worker processes the limit is hard (the worker is killed and replaced);
  in this process it is ``SIGALRM`` (:func:`_alarm`: the main thread on POSIX only, and a long
  call into XLA finishes before it fires).
  """
  if timeout is not None and not (timeout >= 0 and math.isfinite(timeout)):
    raise ValueError(f"`timeout` must be a number of seconds >= 0 or None; got {timeout!r}.")
  config = dataclasses.replace(config, n_stochastic=n_stochastic(claims))
  parallel = workers > 1 and len(claims) > 1 and _fork_is_safe()
  if not parallel:
    if timeout:
      _start_backend()  # not on the first claim's clock
    out = []
    for c in claims:
      out.append(run_claim(c, config, timeout))
      if on_result is not None:
        on_result(out[-1])
    return out
  return _run_forked(claims, config, on_result, workers, _units(claims, cost), timeout)


class _Worker:
  """A forked worker process, its end of the pipe, the claims of its unit not yet reported, since
  when it has been waited on and whether that is a claim's run (``running``: the worker said the
  claim started) or the time before it (start-up, or between two claims)."""
  def __init__(self, proc, conn):
    self.proc, self.conn, self.todo, self.since, self.running = proc, conn, [], 0.0, False

  def give(self, unit: list[int] | None) -> bool:
    """Sends ``unit`` (None: exit); False when the worker is gone (the unit is not its)."""
    try:
      self.conn.send(unit)
    except OSError:
      return False
    self.todo, self.since, self.running = list(unit or ()), time.monotonic(), False
    return True

  def deadline(self, timeout: float | None) -> float | None:
    """When the wait on it ends: the claim's limit from its start, :data:`START_LIMIT` before."""
    if self.running:
      return self.since + timeout if timeout else None
    return self.since + max(START_LIMIT, timeout or 0.0)


def _run_forked(claims, config, on_result, workers, units, timeout) -> list[Result]:
  """Runs the ``units`` in up to ``workers`` forked processes, each taking the next unit when it is
  done. A worker whose claim runs past ``timeout`` is killed: that claim gets verdict ``error``,
  the rest of its unit goes back to the queue and a fresh worker takes over; a worker that dies
  gets the same treatment. A claim's clock starts when its worker says it started it (after the
  fork and jax's backend: a limit of 1 s gave every claim ``error`` when start-up took longer);
  before that the wait is bounded by :data:`START_LIMIT`. On any exception (Ctrl-C:
  ``KeyboardInterrupt``; SIGTERM in the CLI: ``Terminated``) every worker is killed and reaped
  before it propagates."""
  import collections
  import multiprocessing
  from multiprocessing.connection import wait
  ctx = multiprocessing.get_context("fork")
  out: list[Result | None] = [None] * len(claims)
  queue = collections.deque(units)
  pool: list[_Worker] = []

  def record(i, ev, verdict, seconds):
    out[i] = Result(claims[i], ev, verdict, seconds)
    if on_result is not None:
      on_result(out[i])

  def start() -> _Worker:
    mine, theirs = ctx.Pipe()
    proc = ctx.Process(target=_worker_run, daemon=True,
                       args=(theirs, claims, config, [mine, *(w.conn for w in pool)]))
    # SIGINT stays blocked across the fork until the child ignores it: Ctrl-C is the parent's.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT])
    try:
      proc.start()
    finally:
      signal.pthread_sigmask(signal.SIG_SETMASK, mask)
      theirs.close()
    w = _Worker(proc, mine)
    pool.append(w)
    return w

  def assign(w: _Worker) -> None:
    unit = queue.popleft()
    if not w.give(unit):  # gone while idle: the unit goes to another worker
      queue.appendleft(unit)
      retire(w, None)

  def retire(w: _Worker, why: str | None) -> None:
    """Kills ``w``; its running claim gets ``why``, the rest of its unit goes back to the queue."""
    pool.remove(w)
    _kill(w)
    if w.todo and why is not None:
      record(w.todo[0], _error(why), "error", time.monotonic() - w.since)
      if w.todo[1:]:
        queue.appendleft(w.todo[1:])

  try:
    while queue or any(w.todo for w in pool):
      for w in [w for w in pool if not w.todo]:
        if queue:
          assign(w)
      while queue and len(pool) < workers:
        assign(start())
      busy = [w for w in pool if w.todo]
      if not busy:
        continue
      ends = [d for d in (w.deadline(timeout) for w in busy) if d is not None]
      left = max(0.0, min(ends) - time.monotonic()) if ends else None
      ready = wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], left)
      for w in busy:
        if w.conn in ready or w.proc.sentinel in ready:
          try:
            while w.todo and w.conn.poll():
              msg = w.conn.recv()
              w.since = time.monotonic()
              if msg[0] == "start":  # the claim's clock starts now, not at fork or hand-over
                w.running = True
                continue
              i, ev, verdict, seconds = msg
              record(i, ev, verdict, seconds)
              w.todo.remove(i)
              w.running = False
          except (EOFError, OSError):
            pass  # it died: is_alive says so below
        end = w.deadline(timeout)
        if w.todo and not w.proc.is_alive():
          retire(w, f"worker process died (exit code {w.proc.exitcode})")
        elif w.todo and end is not None and time.monotonic() >= end:
          retire(w, _timeout_detail(timeout) + "; its worker process was killed" if w.running
                 else f"not started: its worker process took over {START_LIMIT:g} s to start the "
                 "claim and was killed")
    for w in pool:  # done: let them exit (and flush what they printed)
      w.give(None)
    for w in pool:
      w.proc.join(5)
  finally:  # also on Ctrl-C: no worker outlives the run
    for w in pool:
      _kill(w)
  for i, r in enumerate(out):  # cannot happen; if it did, the run says so instead of losing it
    if r is None:
      record(i, _error("not run: lost by the scheduler"), "error", 0.0)
  return out


def _kill(w: _Worker) -> None:
  """Kills and reaps a worker (it holds nothing worth a graceful stop)."""
  w.conn.close()
  if w.proc.is_alive():
    w.proc.kill()
  w.proc.join()


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
