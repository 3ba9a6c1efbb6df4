"""The pytest plugin (gdm_jax.pytest_plugin): gdm_key, @pytest.mark.stochastic(rate=...) and
--gdm-vary-seed N, run in pytest subprocesses as a user runs them (issue 24)."""
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import jax
import numpy as np

from gdm_jax.problems import claim_key
from gdm_jax.pytest_plugin import base_id

ROOT = Path(__file__).resolve().parents[1]


def _pytest(*argv, cwd=ROOT):
  """pytest in a subprocess with this source tree's gdm_jax first on the path (from any cwd)."""
  env = {**os.environ, "PYTHONPATH": os.pathsep.join(
      [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
  return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p",
                         "gdm_jax.pytest_plugin", *argv], capture_output=True, text=True,
                        cwd=cwd, env=env, timeout=300)


def test_the_entry_point_is_declared():
  doc = tomllib.loads((ROOT / "pyproject.toml").read_text())
  eps = doc["project"]["entry-points"]["pytest11"]
  assert eps == {"gdm_jax.pytest_plugin": "gdm_jax.pytest_plugin"}


def test_vary_seed_reports_the_homework_s_rates_with_intervals():
  # -p and the folder's conftest both name the plugin: it loads once.
  p = _pytest("--gdm-vary-seed", "5", "examples/homework", "-q")
  assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
  lines = [ln for ln in p.stdout.splitlines() if "95% CI [" in ln]
  assert len(lines) == 2, p.stdout[-3000:]
  assert all("/5 " in ln and "consistent with its declared rate" in ln for ln in lines)
  assert any("test_elbo_draws_have_the_closed_form_mean" in ln and "0.05" in ln for ln in lines)


USER_TESTS = '''
import jax
import pytest

@pytest.mark.stochastic(rate=0.01)
def test_always_fails(gdm_key):
  assert False, "a test that fails more often than it declares"

@pytest.mark.stochastic(rate=0.5)
def test_records_its_key(gdm_key):
  print("KEY", jax.random.key_data(gdm_key).tolist())

@pytest.mark.stochastic(rate=0.5)
def test_crashes_are_errors_not_counts(gdm_key):
  raise ValueError("a crash")
'''


def test_an_inconsistent_rate_fails_the_session_and_keys_follow_the_seed(tmp_path):
  (tmp_path / "test_user.py").write_text(USER_TESTS)
  p = _pytest("--gdm-vary-seed", "4", "--gdm-seed", "7", "-s", "-q", "--rootdir", str(tmp_path),
              str(tmp_path), cwd=tmp_path)
  assert p.returncode == 1, p.stdout[-3000:] + p.stderr[-3000:]
  row = next(ln for ln in p.stdout.splitlines() if "test_always_fails " in ln)
  assert "4/4" in row and "rate 1.000" in row
  assert "ABOVE its declared rate 0.01" in p.stdout and "the session fails" in p.stdout
  assert "4 failed at its seed" in p.stdout  # counted, not reported as failures
  assert "4 failed," in p.stdout and "test_crashes_are_errors_not_counts[gdm-seed=7]" in p.stdout
  assert not any("test_crashes" in ln for ln in p.stdout.splitlines() if "95% CI" in ln)
  keys = [eval(ln.split("KEY", 1)[1]) for ln in p.stdout.splitlines() if "KEY [" in ln]
  want = [np.asarray(jax.random.key_data(claim_key(s, "test_user.py::test_records_its_key")))
          .tolist() for s in range(7, 11)]
  assert keys == want  # seeds 7..10, the key from the test id without its seed


def test_a_stochastic_mark_without_a_rate_is_refused(tmp_path):
  (tmp_path / "test_norate.py").write_text(
      "import pytest\n\n@pytest.mark.stochastic\ndef test_x():\n  pass\n")
  p = _pytest("-q", "--rootdir", str(tmp_path), str(tmp_path), cwd=tmp_path)
  assert p.returncode != 0
  assert "needs its false-failure rate in (0, 1)" in p.stdout + p.stderr


def test_base_id_drops_only_the_seed():
  assert base_id("t.py::f[gdm-seed=3]") == "t.py::f"
  assert base_id("t.py::f[a-gdm-seed=12]") == "t.py::f[a]"
  assert base_id("t.py::f[gdm-seed=3-b]") == "t.py::f[b]"
  assert base_id("t.py::f[x]") == "t.py::f[x]"
