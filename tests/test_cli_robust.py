"""Failures are loud and results are never lost: per-claim time limits, Ctrl-C, unwritable cache
folders, bracketed text, flag validation. Toy claims (unregistered, run through `cli.main` in a
subprocess with `claims.select` patched) keep these fast."""
import json
import os
import signal
import subprocess
import sys
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


def test_run_claims_validates_its_timeout():
  for bad in (-1.0, float("nan"), float("inf")):
    with pytest.raises(ValueError, match="timeout"):
      run_claims([Claim("t.ok", "T", "theorem", "s", _ok)], Config(), timeout=bad)


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
for r in run_claims(cs, Config(), workers=2, timeout=5.0):  # t.dies dies well within 5 s
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


# The CLI on toy claims: `claims.select` patched in a fresh process (the CLI configures jax and may
# fork, so it must not run inside the test process).
TOY_CLI = """
import os, sys, time
from gdm_jax import claims, cli
from gdm_jax.claims.core import Claim, Evidence
def ok(key, cfg):
  return Evidence(1.0, 1.0, 0.0, "==", "origin [1, 2]")
def slow(key, cfg):
  with open(os.environ["TOY_STARTED"], "a") as f:
    f.write(f"{os.getpid()}\\n")
  time.sleep(120)
  return ok(key, cfg)
def boom(key, cfg):
  raise RuntimeError("cannot read [/tmp/a/b.json]")  # rich read this as a closing tag and crashed
TOYS = [Claim("t.ok", "T", "theorem", "E[w] = 1 for w in [a/b.json]", ok),
        Claim("t.ok2", "T", "theorem", "s", ok),
        Claim("t.slow", "T", "theorem", "sleeps", slow),
        Claim("t.boom", "T", "theorem", "crashes", boom),
        Claim("t.mc", "T", "theorem", "s", lambda k, c: ok(k, c)._replace(detects=0.0), True),
        Claim("t.mcboom", "T", "theorem", "s", boom, True)]
claims.select = lambda pattern: [c for c in TOYS if c.id in pattern.split(",")]
if os.environ.get("TOY_SLOW_START"):  # worker start-up slower than --claim-timeout (a busy host)
  from gdm_jax.claims import core
  real_worker = core._worker_run
  def slow_worker(*a, **k):
    time.sleep(float(os.environ["TOY_SLOW_START"]))
    return real_worker(*a, **k)
  core._worker_run = slow_worker
if os.environ.get("TOY_READ_ONLY_CACHE"):  # a read-only file system under the cache folder
  import errno, tempfile
  real = tempfile.TemporaryFile
  def no_write(*a, dir=None, **k):
    if dir is not None and str(dir).startswith(os.environ["XDG_CACHE_HOME"]):
      raise OSError(errno.EROFS, os.strerror(errno.EROFS))
    return real(*a, dir=dir, **k)
  tempfile.TemporaryFile = no_write
  tempfile.mkstemp = lambda *a, **k: (_ for _ in ()).throw(OSError(errno.EROFS, "read-only"))
sys.exit(cli.main(sys.argv[1:]))
"""


def _env(tmp_path, **extra):
  env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"),
         "TOY_STARTED": str(tmp_path / "started"), **extra}
  env.pop("JAX_ENABLE_X64", None)
  env.update(extra)
  return env


def _toy(tmp_path, *argv, env=None, timeout=120):
  return subprocess.run([sys.executable, "-c", TOY_CLI, *argv], capture_output=True, text=True,
                        cwd=ROOT, env=env or _env(tmp_path), timeout=timeout)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_cli_claim_past_the_time_limit_is_an_error_and_exit_1(tmp_path, workers):
  out = tmp_path / "v.json"
  t0 = time.monotonic()
  proc = _toy(tmp_path, "verify", "--only", "t.slow,t.ok", "--claim-timeout", "5", "--workers",
              workers, "--json", str(out))
  assert time.monotonic() - t0 < 60
  assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
  rows = {c["id"]: c for c in json.loads(out.read_text())["claims"]}
  assert rows["t.slow"]["verdict"] == "error" and "timed out" in rows["t.slow"]["detail"]
  assert "--claim-timeout" in rows["t.slow"]["detail"]
  assert rows["t.ok"]["verdict"] == "holds"
  assert "t.slow: error, expected holds" in proc.stdout and "timed out" in proc.stdout


