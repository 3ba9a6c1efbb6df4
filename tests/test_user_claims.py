"""Users' own claims through the same machinery: the authoring API, `--claims` on verify, report,
seeds and mutate, their Bonferroni family, and the errors a bad claim file gets (issue 24).

The CLI runs in subprocesses (it configures jax's precision for the whole process); the loader and
the designs run here. Each subprocess takes a few seconds, so each path is run once.
"""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gdm_jax import claims, stats
from gdm_jax.claims import (ClaimFileError, Claim, Config, Evidence, dtype_close, load_claims,
                            mean_test, own_family, quadrature, run_claims, samples_for)
from gdm_jax.claims.core import n_stochastic

ROOT = Path(__file__).resolve().parents[1]


def _cli(*argv, cwd=ROOT, env=None):
  return subprocess.run([sys.executable, "-m", "gdm_jax.cli", *argv], capture_output=True,
                        text=True, cwd=cwd, env=env, timeout=300)


# A claim file as a user writes it, outside the repository: Gauss's sum, right or wrong.
MY_CLAIMS = """\
import jax.numpy as jnp
from gdm_jax.claims import Claim, Config, dtype_close

def check(key, cfg: Config):
  n = 1000
  got = jnp.sum(jnp.arange(1, n + 1, dtype=cfg.dtype))
  return dtype_close(got, {formula}, cfg, effect=0.5, effect_what="n, relative to the sum")

CLAIMS = [Claim("mine.gauss_sum", "G1", "theorem", "1 + ... + n = n(n+1)/2", check)]
"""


# ---------------------------------------------------------------------------------------------
# The CLI, end to end.

def test_verify_the_homework_exits_0_with_the_table_and_json(tmp_path):
  out = tmp_path / "v.json"
  p = _cli("verify", "--claims", "examples/homework", "--json", str(out))
  assert p.returncode == 0, p.stdout + p.stderr
  assert "hw1.written_gap_is_reverse_kl" in p.stdout and "3/3 as expected" in p.stdout
  doc = json.loads(out.read_text())
  rows = {c["id"]: c for c in doc["claims"]}
  assert set(rows) == {"hw1.kl_closed_form", "hw1.written_gap_is_reverse_kl", "hw1.elbo_unbiased"}
  assert all(c["ok"] for c in rows.values())
  assert rows["hw1.written_gap_is_reverse_kl"]["verdict"] == "refuted"
  mc = rows["hw1.elbo_unbiased"]  # the user's only Monte Carlo claim: the whole family rate
  assert "false-failure rate 1.0e-06" in mc["origin"] and mc["detects"] < mc["effect"]


def test_a_claim_file_outside_the_repo_runs_and_a_wrong_claim_flips_the_exit(tmp_path):
  f = tmp_path / "my_claims.py"
  f.write_text(MY_CLAIMS.format(formula="n * (n + 1) / 2"))
  ok = _cli("verify", "--claims", str(f))
  assert ok.returncode == 0 and "mine.gauss_sum" in ok.stdout, ok.stdout + ok.stderr
  f.write_text(MY_CLAIMS.format(formula="n * (n - 1) / 2"))  # the edited, wrong statement
  bad = _cli("verify", "--claims", str(f), "--wide")
  assert bad.returncode == 1 and "refuted" in bad.stdout, bad.stdout + bad.stderr
  # the same file as a dotted module on the user's path, beside one shipped claim
  env = {**os.environ, "PYTHONPATH": str(tmp_path)}
  f.write_text(MY_CLAIMS.format(formula="n * (n + 1) / 2"))
  both = _cli("verify", "--claims", "my_claims", "--with-builtin", "--only",
              "mine.*,q1.diag_affine_density", env=env)
  assert both.returncode == 0, both.stdout + both.stderr
  assert "mine.gauss_sum" in both.stdout and "q1.diag_affine_density" in both.stdout
  assert "2/2 as expected" in both.stdout


BAD_FILES = {
    "import_error.py": "import a_module_that_is_not_there\n",
    "syntax_claims.py": "def f(:\n",
    "no_claims_here.py": "X = 1\n",
    "dup_claims.py": ("from gdm_jax.claims import Claim, Evidence\n"
                      "c = Claim('d.x', 'D', 'theorem', 's', lambda k, cfg: Evidence(0, 0, 1, "
                      "'==', 'o'))\nCLAIMS = [c, c]\n"),
    "not_a_claim.py": "CLAIMS = ['q1.x']\n",
}


