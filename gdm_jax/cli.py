"""The ``gdm-jax`` command line: parses and checks flags, runs the claims, formats the results."""
from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from gdm_jax.jaxconfig import FAST_COMPILE, MAX_SEED, fast_compile_flags, parse_seed  # noqa: F401

DESCRIPTION = """\
Numerical checks of the mathematics of deep generative models (VAEs, autoregressive models,
GANs) in JAX. `gdm-jax verify` runs every claim of the problem set against an independent
reference and prints a verdict table: a theorem must hold, an erratum (a false statement of the
written answers) must be refuted."""

EPILOG = """\
environment: JAX_ENABLE_X64=1 runs in float64 (as --x64); GDM_JAX_NO_CACHE=1 is --no-cache. Exit
status: 0 when every claim ran to finite evidence and came out as expected; 1 when one did not (a
verdict 'error' included) or an output file could not be written; 2 for a usage error; 130 when
interrupted (Ctrl-C), 143 when terminated (SIGTERM); either way no worker process is left."""


def _warn(msg: str) -> None:
  """A one-line warning on stderr (the run goes on)."""
  print(f"gdm-jax: warning: {' '.join(msg.split())}", file=sys.stderr)


def cache_dir() -> Path:
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return Path(base) / "gdm-jax" / "jax-compilation-cache"


def _env_set(name: str) -> bool:
  """True for the values jax reads as true in its own boolean variables (1, true, yes, on...)."""
  return os.environ.get(name, "").strip().lower() in ("1", "true", "t", "yes", "y", "on")


def cache_enabled(no_cache_flag: bool) -> bool:
  """The persistent caches are on unless ``--no-cache`` or ``GDM_JAX_NO_CACHE=1``."""
  return not no_cache_flag and not _env_set("GDM_JAX_NO_CACHE")


def _writable_dir(d: Path) -> str | None:
  """None when files can be created in ``d`` (made if missing); otherwise why not."""
  try:
    d.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=d):
      pass
  except OSError as e:
    return e.strerror or str(e)
  return None


def setup_jax(x64: bool, use_cache: bool) -> bool:
  """Configures jax before any computation: precision and the persistent compilation cache.
  Returns whether the persistent cache is on.

  The only cache is jax's own persistent compilation cache, keyed on the lowered program itself,
  so a changed function, dependency or network always traces anew and never reuses a stale
  executable. It is on by default (under the user's cache folder); ``--no-cache`` or
  ``GDM_JAX_NO_CACHE=1`` turn it off.

  verify's programs are small and many, so compile time dominates: XLA's CPU backend runs LLVM at
  optimisation level 0 here, and the few compute-heavy claim programs ask for full optimisation
  per jit (``claims.core.FULL_OPT``); XLA's older loop emitters replace the fusion emitters
  (``--xla_cpu_use_fusion_emitters=false``: the L-BFGS programs compile ~35% faster, cold verify
  78 s -> 57 s of CPU, at the same run time). All verdicts are unchanged. ``GDM_JAX_XLA_OPT=1``
  keeps XLA's defaults; a flag already in ``XLA_FLAGS`` is left as it is.

  A cache folder that cannot be written (read-only, not a folder) never stops a run: one warning,
  and the run goes on without the persistent cache.
  """
  if not _env_set("GDM_JAX_XLA_OPT"):
    os.environ["XLA_FLAGS"] = fast_compile_flags(os.environ.get("XLA_FLAGS", ""))
  import jax
  jax.config.update("jax_enable_x64", bool(x64))
  # The partitionable threefry (jax's default since 0.5) compiles ~10x slower on CPU here (5.1 s
  # vs 0.38 s for one normal draw of 1728 numbers, measured on a 2-core CPU); verify's programs
  # are single-device, so the classic stream is used. Both are threefry and deterministic.
  jax.config.update("jax_threefry_partitionable", False)
  # float32 matmuls in full float32 on accelerators too: on NVIDIA GPUs jax's default passes them
  # through TF32 (10-bit mantissa), which moved float32 claims by ~1e-4 relative on an H200, five
  # times the dtype's tolerance. On the CPU this changes nothing.
  jax.config.update("jax_default_matmul_precision", "highest")
  if not cache_enabled(not use_cache):
    return False
  d = cache_dir()
  why = _writable_dir(d)
  if why is not None:
    _warn(f"cannot write the cache folder {d} ({why}); running without the persistent "
          "compilation cache")
    return False
  jax.config.update("jax_compilation_cache_dir", str(d))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  return True


def _costs_path(args) -> Path | None:
  """Seconds per claim from the last run, next to the compilation cache (a scheduling hint)."""
  if not getattr(args, "cache_on", False):
    return None
  return cache_dir().parent / f"claim-seconds-{'x64' if args.x64 else 'x32'}.json"


#: The largest claim-seconds hint read (a few kB in practice); a larger file is ignored.
MAX_HINT_BYTES = 1 << 20