@pytest.mark.parametrize("sig, code, line", [
    (signal.SIGINT, 130, "gdm-jax: interrupted"),
    (signal.SIGTERM, 143, "gdm-jax: terminated"),   # exited 143 by default, workers left running
])
@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_or_sigterm_ends_the_run_and_reaps_the_workers(tmp_path, workers, sig, code, line):
  env = _env(tmp_path)
  proc = subprocess.Popen([sys.executable, "-c", TOY_CLI, "verify", "--only", "t.slow,t.ok",
                           "--workers", workers], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
  started = tmp_path / "started"
  deadline = time.monotonic() + 60
  while not started.exists() and time.monotonic() < deadline and proc.poll() is None:
    time.sleep(0.1)
  time.sleep(0.5)  # inside the claim's sleep
  proc.send_signal(sig)
  stdout, stderr = proc.communicate(timeout=30)
  assert proc.returncode == code, stdout[-2000:] + stderr[-2000:]
  assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr[-3000:]
  assert stderr.strip().splitlines()[-1] == line
  for pid in map(int, started.read_text().split()):
    if pid != proc.pid:  # a worker process: killed and reaped, not left behind
      with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_the_claim_timeout_clock_starts_when_the_claim_starts(tmp_path):
  # Worker start-up (here 3 s, as on a loaded host) counted against --claim-timeout 1: every
  # claim, however trivial, got 'error'.
  out = tmp_path / "v.json"
  proc = _toy(tmp_path, "verify", "--only", "t.ok,t.ok2", "--workers", "2", "--claim-timeout", "1",
              "--json", str(out), env=_env(tmp_path, TOY_SLOW_START="3"))
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  assert [c["verdict"] for c in json.loads(out.read_text())["claims"]] == ["holds", "holds"]


def test_claim_key_refuses_a_seed_the_key_cannot_hold():
  from gdm_jax.claims.core import claim_key
  for bad in (-1, 2 ** 32, 2 ** 63, 2 ** 64, True):
    with pytest.raises(ValueError, match="`seed`"):
      claim_key(bad, "q1.x")
  claim_key(2 ** 32 - 1, "q1.x")


def test_brackets_in_claim_text_print_verbatim_and_an_error_exits_1(tmp_path):
  out = tmp_path / "v.json"
  proc = _toy(tmp_path, "verify", "--only", "t.ok,t.boom", "--workers", "1", "--json", str(out),
              "--wide")
  assert proc.returncode == 1, proc.stderr[-3000:]
  assert "MarkupError" not in proc.stderr and "Traceback" not in proc.stderr
  assert "E[w] = 1 for w in [a/b.json]" in proc.stdout and "origin [1, 2]" in proc.stdout
  assert "[float32, seed 0]" in proc.stdout
  assert "t.boom: error, expected holds" in proc.stdout
  assert "RuntimeError: cannot read [/tmp/a/b.json]" in proc.stdout
  doc = json.loads(out.read_text())
  assert [c["verdict"] for c in doc["claims"]] == ["holds", "error"]


def test_all_as_expected_exits_0_and_jax_enable_x64_is_honoured(tmp_path):
  out = tmp_path / "v.json"
  proc = _toy(tmp_path, "verify", "--only", "t.ok,t.ok2", "--json", str(out),
              env=_env(tmp_path, JAX_ENABLE_X64="1"))
  assert proc.returncode == 0, proc.stderr[-3000:]
  doc = json.loads(out.read_text())
  assert doc["environment"]["x64"] is True and "[float64, seed 0]" in proc.stdout
  assert all(c["verdict"] == "holds" for c in doc["claims"])


def test_seeds_exits_1_when_a_claim_errors(tmp_path):
  fine = _toy(tmp_path, "seeds", "--only", "t.mc,t.ok", "--n", "2")
  assert fine.returncode == 0, fine.stdout[-3000:] + fine.stderr[-3000:]
  bad = _toy(tmp_path, "seeds", "--only", "t.mc,t.mcboom", "--n", "2", "--rate", "0.9")
  assert bad.returncode == 1 and "t.mcboom: error (seed 1000: RuntimeError" in bad.stdout


def _break_cache(tmp_path, how):
  if how == "not_a_folder":
    (tmp_path / "cache").write_text("")
  elif how == "read_only":
    if os.geteuid() == 0:
      pytest.skip("root writes into read-only folders")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache").chmod(0o555)
  else:  # the cache works, the claim-seconds hint cannot be written
    (tmp_path / "cache" / "gdm-jax" / "claim-seconds-x32.json").mkdir(parents=True)


def test_a_read_only_cache_file_system_never_loses_a_run(tmp_path):
  # As root, chmod cannot make a folder read-only: the toy run fails every write under the cache
  # folder as a read-only file system would (EROFS), at the tempfile calls the CLI makes.
  out = tmp_path / "v.json"
  proc = _toy(tmp_path, "verify", "--only", "t.ok,t.ok2", "--json", str(out),
              env=_env(tmp_path, TOY_READ_ONLY_CACHE="1"))
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  assert proc.stderr.count("gdm-jax: warning:") == 1 and "Read-only file system" in proc.stderr
  assert "without the persistent compilation cache" in proc.stderr
  assert [c["verdict"] for c in json.loads(out.read_text())["claims"]] == ["holds", "holds"]


@pytest.mark.parametrize("how", ["not_a_folder", "read_only", "hint_unwritable"])
def test_an_unwritable_cache_never_loses_a_run(tmp_path, how):
  _break_cache(tmp_path, how)
  out, md = tmp_path / "v.json", tmp_path / "v.md"
  try:
    proc = subprocess.run([sys.executable, "-m", "gdm_jax.cli", "verify", "--only",
                           "q1.nonlinear_1d", "--json", str(out), "--markdown", str(md)],
                          capture_output=True, text=True, cwd=ROOT, env=_env(tmp_path),
                          timeout=300)
  finally:
    if (tmp_path / "cache").is_dir():
      (tmp_path / "cache").chmod(0o755)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith("gdm-jax: warning:")]
  # A folder at the hint's path: one warning as it is read (not a regular file), one as it is
  # written; otherwise the one about the cache folder.
  assert len(warnings) == (2 if how == "hint_unwritable" else 1), proc.stderr[-3000:]
  assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
  assert all(("scheduling hint" in w) == (how == "hint_unwritable") for w in warnings)
  assert json.loads(out.read_text())["claims"][0]["verdict"] == "holds"
  assert "q1.nonlinear_1d" in md.read_text() and "gdm-jax verify" in proc.stdout


