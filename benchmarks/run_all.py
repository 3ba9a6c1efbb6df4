"""Runs every benchmark in turn, in this process (each appends a row to RESULTS.md and writes
its JSON; ``$GDM_BENCH_OUT`` redirects both).

``--profile cpu`` (default): the settings each benchmark documents, sized for a 2-core CPU.
``--profile accelerator``: GPU-sized settings, every benchmark within about 8 minutes in all on
one GPU (``make bench-accelerator``). ``--profile smoke``: tiny settings that check, on any
machine, that every benchmark runs end to end and records its row (a test runs it).
Peers that are not installed (numpyro, TFP) are skipped and reported so."""
import argparse
import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
BENCHMARKS = ["lk_neural", "lk_peers", "memory_large_k", "roofline", "variance_sweep",
              "variance_sweep_neural", "verify_time"]
PROFILES = {
    "cpu": {},
    "smoke": {b: ["--smoke"] for b in BENCHMARKS},
    "accelerator": {
        "lk_neural": ["--B", "64", "--K", "5000", "--ks", "1000", "100000", "1000000",
                      "10000000", "--sweep-B", "16", "--limit-gib", "40"],
        "lk_peers": ["--B", "128"],
        "memory_large_k": ["--ks", "100000", "1000000", "10000000", "--B", "16",
                           "--limit-gib", "40"],
        "roofline": ["--K", "50000", "--square", "8192"],
        "variance_sweep": ["--replicates", "10000"],
        "variance_sweep_neural": ["--replicates", "1000"],
        "verify_time": ["--warm-runs", "1", "--skip-no-cache"],
    },
}


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument("--profile", choices=sorted(PROFILES), default="cpu")
  p.add_argument("--smoke", action="store_true", help="the same as --profile smoke")
  p.add_argument("--only", nargs="*", default=BENCHMARKS, choices=BENCHMARKS)
  a = p.parse_args(argv)
  profile = "smoke" if a.smoke else a.profile
  sys.path.insert(0, str(HERE))
  times = {}
  for name in a.only:
    print(f"== {name} ({profile})", flush=True)
    t0 = time.perf_counter()
    importlib.import_module(name).main(PROFILES[profile].get(name, []))
    times[name] = time.perf_counter() - t0
  print("times (s): " + ", ".join(f"{n} {t:.0f}" for n, t in times.items()), flush=True)


if __name__ == "__main__":
  main()
