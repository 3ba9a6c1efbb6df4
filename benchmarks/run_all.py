"""Runs every benchmark in turn (each appends a row to RESULTS.md)."""
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
for s in ["lk_peers.py", "memory_large_k.py", "roofline.py", "variance_sweep.py",
          "verify_time.py"]:
  print(f"== {s}", flush=True)
  subprocess.run([sys.executable, str(HERE / s)], check=True, cwd=HERE)