def read_costs(path: Path | None) -> dict[str, float]:
  """The scheduling hint, read defensively (it only orders the work): a regular file (never a
  symlink, a FIFO, a device or a folder, opened without blocking) of at most
  :data:`MAX_HINT_BYTES`, holding a JSON object; entries that are not non-negative finite numbers
  are left out. A missing hint is silently absent (the first run); any other that cannot be used
  is absent with a one-line warning, and never stops or stalls the run."""
  if path is None:
    return {}
  import errno
  import stat

  def unusable(why: str) -> dict[str, float]:
    _warn(f"ignoring the claim timings (a scheduling hint) at {path}: {why}; the results are not "
          "affected")
    return {}

  try:
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
  except OSError as e:
    if e.errno == errno.ENOENT:
      return {}
    return unusable(e.strerror or str(e))
  try:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
      return unusable("not a regular file")
    if st.st_size > MAX_HINT_BYTES:
      return unusable(f"{st.st_size} bytes, more than {MAX_HINT_BYTES}")
    with os.fdopen(fd, "rb") as f:
      fd = None
      doc = json.loads(f.read(MAX_HINT_BYTES + 1))
  except (OSError, ValueError, RecursionError) as e:  # RecursionError: JSON nested too deeply
    return unusable(f"{type(e).__name__}: {e}" if not isinstance(e, OSError)
                    else (e.strerror or str(e)))
  finally:
    if fd is not None:
      os.close(fd)
  if not isinstance(doc, dict):
    return unusable(f"a JSON {type(doc).__name__}, not an object of seconds per claim id")
  return {k: float(v) for k, v in doc.items()
          if isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
          and math.isfinite(v) and v >= 0}


def write_costs(path: Path | None, costs: dict[str, float]) -> None:
  """Writes the hint atomically (a temporary file, then ``os.replace``); a failure is a warning."""
  if path is None:
    return
  tmp = None
  try:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
      json.dump(costs, f)
    os.replace(tmp, path)
  except OSError as e:
    _warn(f"cannot save the claim timings (a scheduling hint) to {path} ({e.strerror or e}); "
          "the results are not affected")
    if tmp is not None:
      try:
        os.unlink(tmp)
      except OSError:
        pass


def _run(args, selected, cfg, on_result=None):
  """run_claims with the last run's timings as its order, then records this run's timings."""
  import jax
  from gdm_jax import claims
  from gdm_jax.claims.core import run_claims
  # A process that ran claims before (a user's script calling main twice, after patching a
  # function) must not answer from memoised set-ups or jax's in-memory traces of the old code.
  claims.clear_caches()
  jax.clear_caches()
  path = _costs_path(args)
  costs = read_costs(path)
  results = run_claims(selected, cfg, on_result, workers=args.workers or os.cpu_count() or 1,
                       cost=costs, timeout=args.claim_timeout or None)
  write_costs(path, {**costs, **{r.claim.id: round(r.seconds, 3) for r in results}})
  return results


def _type(check):
  """An argparse ``type`` from ``check(text)``, which returns the value or raises ValueError with
  the message argparse prints (``gdm-jax verify: error: argument --x: <message>``, exit 2)."""
  def parse(text):
    try:
      return check(text)
    except ValueError as e:
      raise argparse.ArgumentTypeError(str(e)) from None
  parse.__name__ = check.__name__
  return parse


def _number(text: str) -> float:
  try:
    return float(text)
  except ValueError:
    raise ValueError(f"not a number: {text!r}") from None


@_type
def _rate(text: str) -> float:
  """A false-failure rate: strictly between 0 and 1."""
  x = _number(text)
  if not 0 < x < 1:  # also rejects nan
    raise ValueError(f"a rate must be strictly between 0 and 1; got {text}")
  return x


@_type
def _count(text: str) -> int:
  try:
    n = int(text)
  except ValueError:
    raise ValueError(f"not a whole number: {text!r}") from None
  if n < 1:
    raise ValueError(f"must be at least 1; got {n}")
  return n


#: The largest seed: ``jax.random.key`` keeps 32 bits of it with x64 off (2**32 ran as seed 0)
#: and 64 with it on (so they would disagree above 2**32, and below 0); 2**63 overflows.
@_type
def _seed(text: str) -> int:
  """A PRNG seed the key holds whole, the same in float32 and float64: 0 to :data:`MAX_SEED`."""
  return parse_seed(text)


@_type
def _pattern(text: str) -> str:
  """``--only``: comma-separated globs, at least one of them not empty."""
  if not any(p.strip() for p in text.split(",")):
    raise ValueError(f"an empty pattern selects no claim ({text!r}); give a glob such as 'q1.*', "
                     "or leave --only out to run every claim")
  return text


@_type
def _seconds(text: str) -> float:
  x = _number(text)
  if not (math.isfinite(x) and x >= 0):
    raise ValueError(f"must be a number of seconds >= 0 (0: no limit); got {text}")
  return x


