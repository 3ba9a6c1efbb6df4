"""Shared benchmark plumbing: environment row, timing, JSON and RESULTS.md output."""
import datetime
import json
import os
import platform
import time
from pathlib import Path

import jax

jax.config.update("jax_threefry_partitionable", False)
HERE = Path(__file__).parent


def machine() -> dict:
  dev = jax.devices()[0]
  return {"machine": f"{platform.machine()} {os.cpu_count()} cores",
          "device": getattr(dev, "device_kind", str(dev)), "backend": jax.default_backend(),
          "jax": jax.__version__,
          "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")}


def timeit(f, *args, repeats: int = 5):
  """(compile+first-run seconds, best warm seconds) of a jitted ``f``."""
  t0 = time.perf_counter()
  jax.block_until_ready(f(*args))
  first = time.perf_counter() - t0
  best = float("inf")
  for _ in range(repeats):
    t0 = time.perf_counter()
    jax.block_until_ready(f(*args))
    best = min(best, time.perf_counter() - t0)
  return first, best


def out_dir() -> Path:
  """Where results go: ``$GDM_BENCH_OUT`` when set (smoke runs write outside the tree), else
  this folder (``results/NAME.json`` and ``RESULTS.md``)."""
  return Path(os.environ.get("GDM_BENCH_OUT") or HERE)


def record(name: str, payload: dict, summary: str) -> None:
  """Writes ``results/NAME.json`` and appends a row to RESULTS.md (under :func:`out_dir`)."""
  env = machine()
  base = out_dir()
  (base / "results").mkdir(parents=True, exist_ok=True)
  (base / "results" / f"{name}.json").write_text(json.dumps({"env": env, **payload}, indent=2))
  line = (f"| {env['date']} | {name} | {env['machine']} / {env['device']} ({env['backend']}), jax "
          f"{env['jax']} | {summary} |\n")
  res = base / "RESULTS.md"
  if not res.exists():
    res.write_text("# Benchmark results\n\nOne row per run of `python benchmarks/NAME.py`; the "
                   "JSON in `results/` has every number.\n\n| date | benchmark | machine | "
                   "result |\n|---|---|---|---|\n")
  with open(res, "a") as f:
    f.write(line)
  print(summary)
