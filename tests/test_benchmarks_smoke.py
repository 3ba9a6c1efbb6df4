"""The accelerator benchmark script runs end to end on this CPU at its smoke settings: every
benchmark writes its JSON and one RESULTS.md row naming the device (so a session lent a GPU can
run ``make bench-accelerator`` once and record the figures). No GPU is needed."""
import json
import os
import subprocess
import sys
from pathlib import Path

import jax

ROOT = Path(__file__).resolve().parents[1]


def test_accelerator_script_smoke(tmp_path):
  sys.path.insert(0, str(ROOT / "benchmarks"))
  try:
    import run_all
  finally:
    sys.path.pop(0)
  env = {**os.environ, "GDM_BENCH_OUT": str(tmp_path), "PYTHON": sys.executable,
         "XDG_CACHE_HOME": str(tmp_path / "cache")}
  p = subprocess.run(["bash", str(ROOT / "benchmarks" / "accelerator.sh"), "--smoke"], env=env,
                     capture_output=True, text=True, timeout=600)
  assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-4000:]
  for name in run_all.BENCHMARKS:
    payload = json.loads((tmp_path / "results" / f"{name}_smoke.json").read_text())
    assert payload["env"]["backend"] == jax.default_backend()
  rows = [r for r in (tmp_path / "RESULTS.md").read_text().splitlines()
          if r.startswith("| 20")]
  assert len(rows) == len(run_all.BENCHMARKS)
  kind = getattr(jax.devices()[0], "device_kind", "")
  assert all(kind in r for r in rows)
  assert not (ROOT / "benchmarks" / "results" / "lk_neural_smoke.json").exists()
