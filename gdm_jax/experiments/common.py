"""Shared plumbing for the experiments: the command line, output folder, tables, figures."""
from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402,F401


def parse(description: str, argv=None, steps: bool = False) -> argparse.Namespace:
  """The experiments' flags (--out, --quick, --seed, and --steps N where ``steps``); configures
  jax's PRNG as the CLI does."""
  p = argparse.ArgumentParser(description=description)
  p.add_argument("--out", default=os.environ.get("GDM_JAX_OUT", "out/experiments"))
  p.add_argument("--quick", action="store_true", help="a shrunken configuration (smoke runs)")
  from gdm_jax.problems import MAX_SEED, parse_seed

  def seed(text):
    try:
      return parse_seed(text)
    except ValueError as e:
      raise argparse.ArgumentTypeError(str(e)) from None
  p.add_argument("--seed", type=seed, default=0, help=f"PRNG seed, 0 to {MAX_SEED}")
  if steps:
    p.add_argument("--steps", type=int, default=None,
                   help="optimisation steps (default: the configuration's; scale it up on an "
                        "accelerator)")
  args = p.parse_args(argv)
  if steps and args.steps is not None and args.steps < 1:
    p.error(f"--steps must be >= 1; got {args.steps}")
  import jax
  jax.config.update("jax_threefry_partitionable", False)
  return args


def main(run, description: str, argv=None, steps: bool = False) -> None:
  """An experiment's command line: parse the flags, then ``run(out, quick, seed)`` (with
  ``steps=N`` too when ``steps`` is set: the experiment takes ``--steps N``)."""
  args = parse(description, argv, steps)
  if steps:
    run(args.out, args.quick, args.seed, steps=args.steps)
  else:
    run(args.out, args.quick, args.seed)


def out_dir(out) -> Path:
  out = Path(out)
  out.mkdir(parents=True, exist_ok=True)
  return out


def write_table(out, name: str, header, rows) -> str:
  """Writes ``name.csv`` (read by the report) and ``name.md``; returns the markdown."""
  with open(Path(out) / f"{name}.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(header)
    w.writerows(rows)
  fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)
  md = "| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n"
  md += "".join("| " + " | ".join(fmt(v) for v in r) + " |\n" for r in rows)
  (Path(out) / f"{name}.md").write_text(md)
  return md


def save(fig, out, name: str) -> None:
  fig.tight_layout()
  fig.savefig(Path(out) / f"{name}.png", dpi=90)
  plt.close(fig)
