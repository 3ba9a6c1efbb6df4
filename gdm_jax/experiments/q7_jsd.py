"""Q7: the parallel-lines example. JSD saturates at log 2 with zero gradient; W1 = |theta|."""
import numpy as np

from gdm_jax import sweeps
from gdm_jax.experiments import common
from gdm_jax.experiments.common import out_dir, plt, save, write_table


def run(out, quick: bool = False, seed: int = 0) -> None:
  """Writes this experiment's figures and tables into ``out``."""
  out = out_dir(out)
  thetas = np.linspace(-1.0, 1.0, 21 if quick else 81)
  th, jsd, grad, w1 = sweeps.parallel_lines_curve(thetas, sigma=0.02)
  fig, ax = plt.subplots(1, 2, figsize=(10, 4))
  ax[0].plot(th, jsd, label="JSD (lines blurred by sigma = 0.02)")
  ax[0].plot(th, w1, label="W1 = |theta|")
  ax[0].axhline(np.log(2), color="k", ls=":", label="log 2")
  ax[0].set(xlabel="theta", title="divergence between P_0 and P_theta")
  ax[0].legend()
  ax[1].plot(th, grad, label="d JSD / d theta (autodiff)")
  ax[1].plot(th, np.sign(th), label="d W1 / d theta")
  ax[1].set(xlabel="theta", title="gradients: JSD's vanishes away from 0")
  ax[1].legend()
  save(fig, out, "q7_parallel_lines")
  print(write_table(out, "q7_parallel_lines", ["theta", "JSD", "dJSD/dtheta", "W1"],
                    [[float(a), float(b), float(c), float(d)]
                     for a, b, c, d in zip(th, jsd, grad, w1)][:: (4 if not quick else 2)]))


def main(argv=None) -> None:
  common.main(run, __doc__, argv)


if __name__ == "__main__":
  main()
