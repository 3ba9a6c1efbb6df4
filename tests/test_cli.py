"""The verify command end to end (each precision in its own process), the README table, verdicts."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gdm_jax import claims
from gdm_jax.claims.core import Claim, Config, Evidence, run_claims

ROOT = Path(__file__).resolve().parents[1]


def _verify(tmp_path_factory, *flags):
  out = tmp_path_factory.mktemp("verify") / "v.json"
  proc = subprocess.run([sys.executable, "-m", "gdm_jax.cli", "verify", "--json", str(out),
                         *flags], capture_output=True, text=True, cwd=ROOT)
  return proc, json.loads(out.read_text()) if out.exists() else None


@pytest.fixture(scope="module")
def run32(tmp_path_factory):
  return _verify(tmp_path_factory)


def test_every_theorem_holds_and_every_erratum_is_refuted(run32):
  proc, doc = run32
  bad = [(c["id"], c["verdict"], c["detail"]) for c in doc["claims"] if not c["ok"]]
  assert proc.returncode == 0 and not bad, (bad, proc.stdout[-3000:], proc.stderr[-3000:])
  assert doc["environment"]["x64"] is False
  assert len(doc["claims"]) == len(claims.REGISTRY)
  for c in doc["claims"]:
    assert set(c) >= {"id", "question", "kind", "statement", "measured", "reference",
                      "tolerance", "verdict"}
    assert c["origin"]  # every tolerance says where it comes from


def test_readme_table_is_in_sync(run32):
  _, doc = run32
  text = (ROOT / "README.md").read_text()
  block = text.split("<!-- claims:start -->")[1].split("<!-- claims:end -->")[0]
  rows = [r for r in block.strip().splitlines()[2:]]
  got = []
  for r in rows:
    cells = [c.strip() for c in r.strip("|").split("|")]
    got.append((cells[0].strip("`"), cells[1], cells[2], cells[-1]))
  want = [(c["id"], c["question"], c["kind"], c["verdict"]) for c in doc["claims"]]
  assert got == want, "README table is stale: run `gdm-jax verify --readme README.md`"


def test_errata_exist_for_each_known_mistake():
  ids = {c.id for c in claims.REGISTRY if c.kind == "erratum"}
  assert {"q1.written_diag_normaliser", "q1.written_full_normaliser", "q2.written_b_theta",
          "q2.written_kl_to_prior", "q1.written_det_sign", "q1.written_det_step",
          "q2.written_elbo_is_kl_to_prior", "q2.written_same_per_iteration",
          "q2.written_n_times_params", "q5.written_naming", "q5.written_same_support",
          "q6.written_ea_step"} <= ids


def test_unknown_glob_is_a_clear_error():
  proc = subprocess.run([sys.executable, "-m", "gdm_jax.cli", "verify", "--only", "zz.*"],
                        capture_output=True, text=True, cwd=ROOT)
  assert proc.returncode == 2 and "matches no claim" in proc.stdout


def _claim(kind, ev, stochastic=False):
  return Claim("t." + kind, "T", kind, "s", lambda key, cfg: ev, stochastic)


@pytest.mark.parametrize("kind, ev, ok", [
    ("theorem", Evidence(1.0, 1.0, 0.0, "==", "x"), True),
    ("theorem", Evidence(1.1, 1.0, 0.05, "==", "x"), False),
    ("theorem", Evidence(0.9, 1.0, 0.0, "<=", "x"), True),
    ("theorem", Evidence(1.2, 1.0, 0.1, "<=", "x"), False),
    ("theorem", Evidence(0.95, 1.0, 0.1, ">=", "x"), True),
    ("theorem", Evidence(float("nan"), 1.0, 0.1, "==", "x"), False),
    ("erratum", Evidence(2.0, 1.0, 0.1, "==", "x"), True),
    ("erratum", Evidence(1.0, 1.0, 0.1, "==", "x"), False),
])
def test_verdict_logic(kind, ev, ok):
  (r,) = run_claims([_claim(kind, ev)], Config())
  assert r.ok is ok


def test_a_crashing_check_is_an_error_not_a_pass():
  def boom(key, cfg):
    raise RuntimeError("bad")
  (r,) = run_claims([Claim("t.boom", "T", "erratum", "s", boom)], Config())
  assert r.verdict == "error" and not r.ok


def test_bonferroni_split_is_fixed_by_the_registry():
  seen = []
  def check(key, cfg):
    seen.append(cfg.rate)
    return Evidence(0.0, 0.0, 0.0, "==", "x", detects=0.0)
  cs = [Claim(f"t.{i}", "T", "theorem", "s", check, stochastic=True) for i in range(4)]
  n_reg = sum(c.stochastic for c in claims.REGISTRY)
  run_claims(cs, Config(family_rate=1e-6), workers=1)
  assert seen == [pytest.approx(1e-6 / (n_reg + 4))] * 4  # the registry's plus these 4
  # A registry claim has the same rate whichever claims a run selects.
  from gdm_jax.claims.core import n_stochastic
  assert n_stochastic(claims.select("q3.consistency")) == n_stochastic(claims.REGISTRY) == n_reg


def test_nan_evidence_is_an_error_for_theorems_and_errata():
  for kind in ("theorem", "erratum"):
    c = Claim("t.nan", "T", kind, "s", lambda k, cfg: Evidence(float("nan"), 1.0, 0.1, "==", "x"))
    (r,) = run_claims([c], Config(), workers=1)
    assert r.verdict == "error" and not r.ok and "non-finite" in r.evidence.detail


def test_underpowered_claim_is_an_error():
  c = Claim("t.weak", "T", "theorem", "s",
            lambda k, cfg: Evidence(0.0, 0.0, 0.5, "==", "x", effect=0.1))
  (r,) = run_claims([c], Config(), workers=1)
  assert r.verdict == "error" and "underpowered" in r.evidence.detail
  c = Claim("t.mc", "T", "theorem", "s", lambda k, cfg: Evidence(0.0, 0.0, 0.5, "==", "x"),
            stochastic=True)
  (r,) = run_claims([c], Config(), workers=1)
  assert r.verdict == "error" and "power" in r.evidence.detail


def test_units_keep_shared_setups_together_longest_first():
  from gdm_jax.claims.core import _units
  reg = claims.REGISTRY
  units = _units(reg, None)
  assert sorted(i for u in units for i in u) == list(range(len(reg)))  # a partition
  for u in units:  # claims that share a setup run in one process
    assert len({reg[i].shares or reg[i].id for i in u}) == 1
  shared = {c.shares for c in reg if c.shares}
  assert all(sum(1 for u in units if reg[u[0]].shares == s) == 1 for s in shared)
  cost = {c.id: float(n) for n, c in enumerate(reg)}  # later claims are "slower"
  totals = [sum(cost[reg[i].id] for i in u) for u in _units(reg, cost)]
  assert totals == sorted(totals, reverse=True)


def test_importing_the_claims_does_not_start_jax():
  # The CLI forks its worker processes after importing the registry; that is only safe while
  # jax's backends (and their threads) have not started, so no module may compute at import.
  code = ("import gdm_jax.cli, gdm_jax.claims, gdm_jax.mutations, gdm_jax.report; "
          "from jax._src import xla_bridge as xb; print(bool(xb._backends))")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
  assert out.stdout.strip() == "False", out.stderr[-2000:]


def test_parallel_run_equals_sequential_run(tmp_path_factory):
  only = ("--only", "q3.upper_bound,q3.tighter_than_elbo,q6.r2_le_kl,q6.r1_le_r2,"
          "q6.r2_equality,q7.parallel_lines")
  runs = [_verify(tmp_path_factory, *only, "--workers", w)[1] for w in ("1", "2")]
  rows = [[(c["id"], c["measured"], c["reference"], c["tolerance"], c["verdict"])
           for c in doc["claims"]] for doc in runs]
  assert rows[0] == rows[1] and len(rows[0]) == 6


def test_worker_processes_only_on_cpu(monkeypatch):
  from gdm_jax.claims.core import _cpu_only
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")
  assert _cpu_only()
  monkeypatch.setenv("JAX_PLATFORMS", "cuda,cpu")
  assert not _cpu_only()  # each worker would claim the GPU: run in one process instead


def test_a_patched_function_is_never_answered_from_a_cache(tmp_path):
  # Issue 13's stale pass: a warm run, then a user's script patches iwae_bound (log(K + 1) in
  # place of log K) and calls verify again in the same process: it must fail.
  script = tmp_path / "patch.py"
  script.write_text(
      "import sys, jax.numpy as jnp\n"
      "from jax.scipy.special import logsumexp\n"
      "from gdm_jax import bounds, cli\n"
      "args = ['verify', '--only', 'q3.extreme*,q3.estimator_exact', '--workers', '1']\n"
      "assert cli.main(args) == 0\n"
      "bounds.iwae_bound = lambda lw, axis=-1: (logsumexp(jnp.asarray(lw), axis=axis)\n"
      "    - jnp.log(jnp.asarray(lw).shape[axis] + 1.0))\n"
      "sys.exit(cli.main(args))\n")
  env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
  proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=ROOT,
                        env=env)
  assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_mutate_per_claim_table_json_and_exit(tmp_path):
  """``mutate --per-claim``: the table (claim, mutation, without, with), JSON, exit 0 when every
  pair flips by verdict; a claim that names no mistake makes the run exit 1."""
  import json
  out = tmp_path / "pc.json"
  proc = subprocess.run([sys.executable, "-m", "gdm_jax.cli", "mutate", "--per-claim", "--only",
                         "q7.disjoint_is_log2", "--mutation", "log_mixture_no_half", "--json",
                         str(out)], capture_output=True, text=True, cwd=ROOT)
  assert proc.returncode == 0, proc.stdout + proc.stderr
  assert "q7.disjoint_is_log2" in proc.stdout and "flips" in proc.stdout
  doc = json.loads(out.read_text())
  (row,) = doc["pairs"]
  assert (row["claim"], row["mutation"], row["without"], row["with_"], row["flipped"]) == (
      "q7.disjoint_is_log2", "log_mixture_no_half", "holds", "refuted", True)
  assert doc["flips"] == doc["total"] == 1 and doc["unnamed"] == []


def test_fast_compile_flags_only_name_flags_the_installed_xla_knows():
  """An unknown flag in XLA_FLAGS aborts the process: jaxlib 0.11 dropped
  xla_cpu_use_fusion_emitters, and every command died at start there. The flag is set only
  for the jaxlib versions that know it; one the user set is left as it is."""
  from gdm_jax.jaxconfig import fast_compile_flags
  assert "fusion_emitters" in fast_compile_flags("", (0, 10))
  assert "fusion_emitters" not in fast_compile_flags("", (0, 11))
  assert "xla_backend_optimization_level=0" in fast_compile_flags("", (0, 11))
  assert fast_compile_flags("--xla_backend_optimization_level=2", (0, 11)) == (
      "--xla_backend_optimization_level=2")
