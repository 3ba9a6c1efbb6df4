"""Failures are loud and results are never lost: per-claim time limits, Ctrl-C, unwritable cache
folders, bracketed text, flag validation. Toy claims (unregistered, run through `cli.main` in a
subprocess with `claims.select` patched) keep these fast."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gdm_jax.claims.core import Claim, Config, Evidence, run_claims

ROOT = Path(__file__).resolve().parents[1]


def _ok(key, cfg):
  return Evidence(1.0, 1.0, 0.0, "==", "x")


def _sleeps(key, cfg):
  time.sleep(30)
  return _ok(key, cfg)


def test_in_process_claim_past_its_time_limit_is_an_error():
  cs = [Claim("t.slow", "T", "theorem", "s", _sleeps), Claim("t.ok", "T", "theorem", "s", _ok)]
  t0 = time.monotonic()
  slow, ok = run_claims(cs, Config(), timeout=0.5)
  assert time.monotonic() - t0 < 10
  assert slow.verdict == "error" and "timed out" in slow.evidence.detail and not slow.ok
  assert ok.verdict == "holds"  # the next claim runs as usual


FORKED = """
import os, sys, time
from gdm_jax.claims.core import Claim, Config, Evidence, run_claims, _fork_is_safe
def ok(key, cfg): return Evidence(1.0, 1.0, 0.0, "==", "x")
def slow(key, cfg):
  time.sleep(60)
  return ok(key, cfg)
def dies(key, cfg): os._exit(3)
# t.slow and t.after share a setup (one unit): t.after still runs after t.slow's worker is killed.
cs = [Claim("t.slow", "T", "theorem", "s", slow, shares="g"),
      Claim("t.after", "T", "theorem", "s", ok, shares="g"),
      Claim("t.dies", "T", "theorem", "s", dies), Claim("t.ok", "T", "theorem", "s", ok)]
assert _fork_is_safe()
for r in run_claims(cs, Config(), workers=2, timeout=1.0):
  print(r.claim.id, r.verdict, r.evidence.detail, sep="|")
"""


def test_forked_claim_past_its_time_limit_is_killed_and_the_run_goes_on():
  t0 = time.monotonic()
  proc = subprocess.run([sys.executable, "-c", FORKED], capture_output=True, text=True, cwd=ROOT,
                        timeout=120)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert time.monotonic() - t0 < 30
  rows = {r.split("|")[0]: r.split("|")[1:] for r in proc.stdout.splitlines()}
  assert rows["t.slow"][0] == "error" and "timed out" in rows["t.slow"][1]
  assert "worker process was killed" in rows["t.slow"][1]
  assert rows["t.dies"] == ["error", "worker process died (exit code 3)"]
  assert rows["t.after"][0] == rows["t.ok"][0] == "holds"
