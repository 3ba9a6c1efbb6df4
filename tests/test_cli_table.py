"""The verdict table as a user reads it: at 80 and 120 columns (rich honours COLUMNS, also when
stdout is a pipe) no line is wider than the terminal, no claim id is broken across lines, there
is a section per question, and a claim with an unexpected verdict is printed in full below the
table. The registry's own ids and statements are used, with fake evidence (fast: no jax work)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gdm_jax import claims

ROOT = Path(__file__).resolve().parents[1]

TOY = """
import sys
from gdm_jax import claims, cli
from gdm_jax.claims.core import Claim, Evidence
def fake(kind):
  def check(key, cfg):
    if kind == "erratum":
      return Evidence(2.506628, 1.0, 2e-5, "==", "float32 rtol 2e-05 x max(1,|ref|)", effect=1.5,
                      effect_what="the written density's error")
    return Evidence(-1.788e-07, 0.0, 0.004868722, ">=", "z=5.85 x SE (two-sided, "
                    "false-failure rate 5.0e-09)", detects=0.004, effect=0.4,
                    effect_what="the log|det J| term (relative), largest over K")
  return check
def broken(key, cfg):
  return Evidence(3.0, 0.0, 1e-3, "==", "exact", detail=DETAIL)
DETAIL = ("the measured gap exceeds its tolerance by a wide margin at every K that was tried\\n"
          "second line of the detail: K=1 gap 3.0, K=8 gap 2.9, K=64 gap 2.8 (none shrinking)")
TOYS = [Claim(c.id, c.question, c.kind, c.statement, fake(c.kind)) for c in claims.REGISTRY]
TOYS.append(Claim("q7.broken_on_purpose", "Q7", "theorem",
                  "a statement long enough to wrap at eighty columns: JSD(p||q) = log 2 whenever "
                  "the supports are disjoint, for every pair of distributions", broken))
claims.select = lambda pattern: TOYS
sys.exit(cli.main(sys.argv[1:]))
"""


def _verify(tmp_path, columns, *flags):
  env = {**os.environ, "COLUMNS": str(columns), "XDG_CACHE_HOME": str(tmp_path / "cache")}
  env.pop("JAX_ENABLE_X64", None)
  proc = subprocess.run([sys.executable, "-c", TOY, "verify", "--workers", "1", *flags],
                        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
  assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]  # the broken claim
  return proc.stdout


def _check_layout(out, columns):
  lines = out.splitlines()
  too_wide = [line for line in lines if len(line) > columns]
  assert not too_wide, too_wide[:3]
  for c in claims.REGISTRY + [type("C", (), {"id": "q7.broken_on_purpose"})]:
    whole = re.compile(rf"(?<![\w.]){re.escape(c.id)}(?![\w.])")
    assert any(whole.search(line) for line in lines), f"{c.id} is broken across lines"
  for q in sorted({c.id.split(".")[0] for c in claims.REGISTRY}):
    assert any(line.startswith(q.upper() + " ") for line in lines), f"no section row for {q}"
  flat = " ".join(out.split())
  assert "1 unexpected verdict:" in flat  # only the broken claim
  # The unexpected verdict below the table: statement and every line of the detail, in full.
  assert "q7.broken_on_purpose: holds, expected holds" not in flat
  assert "q7.broken_on_purpose: refuted, expected holds" in flat
  assert ("a statement long enough to wrap at eighty columns: JSD(p||q) = log 2 whenever the "
          "supports are disjoint, for every pair of distributions") in flat
  assert "exceeds its tolerance by a wide margin at every K that was tried" in flat
  assert "K=1 gap 3.0, K=8 gap 2.9, K=64 gap 2.8 (none shrinking)" in flat
  return lines


@pytest.mark.parametrize("columns", [80, 120])
def test_compact_table_fits_the_terminal_with_ids_whole(tmp_path, columns):
  out = _verify(tmp_path, columns)
  lines = _check_layout(out, columns)
  header = next(line for line in lines if line.startswith("claim"))
  assert header.split() == ["claim", "measured", "reference", "verdict"]
  row = next(line for line in lines if line.startswith("q2.amortisation_gap_vanishes"))
  assert row.split() == ["q2.amortisation_gap_vanishes", "-1.788e-07", ">=", "0", "holds",
                         "\u2713"]
  assert "statement" not in header and "Eq. (1)" not in out.split("unexpected verdict")[0]


@pytest.mark.parametrize("columns", [80, 120])
def test_wide_table_shows_statements_origins_detects_and_effect(tmp_path, columns):
  out = _verify(tmp_path, columns, "--wide")
  lines = _check_layout(out, columns)
  header = next(line for line in lines if line.startswith("claim"))
  assert header.split() == ["claim", "statement", "and", "evidence", "verdict"]
  a, b = header.index("statement"), header.index("verdict")  # the middle column's text
  flat = " ".join(" ".join(line[a:b] for line in lines).split())
  for c in claims.REGISTRY:
    assert " ".join(c.statement.split()) in flat
  assert "z=5.85 x SE (two-sided, false-failure rate 5.0e-09)" in flat
  assert "detects 0.004; effect 0.4 (the log|det J| term (relative), largest over K)" in flat
