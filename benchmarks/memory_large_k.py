"""Peak resident memory of one L_K evaluation at K = 1e5, 1e6, 1e7 (B=8, d=32, D=784): the
chunked estimator against numpyro's RenyiELBO and TFP's importance-weighted loss. Each run is a
fresh process; the peak is its VmHWM. A peer whose one-shot arrays would not fit is reported as
not run, with the memory it would need."""
import argparse
import subprocess
import sys

from _common import record

CHILD = r"""
import sys, jax, jax.numpy as jnp
jax.config.update("jax_threefry_partitionable", False)
from gdm_jax import bounds, models
who, K = sys.argv[1], int(sys.argv[2])
B, d, D = int(sys.argv[3]), 32, 784
model = models.random_linear_gaussian(jax.random.key(0), d, D, 0.5)
x, _ = model.sample(jax.random.key(1), B)
pm, pc = model.posterior(x)
qs = jnp.broadcast_to(1.3 * jnp.sqrt(jnp.diagonal(pc)), pm.shape)
if who == "gdm_jax":
  f = jax.jit(lambda k: bounds.linear_gaussian_iwae(k, model, x, pm, qs, K, chunk_size=8192,
                                                    gram=True))
elif who == "gdm_jax_dense":
  f = jax.jit(lambda k: bounds.linear_gaussian_iwae(k, model, x, pm, qs, K, chunk_size=8192))
elif who == "numpyro":
  import numpyro, numpyro.distributions as nd
  from numpyro.infer import RenyiELBO
  def m_(xi):
    z = numpyro.sample("z", nd.Normal(jnp.zeros(d), 1.0).to_event(1))
    numpyro.sample("x", nd.Normal(z @ model.W.T + model.b, model.noise_std).to_event(1), obs=xi)
  r = RenyiELBO(alpha=0.0, num_particles=K)
  f = jax.jit(lambda k: jax.vmap(lambda kk, xi, m, s: -r.loss(kk, {}, m_, lambda xx: numpyro.sample(
      "z", nd.Normal(m, s).to_event(1)), xi))(jax.random.split(k, B), x, pm, qs))
else:
  from tensorflow_probability.substrates import jax as tfp
  f = jax.jit(lambda k: jax.vmap(lambda kk, xi, m, s: -tfp.vi.monte_carlo_variational_loss(
      lambda z: model.log_joint(xi, z), tfp.distributions.MultivariateNormalDiag(m, s),
      importance_sample_size=K, seed=kk))(jax.random.split(k, B), x, pm, qs))
v = f(jax.random.key(2)).block_until_ready()
hwm = int([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]) / 1024
st = jax.devices()[0].memory_stats() or {}
dev = st.get("peak_bytes_in_use", 0) / 2 ** 20 if jax.default_backend() != "cpu" else -1
print(float(v.sum()), hwm, dev)
"""
LIMIT_GIB = 16.0  # this machine has 24 GiB; a run that needs more is not started


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument("--ks", type=int, nargs="*", default=[10 ** 5, 10 ** 6, 10 ** 7])
  p.add_argument("--B", type=int, default=8)
  p.add_argument("--limit-gib", type=float, default=LIMIT_GIB)
  p.add_argument("--smoke", action="store_true", help="tiny settings (CI): B=2, gdm_jax at K=100 only")
  a = p.parse_args(argv)
  if a.smoke:
    a.ks, a.B = [100], 2
  rows = {}
  for who in ("gdm_jax",) if a.smoke else ("gdm_jax", "gdm_jax_dense", "numpyro", "tfp"):
    for K in a.ks:
      need = a.B * K * 784 * 4 / 2 ** 30  # one [B, K, D] float32 residual, the peers' one-shot
      if who in ("numpyro", "tfp") and need > a.limit_gib:
        rows[f"{who} K={K}"] = {"status": f"not run: one-shot needs >= {need:.0f} GiB"}
        print(who, K, rows[f"{who} K={K}"], flush=True)
        continue
      p = subprocess.run([sys.executable, "-c", CHILD, who, str(K), str(a.B)],
                         capture_output=True, text=True)
      if p.returncode:
        rows[f"{who} K={K}"] = {"status": "failed: " + p.stderr.strip().splitlines()[-1][:200]}
      else:
        val, mb, dev = map(float, p.stdout.split())
        rows[f"{who} K={K}"] = {"status": "ok", "peak_mib": mb, "sum_lk": val,
                                "device_peak_mib": dev if dev >= 0 else None}
      print(who, K, rows[f"{who} K={K}"], flush=True)
  summ = "; ".join(f"{k}: {v['peak_mib']:.0f} MiB" + (
      f" (device {v['device_peak_mib']:.0f} MiB)" if v.get("device_peak_mib") else "")
      if v["status"] == "ok" else f"{k}: {v['status']}" for k, v in rows.items())
  record("memory_large_k" + ("_smoke" if a.smoke else ""), {"rows": rows},
         f"peak RSS, B={a.B} d=32 D=784: " + summ)


if __name__ == "__main__":
  main()