def test_bad_claim_files_exit_2_with_one_line(tmp_path):
  f = tmp_path / "import_error.py"
  f.write_text(BAD_FILES["import_error.py"])
  p = _cli("verify", "--claims", str(f))
  assert p.returncode == 2 and p.stdout == "", p.stdout + p.stderr
  assert p.stderr.count("\n") == 1 and "import_error.py: fails to import" in p.stderr
  clash = tmp_path / "clash.py"
  clash.write_text("from gdm_jax.claims import Claim, Evidence\nCLAIMS = [Claim("
                   "'q1.diag_affine_density', 'Q', 'theorem', 's', lambda k, c: Evidence(0, 0, "
                   "1, '==', 'o'))]\n")
  p = _cli("verify", "--claims", str(clash), "--with-builtin")
  assert p.returncode == 2 and p.stderr.count("\n") == 1, p.stderr
  assert "'q1.diag_affine_density' is defined twice" in p.stderr
  p = _cli("verify", "--with-builtin")
  assert p.returncode == 2 and "--with-builtin needs --claims" in p.stderr


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_the_loader_refuses_a_bad_file_in_one_line(tmp_path, monkeypatch, name):
  monkeypatch.setattr(sys, "path", list(sys.path))
  f = tmp_path / name
  f.write_text(BAD_FILES[name])
  with pytest.raises(ClaimFileError) as e:
    load_claims([str(f)])
  msg = str(e.value)
  assert "\n" not in msg and str(f) in msg
  want = {"import_error.py": "fails to import: ModuleNotFoundError",
          "syntax_claims.py": "fails to import: SyntaxError", "no_claims_here.py": "no CLAIMS",
          "dup_claims.py": "'d.x' is defined twice", "not_a_claim.py": "CLAIMS[0] is a str"}
  assert want[name] in msg


def test_the_loader_reads_a_folder_s_claim_files_only(tmp_path, monkeypatch):
  monkeypatch.setattr(sys, "path", list(sys.path))
  with pytest.raises(ClaimFileError, match="no claim file"):
    load_claims([str(tmp_path)])
  (tmp_path / "helper.py").write_text("raise RuntimeError('never imported')\n")
  (tmp_path / "claims_folder_test.py").write_text(MY_CLAIMS.format(formula="n * (n + 1) / 2"))
  got = load_claims([str(tmp_path)])
  assert [c.id for c in got] == ["mine.gauss_sum"]
  with pytest.raises(ClaimFileError, match="no such file"):
    load_claims([str(tmp_path / "missing.py")])


def test_mutate_per_claim_and_seeds_with_the_user_s_claims_and_mistakes():
  p = _cli("mutate", "--per-claim", "--claims", "examples/homework", "--mutations",
           "examples/homework")
  assert p.returncode == 0, p.stdout + p.stderr
  assert "4/4 pairs flip by verdict" in p.stdout
  assert "hw1.written_gap_is_reverse_kl" in p.stdout and "kl_arguments_swapped" in p.stdout
  p = _cli("mutate", "--claims", "examples/homework")
  assert p.returncode == 2 and "needs --mutations" in p.stderr
  p = _cli("seeds", "--claims", "examples/homework", "--n", "3", "--rate", "0.05")
  assert p.returncode == 0, p.stdout + p.stderr
  assert "hw1.elbo_unbiased" in p.stdout and "95% CI" in p.stdout


def test_report_with_the_user_s_claims(tmp_path):
  (tmp_path / "figures").mkdir()
  (tmp_path / "figures" / "placeholder.png").write_bytes(b"")
  p = _cli("report", "--claims", "examples/homework", "--skip-experiments", "--out", str(tmp_path))
  assert p.returncode == 0, p.stdout + p.stderr
  md = (tmp_path / "report.md").read_text()
  assert "hw1.elbo_unbiased" in md and "q1.diag_affine_density" not in md


def test_the_readme_s_claim_file_runs_as_written(tmp_path):
  readme = (ROOT / "README.md").read_text().split("## Your own claims", 1)[1]
  (tmp_path / "my_claims.py").write_text(readme.split("```python\n", 1)[1].split("```", 1)[0])
  (tmp_path / "mycode.py").write_text(
      "import jax\nimport jax.numpy as jnp\n\ndef normal_entropy(s):\n"
      "  return 0.5 * jnp.log(2 * jnp.pi * jnp.e) + jnp.log(s)\n\ndef sample(key, n):\n"
      "  return jax.random.normal(key, (n,))\n")
  p = _cli("verify", "--claims", str(tmp_path / "my_claims.py"))
  assert p.returncode == 0 and "2/2 as expected" in p.stdout, p.stdout + p.stderr