@_type
def _out_file(text: str) -> str:
  """A file the run will write ('-': stdout): checked before anything runs."""
  if text == "-":
    return text
  p = Path(text)
  if p.is_dir():
    raise ValueError(f"{text} is a folder, not a file")
  folder = p.parent
  if not folder.is_dir():
    raise ValueError(f"folder {folder} does not exist")
  if not os.access(folder, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
    raise ValueError(f"cannot write {text}")
  return text


@_type
def _out_dir(text: str) -> str:
  """A folder the run will create or write in: checked before anything runs."""
  q = Path(text)
  while not q.exists() and q != q.parent:
    q = q.parent
  if not q.is_dir():
    raise ValueError(f"{q} is not a folder")
  if not os.access(q, os.W_OK | os.X_OK):
    raise ValueError(f"cannot write in {q}")
  return text


@_type
def _readme(text: str) -> str:
  """A README with the claims-table markers, readable and writable."""
  try:
    body = Path(text).read_text()
  except (OSError, ValueError) as e:
    raise ValueError(f"cannot read {text} ({e})") from None
  if README_START not in body or README_END not in body:
    raise ValueError(f"{text} has no {README_START} ... {README_END} block")
  if not os.access(text, os.W_OK):
    raise ValueError(f"cannot write {text}")
  return text


@_type
def _experiments(text: str) -> str:
  """A glob that selects at least one experiment."""
  from gdm_jax import experiments
  experiments.select(text)
  return text


def _version() -> str:
  """The installed distribution's version (the package's own in a source tree)."""
  from importlib.metadata import PackageNotFoundError, version
  try:
    return version("gdm-jax")
  except PackageNotFoundError:
    import gdm_jax
    return gdm_jax.__version__


def _common(p: argparse.ArgumentParser) -> None:
  p.add_argument("--only", type=_pattern, default=None,
                 help="glob(s) of claim ids, comma separated (q1.*)")
  p.add_argument("--x64", action="store_true",
                 help="run in float64 (default float32); JAX_ENABLE_X64=1 does the same")
  p.add_argument("--seed", type=_seed, default=0,
                 help=f"PRNG seed, 0 to {MAX_SEED} (default 0, deterministic)")
  p.add_argument("--quick", action="store_true", help="smaller problems (smoke runs)")
  p.add_argument("--workers", type=_count, default=None,
                 help="claims run in this many processes (default: number of CPU cores)")
  p.add_argument("--no-cache", action="store_true",
                 help="disable jax's persistent compilation cache (also GDM_JAX_NO_CACHE=1)")
  p.add_argument("--claims", action="append", default=None, metavar="PATH_OR_MODULE",
                 help="run your own claims instead of the shipped ones: a .py file with CLAIMS = "
                 "[...], a folder of claims*.py files, or a dotted module (repeatable)")
  p.add_argument("--with-builtin", action="store_true",
                 help="with --claims: run the shipped claims too")


def _timeout_flag(p: argparse.ArgumentParser) -> None:
  p.add_argument("--claim-timeout", type=_seconds, default=900.0, metavar="SECONDS",
                 help="a claim that runs longer gets verdict 'error' (default 900; 0: no limit)")


def build_parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="gdm-jax", description=DESCRIPTION, epilog=EPILOG)
  p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
  sub = p.add_subparsers(dest="command", required=True)
  v = sub.add_parser("verify", help="run every claim and print the verdict table", epilog=EPILOG)
  _common(v)
  _timeout_flag(v)
  v.add_argument("--json", type=_out_file, default=None, metavar="PATH",
                 help="write results as JSON")
  v.add_argument("--markdown", type=_out_file, default=None, metavar="PATH",
                 help="write the verdict table as markdown ('-' for stdout)")
  v.add_argument("--readme", type=_readme, default=None, metavar="PATH",
                 help="rewrite the claims table between the markers in this README")
  v.add_argument("--wide", action="store_true",
                 help="the full table: statements, tolerances and their origins, detects, effect "
                 "(default: a compact table, id, measured, reference, verdict)")
  v.add_argument("--family-rate", type=_rate, default=None, metavar="RATE",
                 help="family-wise false-failure rate of the run, in (0, 1) (default 1e-6)")
  r = sub.add_parser("report", help="run verify and the experiments; write an HTML report")
  _common(r)
  _timeout_flag(r)
  r.add_argument("--out", type=_out_dir, default="report", help="output folder (default ./report)")
  r.add_argument("--skip-experiments", action="store_true",
                 help="run no experiment; reuse the figures already in OUT/figures")
  r.add_argument("--experiments", type=_experiments, default=None, metavar="GLOB",
                 help="glob(s) of the experiments to run, comma separated (default: all of "
                 "q2_amortised, q3_iwae, q4_masks, q5_discriminator, q6_critics, q7_jsd)")
  m = sub.add_parser("mutate", help="plant known mistakes one at a time; verify must refute each")
  _common(m)
  m.add_argument("--mutation", default=None, help="glob of mutation names (default: all)")
  m.add_argument("--mutations", action="append", default=None, metavar="PATH_OR_MODULE",
                 help="your own planted mistakes (MUTATIONS = (Mutation(...), ...)) instead of "
                 "the shipped catalogue (beside it with --with-builtin); repeatable")
  m.add_argument("--json", type=_out_file, default=None, metavar="PATH")
  m.add_argument("--per-claim", action="store_true",
                 help="per-claim power: each claim (--only selects) runs alone with each mistake "
                 "it names (Claim.mistakes) and must flip by its verdict")
  s = sub.add_parser("seeds", help="rerun the Monte Carlo claims over many seeds at a loose "
                     "per-claim rate and compare the observed false-failure rate with the design")
  _common(s)
  _timeout_flag(s)
  s.add_argument("--n", type=_count, default=20, help="number of seeds (at least 1)")
  s.add_argument("--rate", type=_rate, default=0.01,
                 help="per-claim false-failure rate, in (0, 1) (default 0.01)")
  s.add_argument("--json", type=_out_file, default=None, metavar="PATH")
  return p