def test_the_timings_hint_is_read_defensively_and_written_atomically(tmp_path):
  from gdm_jax.cli import read_costs, write_costs
  p = tmp_path / "claim-seconds-x32.json"
  for bad in ["", "{", "[1, 2]", '"x"', "\x00\xff", "null"]:
    p.write_text(bad)
    assert read_costs(p) == {}
  p.write_text('{"a": 1.5, "b": "2", "c": true, "d": -1, "e": NaN, "f": Infinity, "g": null, '
               '"h": [1], "i": 3}')
  assert read_costs(p) == {"a": 1.5, "i": 3.0}
  assert read_costs(None) == {} and read_costs(tmp_path / "missing.json") == {}
  target = tmp_path / "elsewhere.json"
  target.write_text('{"a": 1.0}')
  link = tmp_path / "link.json"
  link.symlink_to(target)
  assert read_costs(link) == {}  # never followed
  write_costs(link, {"a": 2.0})  # replaces the link, never writes through it
  assert not link.is_symlink() and read_costs(link) == {"a": 2.0}
  assert json.loads(target.read_text()) == {"a": 1.0}
  write_costs(p, {"x": 0.25})
  assert read_costs(p) == {"x": 0.25}
  assert sorted(f.name for f in tmp_path.iterdir()) == sorted(
      ["claim-seconds-x32.json", "elsewhere.json", "link.json"])  # no temporary file left


def test_an_unusable_hint_never_blocks_and_is_absent_with_one_warning(tmp_path, capsys):
  # A FIFO blocked the open until a writer came; '[' * 10**5 raised RecursionError.
  from gdm_jax.cli import MAX_HINT_BYTES, read_costs
  fifo = tmp_path / "fifo.json"
  os.mkfifo(fifo)
  deep, big = tmp_path / "deep.json", tmp_path / "big.json"
  deep.write_text("[" * 100_000 + "]" * 100_000)
  big.write_text('{"a": 1.0}' + " " * MAX_HINT_BYTES)
  for path, why in [(fifo, "not a regular file"), (deep, "RecursionError"),
                    (big, f"more than {MAX_HINT_BYTES}"), (tmp_path, "not a regular file"),
                    (tmp_path / "x.json", "JSONDecodeError")]:
    if path.name == "x.json":
      path.write_text("{")
    assert read_costs(path) == {}
    err = capsys.readouterr().err
    assert err.startswith("gdm-jax: warning: ignoring the claim timings") and why in err, err
    assert len(err.strip().splitlines()) == 1
  assert read_costs(tmp_path / "missing.json") == {} and capsys.readouterr().err == ""


def test_a_fifo_at_the_hint_path_does_not_block_verify(tmp_path):
  hint = tmp_path / "cache" / "gdm-jax" / "claim-seconds-x32.json"
  hint.parent.mkdir(parents=True)
  os.mkfifo(hint)
  proc = _toy(tmp_path, "verify", "--only", "t.ok", "--workers", "1", timeout=60)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  assert "not a regular file" in proc.stderr


def test_write_costs_failure_is_a_warning(tmp_path, capsys):
  from gdm_jax.cli import write_costs
  write_costs(tmp_path / "missing-folder" / "c.json", {"a": 1.0})
  err = capsys.readouterr().err
  assert err.startswith("gdm-jax: warning:") and len(err.strip().splitlines()) == 1


