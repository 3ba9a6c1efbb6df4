"""Q6: R1 (NWJ) and R2 (DV) maximised with a flax critic; estimator variance versus the KL."""
import jax
import numpy as np

from gdm_jax import sweeps
from gdm_jax.claims import densities as ds, q6
from gdm_jax.experiments import common
from gdm_jax.experiments.common import out_dir, plt, save, write_table


def run(out, quick: bool = False, seed: int = 0) -> None:
  """Writes this experiment's figures and tables into ``out``."""
  out = out_dir(out)
  trained = q6.trained_bounds(seed, False)
  kl = ds.kl_p6_q6()
  fig, ax = plt.subplots(1, 2, figsize=(10, 4))
  for b, (r1v, r2v, curve) in trained.items():
    smooth = np.convolve(curve, np.ones(25) / 25, mode="valid")
    ax[0].plot(smooth, label=f"critic trained on {b.upper()} (final exact R2 = {r2v:.3f})")
  ax[0].axhline(kl, color="k", ls="--", label=f"KL = {kl:.3f}")
  ax[0].set(xlabel="Adam step", ylabel="bound on a batch (moving average)",
            title="training curves", ylim=(kl - 0.6, kl + 0.2))
  ax[0].legend()
  gaps = [0.5, 1.0, 1.5, 2.0] if quick else [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
  bv = sweeps.bound_variance(jax.random.key(seed), gaps, n=256,
                             replicates=500 if quick else 4000)
  ax[1].semilogy(bv.kl, bv.r1_var, "o-", label="R1 (NWJ) at T* = 1 + log p/q")
  ax[1].semilogy(bv.kl, bv.r2_var, "s-", label="R2 (DV) at T* = log p/q")
  ax[1].set(xlabel="true KL", ylabel="variance of the estimate (n = 256)",
            title="R1's variance grows like e^KL")
  ax[1].legend()
  save(fig, out, "q6_critics")
  print(write_table(out, "q6_bound_variance", ["KL", "R1 mean", "R1 var", "R2 mean",
                                                    "R2 var"],
                    [list(map(float, r)) for r in zip(bv.kl, bv.r1_mean, bv.r1_var, bv.r2_mean,
                                                      bv.r2_var)]))


def main(argv=None) -> None:
  common.main(run, __doc__, argv)


if __name__ == "__main__":
  main()
