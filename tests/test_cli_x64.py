"""`gdm-jax verify --x64` end to end, in its own file so that it runs beside the float32 run
(tests/test_cli.py) on the other test process.

float64 is where a claim's dtype handling shows: its tolerance drops from 2e-5 to 1e-10, so a
function that computes in float32 inside (a hard-coded dtype, a float32 constant) fails there and
nowhere else. For the suite's time budget (two cores, under six minutes) this run covers the
cheap claims of Q1 (change of variables) and Q7 (JSD, W1), the errata included; the math modules' unit tests run in float64 throughout (tests/conftest.py enables it and
each test picks its dtype), and `make verify-x64` runs every claim (102/102 hold, 2026-12-04; CI
runs it after `make test`).
"""
import json
import subprocess
import sys
from pathlib import Path

from gdm_jax import claims

ROOT = Path(__file__).resolve().parents[1]
#: Twelve claims, about 9 s together in float64 (cold, 2 cores, 2026-11-26).
SELECTION = "q1.written_*,q1.affine_moments,q1.nonlinear_1d,q7.*"


def test_closed_form_claims_hold_in_float64(tmp_path):
  out = tmp_path / "v64.json"
  proc = subprocess.run([sys.executable, "-m", "gdm_jax.cli", "verify", "--x64", "--json",
                         str(out), "--only", SELECTION], capture_output=True, text=True,
                        cwd=ROOT)
  doc = json.loads(out.read_text())
  bad = [(c["id"], c["verdict"], c["detail"]) for c in doc["claims"] if not c["ok"]]
  assert proc.returncode == 0 and not bad, (bad, proc.stdout[-3000:], proc.stderr[-3000:])
  assert doc["environment"]["x64"] is True
  assert len(doc["claims"]) == len(claims.select(SELECTION)) >= 10
  assert any(c["kind"] == "erratum" for c in doc["claims"])
  assert any("float64" in c["origin"] for c in doc["claims"])