def _parse_error(capsys, *argv):
  from gdm_jax import cli
  with pytest.raises(SystemExit) as e:
    cli.main(list(argv))
  return e.value.code, capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["verify", "--family-rate", "2"], "--family-rate: a rate must be strictly between 0 and 1"),
    (["verify", "--family-rate", "5"], "--family-rate: a rate must be strictly between 0 and 1"),
    (["verify", "--family-rate", "0"], "--family-rate: a rate must be strictly between 0 and 1"),
    (["verify", "--family-rate", "nan"], "strictly between 0 and 1"),
    (["verify", "--family-rate", "x"], "not a number"),
    (["seeds", "--rate", "1"], "--rate: a rate must be strictly between 0 and 1"),
    (["seeds", "--rate", "-0.1"], "--rate: a rate must be strictly between 0 and 1"),
    (["seeds", "--n", "0"], "--n: must be at least 1"),
    (["verify", "--workers", "0"], "--workers: must be at least 1"),
    (["seeds", "--workers", "-2"], "--workers: must be at least 1"),
    (["verify", "--claim-timeout", "-1"], "--claim-timeout: must be a number of seconds"),
    (["verify", "--only", ""], "--only: an empty pattern selects no claim"),   # selected all
    (["verify", "--only", " , "], "--only: an empty pattern selects no claim"),
    (["seeds", "--only", ""], "--only: an empty pattern selects no claim"),
    (["verify", "--seed", "4294967296"], "--seed: a seed must lie in [0, 4294967295]"),  # ran 0
    (["verify", "--seed", str(2 ** 63)], "--seed: a seed must lie in"),        # overflowed
    (["verify", "--seed", "-1"], "--seed: a seed must lie in"),   # a different key in x64
    (["report", "--seed", "x"], "--seed: not a whole number"),
    (["verify", "--json", "/nonexistent/dir/x.json"], "--json: folder /nonexistent/dir does not"),
    (["verify", "--markdown", "/nonexistent/dir/x.md"], "--markdown: folder /nonexistent/dir"),
    (["mutate", "--json", "/nonexistent/x.json"], "--json: folder /nonexistent does not exist"),
    (["seeds", "--json", "/nonexistent/x.json"], "--json: folder /nonexistent does not exist"),
    (["verify", "--readme", "/nonexistent/README.md"], "--readme: cannot read"),
    (["verify", "--readme", str(ROOT / "pyproject.toml")], "has no <!-- claims:start -->"),
])
def test_bad_flags_are_argparse_errors_before_anything_runs(capsys, argv, message):
  code, err = _parse_error(capsys, *argv)
  assert code == 2 and message in err, err


def test_output_paths_are_checked_before_running(tmp_path, capsys):
  code, err = _parse_error(capsys, "verify", "--json", str(tmp_path))
  assert code == 2 and "is a folder" in err
  (tmp_path / "f").write_text("")
  code, err = _parse_error(capsys, "report", "--out", str(tmp_path / "f" / "report"))
  assert code == 2 and "is not a folder" in err


def test_version_and_user_facing_help(capsys):
  from importlib.metadata import version
  from gdm_jax import cli
  with pytest.raises(SystemExit) as e:
    cli.main(["--version"])
  assert e.value.code == 0
  assert capsys.readouterr().out.strip() == f"gdm-jax {version('gdm-jax')}"
  help_text = cli.build_parser().format_help()
  assert "Only parses flags" not in help_text and "verdict table" in help_text
  assert "JAX_ENABLE_X64" in help_text and "130" in help_text


def test_report_with_an_unknown_glob_is_a_clear_error(tmp_path):
  proc = subprocess.run([sys.executable, "-m", "gdm_jax.cli", "report", "--only", "nope",
                         "--out", str(tmp_path / "r")], capture_output=True, text=True, cwd=ROOT,
                        env=_env(tmp_path), timeout=120)
  assert proc.returncode == 2 and "matches no claim" in proc.stdout, proc.stderr[-3000:]
  assert "Traceback" not in proc.stderr


def test_an_unknown_glob_suggests_ids_that_exist():
  from gdm_jax import claims
  ids = {c.id for c in claims.REGISTRY}
  with pytest.raises(ValueError, match="matches no claim") as e:
    claims.select("q9.*")
  msg = str(e.value)
  assert "q1.*" in msg and "q7.*" in msg and "iwae" not in msg
  with pytest.raises(ValueError, match="closest ids: q1.nonlinear_1d"):
    claims.select("q1.nonlinear1d")
  with pytest.raises(ValueError, match=": zz matches no claim"):
    claims.select("q1.*,zz")  # a typo never silently shrinks a run
  for empty in ("", ",", " "):   # selected every claim
    with pytest.raises(ValueError, match="empty pattern"):
      claims.select(empty)
  assert len(claims.select(None)) == len(ids)
  for word in msg.replace(",", " ").replace(";", " ").split():
    if word.startswith("q") and "." in word and "*" not in word:
      assert word.rstrip(".") in ids
