"""The report's experiments: one module per experiment, each with ``run(out, quick, seed)`` (writes
its figures ``*.png`` and tables ``*.csv``/``*.md`` into ``out``) and ``main(argv)`` (the command
line: ``python -m gdm_jax.experiments.q7_jsd --quick --out DIR``). They ship with the package, so
an installed ``gdm-jax report`` finds them; ``experiments/*.py`` in the source tree are thin
wrappers. Plotting needs matplotlib (``pip install 'gdm-jax[plots]'``).

Importing this package imports neither jax nor matplotlib.
"""
from __future__ import annotations

import fnmatch
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

#: Every experiment, in report order (module names in this package).
EXPERIMENTS = ("q2_amortised", "q3_iwae", "q4_masks", "q5_discriminator", "q6_critics", "q7_jsd",
               "mi_bounds", "vae_digits")


def select(pattern: str | None = None) -> list[str]:
  """The experiments whose name matches a glob (comma-separated globs: the union; None: all).
  A glob that matches none is a ``ValueError`` naming the experiments there are."""
  if not pattern:
    return list(EXPERIMENTS)
  pats = [p.strip() for p in pattern.split(",") if p.strip()]
  unmatched = [p for p in pats if not fnmatch.filter(EXPERIMENTS, p)]
  if unmatched or not pats:
    raise ValueError(f"`{pattern}` matches no experiment; there are {', '.join(EXPERIMENTS)}")
  return [e for e in EXPERIMENTS if any(fnmatch.fnmatch(e, p) for p in pats)]


class ExperimentRun(NamedTuple):
  """How one experiment went: its exit code, wall time, the files it wrote and its stderr."""
  name: str
  returncode: int
  seconds: float
  files: tuple[str, ...]   # names of the files it wrote into the output folder
  stderr: str              # in full (a failure's traceback is at its end)

  @property
  def ok(self) -> bool:
    return self.returncode == 0


def _package_root() -> str:
  return str(Path(__file__).resolve().parents[2])


def run_each(out: Path, quick: bool = False, seed: int = 0,
             names: Sequence[str] = EXPERIMENTS,
             progress: Callable[[str], None] | None = None) -> list[ExperimentRun]:
  """Runs each experiment in its own process (``python -m gdm_jax.experiments.<name>``), one after
  the other, and returns how each went. ``progress`` gets one line as each starts and one as it
  ends, with its time (and, for a failure, the end of its stderr).

  The processes import this very ``gdm_jax`` (its folder leads ``PYTHONPATH``; on Python >= 3.11
  ``-P`` keeps the working folder out of ``sys.path``), so an installed package and a source tree
  each run their own experiments.
  """
  out = Path(out)
  out.mkdir(parents=True, exist_ok=True)
  say = progress or (lambda line: None)
  env = dict(os.environ)
  env["PYTHONPATH"] = os.pathsep.join(p for p in (_package_root(), env.get("PYTHONPATH")) if p)
  flags = ["-P"] if sys.version_info >= (3, 11) else []
  runs = []
  for i, name in enumerate(names, 1):
    tag = f"[{i}/{len(names)}] {name}"
    say(f"{tag} ...")
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    cmd = [sys.executable, *flags, "-m", f"{__name__}.{name}", "--out", str(out),
           "--seed", str(seed)] + (["--quick"] if quick else [])
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    files = tuple(sorted(p.name for p in out.iterdir()
                         if before.get(p.name) != p.stat().st_mtime_ns))
    run = ExperimentRun(name, proc.returncode, dt, files, proc.stderr)
    runs.append(run)
    if run.ok:
      figs = [f for f in files if f.endswith(".png")]
      say(f"{tag} done in {dt:.1f} s ({len(figs)} figure{'s' if len(figs) != 1 else ''}: "
          f"{', '.join(figs) or '-'})")
    else:
      tail = "\n".join("      " + line for line in proc.stderr.strip().splitlines()[-15:])
      say(f"{tag} FAILED in {dt:.1f} s (exit code {proc.returncode}); the end of its stderr:\n"
          f"{tail}")
  return runs
