"""L_K on Burda et al.'s 1-layer IWAE architecture (784-200-200-50 tanh encoder, 50-200-200-784
Bernoulli decoder, random weights), side by side in one process: the public estimator's default
call (no ``chunk_size``: :func:`gdm_jax.bounds.auto_chunk_size` picks it), numpyro's
``RenyiELBO(alpha=0, num_particles=K)``, TFP-on-JAX's ``monte_carlo_variational_loss(...,
importance_sample_size=K)``, and the bare decoder matmul chain of the same shapes (the roofline:
what the decoder alone costs, with no sampling and no likelihood).

Part 1 (the headline): B data points at K = 5000, warm times (best of ``--repeats``), the ratio to
the faster peer and to the roofline, and the values' agreement in standard errors over
``--replicates`` keys. Part 2: K = 100 .. 1e6, each (estimator, K) in a fresh process: warm time
and peak RSS (VmHWM); a peer whose one-shot [B, K, 784] logits would not fit in ``--limit-gib`` is
reported as not run, with what it would need; peers that are not installed are reported so."""
import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np

from _common import record, timeit
import _neural as nn
from gdm_jax import bounds

HERE = Path(__file__).parent


def have(mod):
  try:
    __import__(mod)
    return True
  except Exception:  # noqa: BLE001 - a peer that fails to import is "not installed" here
    return False


def estimators(params, x, K):
  """name -> jitted key -> [B] L_K, for the peers that are installed."""
  fns = {
      "gdm_jax default": jax.jit(nn.gdm_lk(params, x, K)),
      "gdm_jax vmap(iwae_estimate) default": jax.jit(lambda k: jax.vmap(
          lambda kk, xi: bounds.iwae_estimate(kk, lambda z: nn.log_joint(params, xi, z),
                                              nn.proposal(params, xi), K))(
              jax.random.split(k, x.shape[0]), x)),
  }
  if have("numpyro"):
    fns["numpyro RenyiELBO(0)"] = jax.jit(nn.numpyro_lk(params, x, K))
  if have("tensorflow_probability.substrates.jax"):
    fns["tfp monte_carlo_variational_loss"] = jax.jit(nn.tfp_lk(params, x, K))
  return fns


CHILD = r"""
import sys, time, json
sys.path.insert(0, sys.argv[4])
import jax
jax.config.update("jax_threefry_partitionable", False)
import lk_neural as b, _neural as nn
who, K, B = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
params = nn.init(jax.random.key(0)); x = nn.data(jax.random.key(1), B)
f = b.estimators(params, x, K)[who]
t0 = time.perf_counter(); v = f(jax.random.key(2)).block_until_ready(); first = time.perf_counter() - t0
t0 = time.perf_counter(); v = f(jax.random.key(3)).block_until_ready(); warm = time.perf_counter() - t0
hwm = int([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]) / 1024
st = jax.devices()[0].memory_stats() or {}
dev = st.get("peak_bytes_in_use", 0) / 2 ** 20 if jax.default_backend() != "cpu" else None
print(json.dumps({"sum_lk": float(v.sum()), "first_s": first, "warm_s": warm, "peak_mib": hwm,
                  "device_peak_mib": dev}))
"""


CHAIN = "roofline: decoder matmul chain"
LJ = "roofline: log_joint on given latents"


def headline(a, params):
  B, K = a.B, a.K
  x = nn.data(jax.random.key(1), B)
  fns = estimators(params, x, K)
  chunk = bounds.auto_chunk_size(jax.random.key(0), lambda zz: nn.log_joint(params, x[0], zz),
                                 nn.proposal(params, x[0]), K, batch=B)
  chain, spec = nn.decoder_chain(params, B, K)
  lj, spec_lj = nn.log_joint_on_latents(params, x, K, chunk)
  z = jax.random.normal(jax.random.key(3), spec.shape)
  roof = {CHAIN: (jax.jit(chain), z), LJ: (jax.jit(lj), z.reshape(spec_lj.shape))}
  compile_s = {}
  for n, f in fns.items():
    t0 = time.perf_counter()
    jax.block_until_ready(f(jax.random.key(2)))
    compile_s[n] = time.perf_counter() - t0
  for n, (f, arg) in roof.items():
    t0 = time.perf_counter()
    jax.block_until_ready(f(arg))
    compile_s[n] = time.perf_counter() - t0
  # interleaved rounds (best of ``repeats`` each), so a busy moment of the machine hits all alike
  best = {n: float("inf") for n in [*fns, *roof]}
  for _ in range(a.repeats):
    for n, f in fns.items():
      best[n] = min(best[n], timeit(f, jax.random.key(2), repeats=1)[1])
    for n, (f, arg) in roof.items():
      best[n] = min(best[n], timeit(f, arg, repeats=1)[1])
  rows = {}
  for n, f in fns.items():
    vals = np.stack([np.asarray(f(jax.random.key(100 + r)), np.float64).sum()
                     for r in range(a.replicates)])
    rows[n] = {"compile_s": compile_s[n], "warm_s": best[n], "sum_lk": float(vals.mean()),
               "se": float(vals.std(ddof=1) / math.sqrt(len(vals)))}
    print(n, rows[n], flush=True)
  flops = 2.0 * B * K * (nn.LATENT * nn.H + nn.H * nn.H + nn.H * nn.D)
  for n in roof:
    rows[n] = {"compile_s": compile_s[n], "warm_s": best[n], "gflops": flops / best[n] / 1e9}
  ours = rows["gdm_jax default"]
  peers = [n for n in rows if n.startswith(("numpyro", "tfp"))]
  out = {"chunk_size_chosen": chunk, "rows": rows}
  if peers:
    fast = min(peers, key=lambda n: rows[n]["warm_s"])
    out["faster_peer"] = fast
    out["speedup_vs_faster_peer"] = rows[fast]["warm_s"] / ours["warm_s"]
    out["agreement_z"] = {n: abs(rows[n]["sum_lk"] - ours["sum_lk"]) / math.hypot(
        rows[n]["se"], ours["se"]) for n in peers + ["gdm_jax vmap(iwae_estimate) default"]}
  out["fraction_of_roofline"] = rows[CHAIN]["warm_s"] / ours["warm_s"]
  out["fraction_of_log_joint"] = rows[LJ]["warm_s"] / ours["warm_s"]
  return out