def _console():
  """Rich's console: the terminal's width, or ``COLUMNS`` where it is set (rich reads it), else
  200 columns when stdout is a file or a pipe."""
  from rich.console import Console
  columns = os.environ.get("COLUMNS", "").strip()
  return Console(width=None if sys.stdout.isatty() or columns.isdigit() else 200)


def _error(msg: str) -> None:
  """A one-line usage error on stderr (the command then exits 2)."""
  print(f"gdm-jax: error: {' '.join(str(msg).split())}", file=sys.stderr)


def _pool(args):
  """The claims a run chooses from: None for the registry, or the user's ``--claims`` (as their
  own Bonferroni family), beside the registry with ``--with-builtin``. Loads the user's files (in
  this process, before any worker forks: the workers inherit them). Raises ``ClaimFileError``."""
  from gdm_jax import claims
  from gdm_jax.claims import loading
  if not getattr(args, "claims", None):
    if getattr(args, "with_builtin", False):
      raise loading.ClaimFileError("--with-builtin needs --claims PATH_OR_MODULE (the shipped "
                                   "claims alone run without either flag)")
    return None
  builtin = list(claims.REGISTRY) if args.with_builtin else []
  return builtin + claims.own_family(claims.load_claims(args.claims, builtin))


def _select(console, args):
  """The claims ``--only`` selects from the run's pool (:func:`_pool`), or None after printing
  why there are none (a claim file that cannot be used: one line on stderr)."""
  from rich.markup import escape
  from gdm_jax import claims
  try:
    pool = _pool(args)
  except claims.ClaimFileError as e:
    _error(e)
    return None
  try:
    return claims.select(args.only) if pool is None else claims.select(args.only, pool)
  except ValueError as e:
    console.print(f"[red]{escape(str(e))}[/red]")
    return None


def _save(console, path, write) -> bool:
  """Runs ``write(Path(path))``; a failure is printed (one line) and returns False."""
  from rich.markup import escape
  try:
    write(Path(path))
    return True
  except (OSError, ValueError) as e:
    console.print(f"[red]cannot write {escape(str(path))}: {escape(str(e))}[/red]")
    return False


def _groups(results):
  """``[(question, title, results)]``: consecutive results grouped by their question (q1...)."""
  from gdm_jax.report import question_of, question_title
  groups = []
  for r in results:
    q = question_of(r.claim.id)
    if not groups or groups[-1][0] != q:
      groups.append((q, question_title(q), []))
    groups[-1][2].append(r)
  return groups


def _verdict_cell(r) -> str:
  """The verdict, green with a tick when it is the expected one, bold red with a cross if not."""
  from rich.markup import escape
  if r.ok:
    return f"[green]{escape(r.verdict)} \u2713[/green]"
  return f"[bold red]{escape(r.verdict)} \u2717[/bold red]"


