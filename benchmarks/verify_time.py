"""Wall time of `gdm-jax verify`, cold (empty compilation cache) and warm (second run)."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

from _common import record


def run(env):
  t0 = time.perf_counter()
  p = subprocess.run([sys.executable, "-m", "gdm_jax.cli", "verify"], env=env,
                     capture_output=True, text=True)
  return time.perf_counter() - t0, p.returncode


def main():
  cache = tempfile.mkdtemp()
  env = {**os.environ, "XDG_CACHE_HOME": cache}
  cold, rc1 = run(env)
  warm, rc2 = run(env)
  nocache, rc3 = run({**env, "GDM_JAX_NO_CACHE": "1"})
  shutil.rmtree(cache)
  record("verify_time", {"cold_s": cold, "warm_s": warm, "no_cache_s": nocache,
                         "exit_codes": [rc1, rc2, rc3]},
         f"gdm-jax verify: cold {cold:.0f} s, warm {warm:.0f} s, cache off {nocache:.0f} s "
         f"(exit {rc1}/{rc2}/{rc3})")


if __name__ == "__main__":
  main()