def k_sweep(a):
  rows = {}
  whos = ["gdm_jax default", "numpyro RenyiELBO(0)", "tfp monte_carlo_variational_loss"]
  for K in a.ks:
    for who in whos[:1] if a.smoke else whos:
      mod = {"numpyro RenyiELBO(0)": "numpyro",
             "tfp monte_carlo_variational_loss": "tensorflow_probability.substrates.jax"}.get(who)
      name = f"{who} K={K}"
      if mod and not have(mod):
        rows[name] = {"status": f"not installed ({mod})"}
        continue
      need = a.sweep_B * K * nn.D * 4 / 2 ** 30   # the peers' one-shot [B, K, 784] logits
      if mod and need > a.limit_gib:
        rows[name] = {"status": f"not run: one-shot logits need >= {need:.1f} GiB"}
        print(name, rows[name], flush=True)
        continue
      p = subprocess.run([sys.executable, "-c", CHILD, who, str(K), str(a.sweep_B), str(HERE)],
                         capture_output=True, text=True)
      if p.returncode:
        rows[name] = {"status": "failed: " + (p.stderr.strip().splitlines() or ["?"])[-1][:200]}
      else:
        rows[name] = {"status": "ok", **json.loads(p.stdout.strip().splitlines()[-1])}
      print(name, rows[name], flush=True)
  return rows


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument("--B", type=int, default=16)
  p.add_argument("--K", type=int, default=5000)
  p.add_argument("--repeats", type=int, default=5)
  p.add_argument("--replicates", type=int, default=10, help="keys for the standard errors")
  p.add_argument("--ks", type=int, nargs="*", default=[100, 1000, 10_000, 100_000, 1_000_000])
  p.add_argument("--sweep-B", type=int, default=4)
  p.add_argument("--limit-gib", type=float, default=6.0,
                 help="peers whose one-shot logits need more are not run")
  p.add_argument("--smoke", action="store_true",
                 help="tiny settings (CI): B=2, K=64; the K sweep runs gdm_jax at K=64 only")
  a = p.parse_args(argv)
  if a.smoke:
    a.B, a.K, a.repeats, a.replicates, a.ks, a.sweep_B = 2, 64, 1, 3, [64], 2
  jax.config.update("jax_threefry_partitionable", False)
  params = nn.init(jax.random.key(0))
  head = headline(a, params)
  sweep = k_sweep(a)
  r = head["rows"]
  summary = (f"B={a.B} K={a.K} (chunk {head['chunk_size_chosen']} chosen): default "
             f"{r['gdm_jax default']['warm_s'] * 1e3:.0f} ms, vmap(iwae_estimate) default "
             f"{r['gdm_jax vmap(iwae_estimate) default']['warm_s'] * 1e3:.0f} ms, " +
             ", ".join(f"{n} {v['warm_s'] * 1e3:.0f} ms" for n, v in r.items()
                       if n.startswith(("numpyro", "tfp"))) +
             f", decoder chain {r[CHAIN]['warm_s'] * 1e3:.0f} ms ({r[CHAIN]['gflops']:.0f} GFLOP/s)"
             f", log_joint on given latents {r[LJ]['warm_s'] * 1e3:.0f} ms")
  if "speedup_vs_faster_peer" in head:
    summary += (f"; {head['speedup_vs_faster_peer']:.2f}x {head['faster_peer']}, "
                f"{100 * head['fraction_of_roofline']:.0f}% of the chain's speed, "
                f"{100 * head['fraction_of_log_joint']:.0f}% of log_joint's; |diff|/SE: " +
                ", ".join(f"{v:.1f}" for v in head["agreement_z"].values()))
  summary += "; peak RSS (B=%d): " % a.sweep_B + ", ".join(
      f"{n}: {v['peak_mib']:.0f} MiB" + (f" (device {v['device_peak_mib']:.0f} MiB)"
                                          if v.get("device_peak_mib") else "") +
      f", {v['warm_s'] * 1e3:.0f} ms" if v["status"] == "ok"
      else f"{n}: {v['status']}" for n, v in sweep.items())
  record("lk_neural" + ("_smoke" if a.smoke else ""), {"config": vars(a), **head, "k_sweep": sweep},
         summary)


if __name__ == "__main__":
  main()