def _table(results, wide: bool = False):
  """The verdict table, one section per question.

  Compact (the default): id, measured, relation and reference, verdict; it fits 80 columns with
  each id on one line. ``wide``: the id with its question and kind, then the statement, the
  evidence with its tolerance and the tolerance's origin, ``detects`` and the effect, as lines of
  one column that wraps to the width. Ids never wrap (``no_wrap``).
  """
  from rich import box
  from rich.markup import escape
  from rich.table import Table
  from gdm_jax.claims.core import fmt
  t = Table(title="gdm-jax verify", box=box.HORIZONTALS, show_edge=False, pad_edge=False,
            show_lines=wide, title_justify="left")
  t.add_column("claim", no_wrap=True, overflow="ellipsis")
  if wide:
    t.add_column("statement and evidence", overflow="fold", ratio=1)
  else:
    t.add_column("measured", overflow="fold")
    t.add_column("reference", overflow="fold")
  t.add_column("verdict", no_wrap=True)
  groups = _groups(results)
  for gi, (q, title, rows) in enumerate(groups):
    head = f"[bold]{escape(q.upper())}[/bold] [dim]{escape(title)}[/dim]"
    t.add_row(head, *[""] * (len(t.columns) - 1))
    for ri, r in enumerate(rows):
      e = r.evidence
      cells = [escape(r.claim.id)]
      if wide:
        cells[0] += f"\n[dim]{escape(r.claim.question)} {escape(r.claim.kind)}[/dim]"
        effect = ("no effect stated" if e.effect is None else f"effect {fmt(e.effect)}"
                  + (f" ({escape(e.effect_what)})" if e.effect_what else ""))
        cells.append(f"{escape(r.claim.statement)}\n"
                     f"measured {fmt(e.measured)} {escape(e.relation)} {fmt(e.reference)} "
                     f"within {fmt(e.tolerance)}\n"
                     f"[dim]tolerance: {escape(e.origin)}\n"
                     f"detects {fmt(e.power)}; {effect}[/dim]")
      else:
        cells += [fmt(e.measured), f"{escape(e.relation)} {fmt(e.reference)}"]
      cells.append(_verdict_cell(r))
      t.add_row(*cells, end_section=ri == len(rows) - 1 and gi < len(groups) - 1)
  return t


def _failures(console, bad) -> None:
  """Each claim whose verdict is not the expected one, with its statement and detail in full
  (wrapped text stays indented under its label)."""
  from rich.markup import escape
  from rich.padding import Padding
  from rich.table import Table
  from gdm_jax.claims.core import fmt
  if not bad:
    return
  console.print(f"[bold red]{len(bad)} unexpected verdict{'s' if len(bad) > 1 else ''}:[/bold red]")
  for r in bad:
    e = r.evidence
    console.print(f"[red]\u2717 {escape(r.claim.id)}: {escape(r.verdict)}, expected "
                  f"{escape(r.claim.expected_verdict)} ({escape(r.claim.kind)}, "
                  f"{escape(r.claim.question)})[/red]")
    g = Table.grid(padding=(0, 1))
    g.add_column(no_wrap=True, style="dim")
    g.add_column(overflow="fold")
    g.add_row("statement", escape(r.claim.statement))
    g.add_row("evidence", f"measured {fmt(e.measured)} {escape(e.relation)} {fmt(e.reference)} "
                          f"within {fmt(e.tolerance)} ({escape(e.origin)})")
    g.add_row("detail", escape(e.detail or "(none)"))
    console.print(Padding(g, (0, 0, 0, 2)))


README_START, README_END = "<!-- claims:start -->", "<!-- claims:end -->"


def update_readme(path: Path, table: str) -> None:
  text = path.read_text()
  if README_START not in text or README_END not in text:
    raise ValueError(f"{path} has no {README_START} ... {README_END} block")
  head, rest = text.split(README_START, 1)
  _, tail = rest.split(README_END, 1)
  path.write_text(f"{head}{README_START}\n{table}{README_END}{tail}")


def cmd_verify(args) -> int:
  args.cache_on = setup_jax(args.x64, not args.no_cache)
  from rich.markup import escape
  from rich.progress import Progress
  from gdm_jax import stats
  from gdm_jax.claims.core import Config, to_json, to_markdown

  console = _console()
  selected = _select(console, args)
  if selected is None:
    return 2
  cfg = Config(seed=args.seed, x64=args.x64, quick=args.quick,
               family_rate=stats.FAMILY_RATE if args.family_rate is None else args.family_rate)
  t0 = time.perf_counter()
  # No auto-refresh: a refresh thread must not be running when the worker processes fork.
  with Progress(console=console, transient=True, auto_refresh=False) as prog:
    task = prog.add_task("verifying", total=len(selected))
    def on_result(r):
      prog.update(task, advance=1, description=escape(r.claim.id), refresh=True)
    results = _run(args, selected, cfg, on_result)
  wall = time.perf_counter() - t0
  saved = True  # every file asked for is written, each on its own: one failure loses no other
  if args.json:
    doc = to_json(results, cfg)
    doc["wall_seconds"] = round(wall, 2)
    saved &= _save(console, args.json, lambda p: p.write_text(json.dumps(doc, indent=2)))
  if args.markdown == "-":
    sys.stdout.write(to_markdown(results))
  else:
    console.print(_table(results, wide=args.wide))
    console.print("[dim]a theorem must hold and an erratum be refuted (\u2713); "
                  + ("" if args.wide else "--wide shows statements, tolerances and power; ")
                  + "--json keeps everything[/dim]")
    if args.markdown:
      saved &= _save(console, args.markdown, lambda p: p.write_text(to_markdown(results)))
  if args.readme:
    saved &= _save(console, args.readme, lambda p: update_readme(p, to_markdown(results)))
  n_ok = sum(r.ok for r in results)
  bad = [r for r in results if not r.ok]
  msg = (f"{n_ok}/{len(results)} as expected ({sum(r.claim.kind == 'theorem' for r in results)} "
         f"theorems, {sum(r.claim.kind == 'erratum' for r in results)} errata) in {wall:.1f} s "
         f"[{cfg.dtype_name}, seed {cfg.seed}]")
  if args.markdown != "-":
    _failures(console, bad)
    console.print(("[green]" if not bad else "[red]") + escape(msg))
  return 0 if not bad and saved else 1


