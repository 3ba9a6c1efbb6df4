"""Q5: density estimation from a trained discriminator; the error shrinks as n grows."""
import jax
import jax.numpy as jnp
import numpy as np

from gdm_jax import gan
from gdm_jax.claims import densities as ds
from gdm_jax.experiments import common
from gdm_jax.experiments.common import out_dir, plt, save, write_table

GRID = np.linspace(-4.0, 4.0, 401)


def run(out, quick: bool = False, seed: int = 0) -> None:
  """Writes this experiment's figures and tables into ``out``."""
  out = out_dir(out)
  ns = [32, 256, 2048] if quick else [32, 128, 512, 2048, 8192]
  seeds = 3 if quick else 8
  key = jax.random.key(seed)
  n_max = max(ns)

  @jax.jit
  def run(k, n_used):
    kd, kt = jax.random.split(k)
    k1, k0 = jax.random.split(kd)
    x1, x0 = ds.sample_p1(k1, n_max), ds.sample_p0(k0, n_max)
    return gan.train_discriminator(kt, x1, x0, n_used, steps=1500)[0]

  keys = jax.random.split(key, seeds)
  params = jax.vmap(lambda k: jax.vmap(lambda n: run(k, n))(jnp.asarray(ns)))(keys)
  flat = jax.tree_util.tree_map(lambda p: p.reshape((-1,) + p.shape[2:]), params)
  x = jnp.asarray(GRID, jnp.float32)
  lf1, lf0 = ds.log_f1(x), ds.log_f0(x)
  err = np.asarray(jax.vmap(lambda p: gan.recovered_density_error(p, x, lf1, lf0))(flat))
  err = err.reshape(seeds, len(ns))
  print(write_table(out, "q5_error_vs_n", ["n", "mean E_P1|log f1_hat - log f1|", "SE"],
                    [[n, float(err[:, i].mean()), float(err[:, i].std(ddof=1) / np.sqrt(seeds))]
                     for i, n in enumerate(ns)]))
  p_big = jax.tree_util.tree_map(lambda p: p[0, -1], params)
  p_small = jax.tree_util.tree_map(lambda p: p[0, 0], params)
  fig, ax = plt.subplots(1, 2, figsize=(10, 4))
  ax[0].plot(x, jnp.exp(ds.log_f1(x)), "k", lw=2, label="f1 (true)")
  for p, n in ((p_small, ns[0]), (p_big, ns[-1])):
    est = gan.density_from_logit(ds.log_f0(x), gan.discriminator_logit(p, x[:, None]))
    ax[0].plot(x, jnp.exp(est), label=f"f0 D/(1-D), n={n}")
  ax[0].plot(x, jnp.exp(ds.log_f0(x)), "k:", label="f0")
  ax[0].legend(); ax[0].set(title="f1 recovered from a trained discriminator")
  ax[1].errorbar(ns, err.mean(0), yerr=err.std(0, ddof=1) / np.sqrt(seeds), fmt="o-")
  ax[1].set(xscale="log", yscale="log", xlabel="samples per distribution",
            ylabel="E_P1 |log f1_hat - log f1|", title="error shrinks with n")
  save(fig, out, "q5_discriminator")


def main(argv=None) -> None:
  common.main(run, __doc__, argv)


if __name__ == "__main__":
  main()
