"""Q5: density estimation from a trained discriminator; the error shrinks as n grows."""
import jax
import jax.numpy as jnp
import numpy as np

from gdm_jax import gan, stats
from gdm_jax.problems import densities as ds
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
  def train(k, n_used):
    kd, kt = jax.random.split(k)
    k1, k0 = jax.random.split(kd)
    x1, x0 = ds.sample_p1(k1, n_max), ds.sample_p0(k0, n_max)
    return gan.train_discriminator(kt, x1, x0, n_used, steps=1500)[0]

  keys = jax.random.split(key, seeds)
  params = jax.vmap(lambda k: jax.vmap(lambda n: train(k, n))(jnp.asarray(ns)))(keys)
  flat = jax.tree_util.tree_map(lambda p: p.reshape((-1,) + p.shape[2:]), params)
  x = jnp.asarray(GRID, jnp.float32)
  lf1, lf0 = ds.log_f1(x), ds.log_f0(x)
  err = np.asarray(jax.vmap(lambda p: gan.recovered_density_error(p, x, lf1, lf0))(flat))
  err = err.reshape(seeds, len(ns))
  crit = stats.critical_value(0.05, seeds)  # 95%: Student's t with seeds - 1 dof
  se = err.std(0, ddof=1) / np.sqrt(seeds)
  print(write_table(out, "q5_error_vs_n", ["n", "mean E_P1|log f1_hat - log f1| (nats)", "SE",
                                           "seeds"],
                    [[n, float(err[:, i].mean()), float(se[i]), seeds]
                     for i, n in enumerate(ns)]))
  fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
  ax[0].plot(x, jnp.exp(lf1), "k", lw=2, label="f1 (true)")
  ax[0].plot(x, jnp.exp(lf0), "k:", label="f0")
  for j in (0, len(ns) - 1):
    p_n = jax.tree_util.tree_map(lambda p: p[:, j], params)          # every seed at this n
    logit = jax.vmap(lambda p: gan.discriminator_logit(p, x[:, None]))(p_n)
    est = np.asarray(jax.vmap(lambda lg: gan.density_from_logit(lf0, lg))(logit), np.float64)
    mean, half = est.mean(0), crit * est.std(0, ddof=1) / np.sqrt(seeds)
    line, = ax[0].plot(x, np.exp(mean), label=f"f0 D/(1-D), n={ns[j]} (geometric mean)")
    ax[0].fill_between(x, np.exp(mean - half), np.exp(mean + half), color=line.get_color(),
                       alpha=0.25)
  # A log axis: the small-n estimate overshoots f1 by a factor ~100 in places, which on a linear
  # axis flattens every other curve; the error measured is |log f1_hat - log f1| anyway. The
  # axis stops at 10 x max f1 (the small-n band runs above it).
  top = 10 * float(jnp.exp(lf1).max())
  ax[0].set(yscale="log", ylim=(1e-3, top), xlabel="x",
            ylabel="density (per unit x, log axis)",
            title=f"f1 from a trained discriminator ({seeds} seeds, 95% band;\naxis clipped at "
                  f"{top:.2g} = 10 max f1)")
  ax[0].legend(fontsize=8)
  ax[1].errorbar(ns, err.mean(0), yerr=crit * se, fmt="o-", capsize=3,
                 label=f"mean over {seeds} seeds (95% CI, t)")
  ax[1].set(xscale="log", yscale="log", xlabel="samples per distribution n (count)",
            ylabel="E_P1 |log f1_hat - log f1| (nats)", title="error shrinks with n")
  ax[1].legend()
  save(fig, out, "q5_discriminator")


def main(argv=None) -> None:
  common.main(run, __doc__, argv)


if __name__ == "__main__":
  main()