def cmd_report(args) -> int:
  import importlib.util
  from rich.markup import escape
  console = _console()
  say = lambda line: print(line, flush=True)
  if not args.skip_experiments and importlib.util.find_spec("matplotlib") is None:
    console.print("[red]the report's figures need matplotlib, which is not installed: "
                  "pip install 'gdm-jax[plots]' (or pass --skip-experiments)[/red]")
    return 1
  args.cache_on = setup_jax(args.x64, not args.no_cache)
  from gdm_jax import experiments, report
  from gdm_jax.claims.core import Config, environment
  selected = _select(console, args)
  if selected is None:
    return 2
  out = Path(args.out)
  figs = out / "figures"
  if not _save(console, figs, lambda p: p.mkdir(parents=True, exist_ok=True)):
    return 2
  cfg = Config(seed=args.seed, x64=args.x64, quick=args.quick)
  say(f"verifying {len(selected)} claim{'s' if len(selected) != 1 else ''} ...")
  t0 = time.perf_counter()
  results = _run(args, selected, cfg)
  bad = [r for r in results if not r.ok]
  say(f"{len(results) - len(bad)}/{len(results)} claims as expected in "
      f"{time.perf_counter() - t0:.1f} s")
  _failures(console, bad)
  runs, files = [], None
  if not args.skip_experiments:
    names = experiments.select(args.experiments)
    say(f"running {len(names)} experiment{'s' if len(names) != 1 else ''}"
        f"{' (quick)' if args.quick else ''} into {figs}")
    runs = experiments.run_each(figs, args.quick, args.seed, names, progress=say)
    files = {f for r in runs for f in r.files}
  html_path, md_path = report.render(results, environment(cfg), figs, out, runs, files)
  failed = [r.name for r in runs if not r.ok]
  n_figs = len(list(figs.glob("*.png"))) if files is None else sum(
      f.endswith(".png") for f in files)
  say(f"wrote {html_path} and {md_path} ({n_figs} figure{'s' if n_figs != 1 else ''})")
  if failed:
    console.print(f"[red]experiments that failed: {escape(', '.join(failed))} (their stderr is "
                  "above and in the report)[/red]")
  if n_figs == 0:
    console.print("[red]the report has no figures[/red]")
  return 0 if not bad and not failed and n_figs > 0 else 1


def cmd_mutate(args) -> int:
  args.cache_on = setup_jax(args.x64, not args.no_cache)
  if args.per_claim:
    return _mutate_per_claim(args)
  import fnmatch
  from rich.markup import escape
  from gdm_jax import claims, mutations
  from gdm_jax.claims.core import Config
  console = _console()
  catalogue = _catalogue(args)
  if catalogue is None:
    return 2
  try:
    pool = _pool(args)
  except claims.ClaimFileError as e:
    _error(e)
    return 2
  chosen = [m for m in catalogue
            if args.mutation is None or fnmatch.fnmatch(m.name, args.mutation)]
  if not chosen:
    console.print(f"[red]`--mutation {escape(args.mutation)}` matches no mutation[/red]")
    return 2
  for m in chosen:  # a scope that selects no claim of the run could never catch its mistake
    try:
      claims.select(m.scope) if pool is None else claims.select(m.scope, pool)
    except ValueError:
      _error(f"mutation {m.name}: its scope {m.scope!r} selects no claim of this run "
             f"({'--claims' if args.claims else 'the shipped registry'}); fix the scope glob")
      return 2
  cfg = Config(seed=args.seed, x64=args.x64, quick=args.quick)
  def show(row):
    m, caught, flipped, verdicts = row
    mark = "[green]caught[/green]" if caught else "[bold red]MISSED[/bold red]"
    by = ", ".join(f"{i}{'' if verdicts[i][0] != 'error' else ' (error)'}" for i in flipped)
    console.print(f"{mark}  {escape(f'{m.name:26s}')} {escape(m.description)}  <- "
                  f"{escape(by or '-')}")
  rows = mutations.run(chosen, cfg, show, pool)
  score = sum(r[1] for r in rows)
  by_verdict = sum(any(v[0] != "error" for v in r[3].values()) for r in rows)
  console.print(f"mutation score: {score}/{len(rows)} = {100 * score / len(rows):.0f}% "
                f"({by_verdict} caught by a verdict, {score - by_verdict} by errors only)")
  saved = True
  if args.json:
    doc = {"score": score, "total": len(rows), "by_verdict": by_verdict, "mutations": [
        {"name": m.name, "description": m.description, "caught": c, "refuted_by": f,
         "verdicts": {k: {"verdict": v, "detail": d} for k, (v, d) in vd.items()}}
        for m, c, f, vd in rows]}
    saved = _save(console, args.json, lambda p: p.write_text(json.dumps(doc, indent=2)))
  return 0 if score == len(rows) and saved else 1


