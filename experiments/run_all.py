"""Runs every experiment (pass --quick for the shrunken configurations, --out DIR, --seed N),
each in its own process, with one line per experiment as it starts and ends."""
import argparse
import sys

from gdm_jax import experiments

if __name__ == "__main__":
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument("--out", default="out/experiments")
  p.add_argument("--quick", action="store_true")
  p.add_argument("--seed", type=int, default=0)
  a = p.parse_args()
  runs = experiments.run_each(a.out, a.quick, a.seed, progress=lambda line: print(line, flush=True))
  sys.exit(0 if all(r.ok for r in runs) else 1)