# ---------------------------------------------------------------------------------------------
# The Bonferroni family of a user's claims.

def _rate_claim(cid, seen):
  def check(key, cfg):
    seen[cid] = cfg.rate
    return Evidence(0.0, 0.0, 1.0, "==", "test", detects=0.1)
  return Claim(cid, "U", "theorem", "records its rate", check, stochastic=True)


def test_a_user_s_monte_carlo_claims_split_the_rate_among_themselves():
  seen = {}
  mine = own_family([_rate_claim(f"u.{i}", seen) for i in range(4)])
  assert n_stochastic(mine) == n_stochastic()  # not counted with the registry's
  results = run_claims(mine[:1], Config())       # a selection keeps the family's split
  assert results[0].ok
  assert seen["u.0"] == pytest.approx(stats.FAMILY_RATE / 4)
  n_reg = sum(c.stochastic for c in claims.REGISTRY)
  assert n_stochastic() == n_reg
  plain = [_rate_claim("u.plain", seen)]     # unregistered, not a family: counted with the registry
  run_claims(plain, Config())
  assert seen["u.plain"] == pytest.approx(stats.FAMILY_RATE / (n_reg + 1))


# ---------------------------------------------------------------------------------------------
# The designs of the authoring API, against closed forms.

def test_quadrature_states_its_error():
  q = quadrature(lambda x: np.exp(-0.5 * x * x), -12.0, 12.0, 2001)
  assert abs(q.value - math.sqrt(2 * math.pi)) < 1e-12
  rough = quadrature(lambda x: x ** 2, 0.0, 1.0, 5)  # the trapezoid's error is h^2/6 = 1/96
  assert abs(rough.value - 1 / 3) <= rough.error and "|I_h - I_2h|" in rough.origin
  for bad in ({"nodes": 4}, {"nodes": 3}, {"lo": 1.0, "hi": 0.0}):
    kw = {"f": np.sin, "lo": 0.0, "hi": 1.0, "nodes": 5, **bad}
    with pytest.raises(ValueError):
      quadrature(**kw)


def test_dtype_close_and_mean_test_read_as_their_design():
  cfg = Config(n_stochastic=10)
  ev = dtype_close(np.array([1.0, 2.0 + 3e-5]), np.array([1.0, 2.0]), cfg, effect=0.5)
  assert ev.measured == pytest.approx(1.5e-5) and ev.tolerance == cfg.rtol and ev.holds
  assert not dtype_close(1.0 + 1e-4, 1.0, cfg).holds
  x = np.random.default_rng(0).normal(0.3, 2.0, 400)
  se = np.std(x, ddof=1) / 20
  ev = mean_test(x, 0.3, cfg, effect=5.0)
  c = stats.z_for_rate(stats.FAMILY_RATE / 10)
  assert ev.tolerance == pytest.approx(c * se) and ev.detects == pytest.approx(cfg.detects(se, 400))
  assert ev.holds and ev.problem() is None
  le = mean_test(x, 0.3, cfg, relation="<=")
  assert le.tolerance == pytest.approx(stats.z_for_rate(stats.FAMILY_RATE / 10, False) * se)
  assert mean_test(x, 0.3, cfg, effect=1e-3).problem().startswith("underpowered")
  with pytest.raises(ValueError, match="relation"):
    mean_test(x, 0.3, cfg, relation="<")
  with pytest.raises(ValueError, match="NaN"):
    mean_test([1.0, float("nan")], 0.0, cfg)
  n = samples_for(0.2, 1.0, cfg)
  assert cfg.detects(1.0 / math.sqrt(n), n) <= 0.1 + 1e-12  # detects ~ effect / 2


def test_the_authoring_api_is_importable_from_gdm_jax_claims():
  import gdm_jax.claims as api
  for name in ("Claim", "Config", "Evidence", "dtype_close", "quadrature", "mean_test",
               "samples_for", "own_family", "load_claims", "load_mutations", "ClaimFileError"):
    assert name in api.__all__ and hasattr(api, name)
  cfg = Config()
  assert callable(cfg.z) and callable(cfg.detects) and cfg.rtol == api.DTYPE_RTOL["float32"]
  assert (ROOT / "gdm_jax" / "py.typed").exists()

