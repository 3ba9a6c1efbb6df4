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


def run(env):
  before = resource.getrusage(resource.RUSAGE_CHILDREN)
  t0 = time.perf_counter()
  p = subprocess.run([sys.executable, "-m", "gdm_jax.cli", "verify"], env=env,
                     capture_output=True, text=True)
  wall = time.perf_counter() - t0
  after = resource.getrusage(resource.RUSAGE_CHILDREN)
  cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
  return wall, cpu, p.returncode


def main():
  cache = tempfile.mkdtemp()
  env = {**os.environ, "XDG_CACHE_HOME": cache}
  cold = run(env)
  warm = [run(env) for _ in range(3)]
  nocache = run({**env, "GDM_JAX_NO_CACHE": "1"})
  shutil.rmtree(cache)
  warm_wall = statistics.median(w for w, _, _ in warm)
  warm_cpu = statistics.median(c for _, c, _ in warm)
  codes = [cold[2], *(w[2] for w in warm), nocache[2]]
  record("verify_time", {"cold_s": cold[0], "cold_cpu_s": cold[1],
                         "warm_s": [w for w, _, _ in warm], "warm_cpu_s": [c for _, c, _ in warm],
                         "warm_median_s": warm_wall,
                         "no_cache_s": nocache[0],
                         "no_cache_cpu_s": nocache[1], "exit_codes": codes},
         f"gdm-jax verify: cold {cold[0]:.0f} s (CPU {cold[1]:.0f} s), warm median {warm_wall:.1f} "
         f"s of {', '.join(f'{w:.1f}' for w, _, _ in warm)} (CPU {warm_cpu:.0f} s), cache off "
         f"{nocache[0]:.0f} s (exit codes {'/'.join(map(str, codes))})")


if __name__ == "__main__":
  main()