def _catalogue(args):
  """The mistakes to plant: the shipped catalogue, or the user's ``--mutations`` (beside the
  shipped ones with ``--with-builtin``); None after a one-line error (a file that cannot be used,
  ``--claims`` without ``--mutations``)."""
  from gdm_jax import claims, mutations
  if not args.mutations:
    if args.claims and not args.with_builtin:
      _error("mutate --claims needs --mutations PATH_OR_MODULE: your own planted mistakes "
             "(MUTATIONS = (Mutation(...), ...)); the shipped ones patch gdm_jax, not your code")
      return None
    return mutations.MUTATIONS
  builtin = mutations.MUTATIONS if args.with_builtin else ()
  try:
    return tuple(builtin) + claims.load_mutations(args.mutations, builtin)
  except claims.ClaimFileError as e:
    _error(e)
    return None


def _mutate_per_claim(args) -> int:
  """``gdm-jax mutate --per-claim``: the table claim, mutation, verdict without, verdict with.
  Exit 0 when every pair flips by verdict and every selected claim names a mistake (or calls no
  library code: counted apart)."""
  import fnmatch
  from rich.markup import escape
  from gdm_jax import mutations
  from gdm_jax.claims.core import Config
  console = _console()
  catalogue = _catalogue(args)
  if catalogue is None:
    return 2
  selected = _select(console, args)
  if selected is None:
    return 2
  try:
    pairs, oracle_only, unnamed = mutations.per_claim_plan(selected, catalogue)
  except ValueError as e:
    console.print(f"[red]{escape(str(e))}[/red]")
    return 2
  if args.mutation is not None:
    pairs = [(c, m) for c, m in pairs if fnmatch.fnmatch(m.name, args.mutation)]
  cfg = Config(seed=args.seed, x64=args.x64, quick=args.quick)
  console.print(f"{'claim':34s} {'mutation':34s} {'without':8s} {'with':8s}")
  def show(row):
    mark = "[green]flips[/green]" if row.flipped else "[bold red]BLIND[/bold red]"
    console.print(f"{escape(f'{row.claim:34s}')} {escape(f'{row.mutation:34s}')} "
                  f"{row.without:8s} {row.with_:8s} {mark}")
  rows = mutations.run_per_claim(pairs, cfg, show)
  flips = sum(r.flipped for r in rows)
  claims_ok = {c.id for c, _ in pairs} - {r.claim for r in rows if not r.flipped}
  named = len({c.id for c, _ in pairs})
  console.print(f"per-claim power: {flips}/{len(rows)} pairs flip by verdict; {len(claims_ok)}/"
                f"{named} claims flip on every mistake they name; {len(oracle_only)} call no "
                f"library code (counted apart); {len(unnamed)} name no mistake yet")
  for c in oracle_only:
    console.print(f"  oracle only: {escape(c.id)}: {escape(c.oracle_only)}")
  for c in unnamed:
    console.print(f"  [red]no mistake named: {escape(c.id)}[/red]")
  saved = True
  if args.json:
    doc = {"pairs": [r._asdict() for r in rows], "flips": flips, "total": len(rows),
           "oracle_only": {c.id: c.oracle_only for c in oracle_only},
           "unnamed": [c.id for c in unnamed]}
    saved = _save(console, args.json, lambda p: p.write_text(json.dumps(doc, indent=2)))
  return 0 if flips == len(rows) and not unnamed and saved else 1


