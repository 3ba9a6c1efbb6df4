"""Wall time of `gdm-jax verify`, cold (empty compilation cache), warm (median of 3 runs with
jax's persistent compilation cache filled: every program is still traced and lowered) and with
the cache off; with the CPU seconds (user + sys) each run used, which are less sensitive than
wall time to what else the machine runs."""
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from _common import record


def run(env, only=None):
  before = resource.getrusage(resource.RUSAGE_CHILDREN)
  t0 = time.perf_counter()
  p = subprocess.run([sys.executable, "-m", "gdm_jax.cli", "verify",
                      *(["--only", only] if only else [])], env=env,
                     capture_output=True, text=True)
  wall = time.perf_counter() - t0
  after = resource.getrusage(resource.RUSAGE_CHILDREN)
  cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
  return wall, cpu, p.returncode


def main(argv=None):
  import argparse
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument("--warm-runs", type=int, default=3)
  p.add_argument("--only", default=None, help="a claim selection (default: every claim)")
  p.add_argument("--skip-no-cache", action="store_true", help="no run with the cache off")
  p.add_argument("--smoke", action="store_true",
                 help="CI: `--only q1.written_*`, one cold run (no warm, no cache-off run)")
  a = p.parse_args(argv)
  if a.smoke:
    a.only, a.warm_runs = "q1.written_*", 0
  cache = tempfile.mkdtemp()
  env = {**os.environ, "XDG_CACHE_HOME": cache}
  cold = run(env, a.only)
  warm = [run(env, a.only) for _ in range(a.warm_runs)] or [(float("nan"), float("nan"), 0)]
  nocache = (float("nan"), float("nan"), 0) if a.smoke or a.skip_no_cache else run(
      {**env, "GDM_JAX_NO_CACHE": "1"}, a.only)
  shutil.rmtree(cache)
  warm_wall = statistics.median(w for w, _, _ in warm)
  warm_cpu = statistics.median(c for _, c, _ in warm)
  codes = [cold[2], *(w[2] for w in warm), nocache[2]]
  record("verify_time" + ("_smoke" if a.smoke else ""),
         {"only": a.only, "cold_s": cold[0], "cold_cpu_s": cold[1],
          "warm_s": [w for w, _, _ in warm], "warm_cpu_s": [c for _, c, _ in warm],
          "warm_median_s": warm_wall, "no_cache_s": nocache[0], "no_cache_cpu_s": nocache[1],
          "exit_codes": codes},
         f"gdm-jax verify{' --only ' + a.only if a.only else ''}: cold {cold[0]:.0f} s (CPU "
         f"{cold[1]:.0f} s), warm median {warm_wall:.1f} s of "
         f"{', '.join(f'{w:.1f}' for w, _, _ in warm)} (CPU {warm_cpu:.0f} s), cache off "
         f"{nocache[0]:.0f} s (exit codes {'/'.join(map(str, codes))})")
  if any(codes):
    raise SystemExit(f"gdm-jax verify exited {codes}: the timings are of a failing run")

if __name__ == "__main__":
  main()