def cmd_seeds(args) -> int:
  args.cache_on = setup_jax(args.x64, not args.no_cache)
  from rich.markup import escape
  from gdm_jax import stats
  console = _console()
  selected = _select(console, args)
  if selected is None:
    return 2
  selected = [c for c in selected if c.stochastic]
  if not selected:
    console.print(f"[red]`--only {escape(str(args.only))}` selects no Monte Carlo claim[/red]")
    return 2
  seeds = list(range(1000, 1000 + args.n))
  ids = [c.id for c in selected]
  jobs = max(1, min(args.workers or os.cpu_count() or 1, args.n))
  rows = _seed_rows(selected, seeds, args, jobs)
  per_claim = {i: sum(not r[i][0] for r in rows.values()) for i in ids}
  errors: dict[str, str] = {}  # the first seed at which a claim did not reach finite evidence
  for sd, r in sorted(rows.items()):
    for i in ids:
      if r[i][1] is not None:
        errors.setdefault(i, f"seed {sd}: {r[i][1]}")
  fails, trials = sum(per_claim.values()), len(ids) * args.n
  lo, hi = stats.binomial_ci(fails, trials)
  console.print(f"{fails}/{trials} false failures = {fails / trials:.4f} (95% CI {lo:.4f} to "
                f"{hi:.4f}); design rate {args.rate} per claim, {args.n} seeds")
  table = {}
  for k, v in per_claim.items():
    clo, chi = stats.binomial_ci(v, args.n)
    table[k] = {"failures": v, "seeds": args.n, "rate": v / args.n, "ci95": [clo, chi],
                "consistent": clo <= args.rate}
    console.print(f"  {escape(f'{k:34s}')} {v:4d}/{args.n}  rate {v / args.n:.4f}  95% CI "
                  f"[{clo:.4f}, {chi:.4f}]" + ("" if clo <= args.rate else "  [red]above the "
                                                "design[/red]"))
  for k, why in errors.items():
    console.print(f"[red]  {escape(k)}: error ({escape(why)})[/red]")
  ok = lo <= args.rate and all(t["consistent"] for t in table.values())
  saved = True
  if args.json:
    doc = {"failures": fails, "trials": trials, "ci95": [lo, hi], "design_rate": args.rate,
           "seeds": args.n, "per_claim": table, "consistent": ok, "errors": errors}
    saved = _save(console, args.json, lambda p: p.write_text(json.dumps(doc, indent=2)))
  return 0 if ok and saved and not errors else 1


def _seed_block(selected, seeds, args):
  """Runs ``selected`` at each seed in this process; ``{seed: {id: (ok, error detail)}}``."""
  from gdm_jax import claims
  from gdm_jax.claims.core import Config, run_claims
  out = {}
  for seed in seeds:
    cfg = Config(seed=seed, x64=args.x64, quick=args.quick, claim_rate=args.rate)
    out[seed] = {r.claim.id: (r.ok, r.evidence.detail if r.verdict == "error" else None)
                 for r in run_claims(selected, cfg, workers=1,
                                     timeout=args.claim_timeout or None)}
    claims.clear_caches()
  return out


_SEED_JOB: tuple = ()  # (claims, args) for forked seed workers: inherited, never pickled


def _forked_seed_block(seeds):
  return _seed_block(*_SEED_JOB[:1], seeds, *_SEED_JOB[1:])


def _seed_rows(selected, seeds, args, jobs):
  """The seeds split over ``jobs`` forked processes (each keeps its compiled programs warm); the
  claims reach them through fork, so claims defined in a script need not pickle."""
  global _SEED_JOB
  from gdm_jax.claims.core import _fork_is_safe
  if jobs == 1 or not _fork_is_safe():
    return _seed_block(selected, seeds, args)
  import multiprocessing
  _SEED_JOB = (selected, args)
  try:
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
      parts = pool.map(_forked_seed_block, [seeds[i::jobs] for i in range(jobs)])
  finally:
    _SEED_JOB = ()
  return {k: v for part in parts for k, v in part.items()}


COMMANDS = {"verify": cmd_verify, "report": cmd_report, "mutate": cmd_mutate, "seeds": cmd_seeds}


class Terminated(BaseException):
  """SIGTERM, raised in the main thread (a ``BaseException``, as ``KeyboardInterrupt``, so that no
  ``except Exception`` swallows it) so that every ``finally`` runs: the worker pool's reaping
  included. Without it the default action ended the process at once and left its workers."""


def _sigterm_handler(owner: int):
  def on_sigterm(signum, frame):
    if os.getpid() != owner:  # a forked child that inherited the handler: end as SIG_DFL would
      signal.signal(signal.SIGTERM, signal.SIG_DFL)
      os.kill(os.getpid(), signal.SIGTERM)
      return
    raise Terminated()
  return on_sigterm


def main(argv=None) -> int:
  """Runs one command; returns its exit status (see :data:`EPILOG`). Ctrl-C ends the run with one
  line and status 130, SIGTERM with one line and status 143 (run_claims has killed and reaped its
  worker processes by then, in both cases)."""
  import threading
  previous = None
  if threading.current_thread() is threading.main_thread():
    previous = signal.signal(signal.SIGTERM, _sigterm_handler(os.getpid()))
  try:
    args = build_parser().parse_args(argv)
    if _env_set("JAX_ENABLE_X64"):  # honoured, not overridden by setup_jax: the same as --x64
      args.x64 = True
    return COMMANDS[args.command](args)
  except KeyboardInterrupt:
    print("gdm-jax: interrupted", file=sys.stderr)
    return 130
  except Terminated:
    print("gdm-jax: terminated", file=sys.stderr)
    return 143
  finally:
    if previous is not None:
      signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
  sys.exit(main())
