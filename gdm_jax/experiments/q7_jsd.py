"""Q7: the parallel-lines example. JSD saturates at log 2 with zero gradient; W1 = |theta|."""
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm

from gdm_jax import divergences as dv
from gdm_jax.experiments import common
from gdm_jax.experiments.common import out_dir, plt, save, write_table


def parallel_lines_curve(thetas, sigma: float = 0.05, grid_points: int = 24001,
                         half_width: float = 6.0):
  r"""JSD between N(0, sigma^2) and N(theta, sigma^2) in x (lines blurred by sigma; the y parts
  are identical) by quadrature on ``grid_points`` points of [-half_width, half_width], with its
  autodiff gradient, and ``W1 = |theta|``.

  The gradient is not zero near theta = 0: it peaks at about 0.23 / sigma (11.7 nats per unit
  theta for sigma = 0.02) at theta ~ 1.65 sigma and is still 1.18 at theta = 5 sigma (0.1) before
  it vanishes, so a curve needs theta steps well below sigma near 0 to show it (thetas 0.1 apart
  show one spurious-looking spike at +-0.1). The quadrature grid must resolve sigma: at least 20 points per sigma (a ValueError
  otherwise), and every ``|theta| + 8 sigma`` must lie inside the grid.
  """
  thetas = np.asarray(thetas, np.float64)
  h = 2 * half_width / (grid_points - 1)
  if sigma < 20 * h:
    raise ValueError(f"`sigma` = {sigma} is not resolved by the quadrature grid (spacing {h:.3g}; "
                     "need sigma >= 20 x spacing): raise `grid_points`")
  if thetas.size and np.max(np.abs(thetas)) + 8 * sigma > half_width:
    raise ValueError(f"`thetas` reach {np.max(np.abs(thetas))}, beyond the grid's half width "
                     f"{half_width} less 8 sigma")
  grid = jnp.linspace(-half_width, half_width, grid_points)
  f = jax.jit(jax.vmap(jax.value_and_grad(lambda th: dv.jsd_quadrature(
      norm.logpdf(grid, 0.0, sigma), norm.logpdf(grid, th, sigma), grid))))
  vals, grads = f(jnp.asarray(thetas, grid.dtype))
  return (thetas, np.asarray(vals, np.float64), np.asarray(grads, np.float64), np.abs(thetas))


def run(out, quick: bool = False, seed: int = 0) -> None:
  """Writes this experiment's figures and tables into ``out``."""
  out = out_dir(out)
  sigma = 0.02
  # Near 0 the blurred lines overlap and the gradient is large (up to ~0.23 / sigma): sample
  # theta at sigma / 4 there, in quick mode too (a coarse grid alone shows one spike at +-0.1).
  coarse = np.linspace(-1.0, 1.0, 21 if quick else 81)
  fine = np.linspace(-8 * sigma, 8 * sigma, 65)
  thetas = np.unique(np.round(np.concatenate([coarse, fine]), 12))
  th, jsd, grad, w1 = parallel_lines_curve(thetas, sigma=sigma)
  fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
  ax[0].plot(th, jsd, ".-", ms=3, label=f"JSD (nats; lines blurred by sigma = {sigma})")
  ax[0].plot(th, w1, label="W1 = |theta| (units of x)")
  ax[0].axhline(np.log(2), color="k", ls=":", label="log 2")
  ax[0].set(xlabel="theta (offset of the second line, units of x)",
            ylabel="JSD (nats) / W1 (units of x)", title="divergence between P_0 and P_theta")
  ax[0].legend(fontsize=8)
  for a in ax[1:]:
    a.plot(th, grad, ".-", ms=3, label="d JSD / d theta (autodiff)")
    a.plot(th, np.sign(th), label="d W1 / d theta")
    a.set(xlabel="theta (units of x)", ylabel="derivative (nats per unit theta; W1: 1)")
  ax[1].set(title="gradients: JSD's vanishes away from 0")
  ax[1].legend(fontsize=8)
  for k in (-5, 5):
    ax[2].axvline(k * sigma, color="0.6", ls=":", label="theta = +-5 sigma" if k > 0 else None)
  ax[2].set(xlim=(-8 * sigma, 8 * sigma), title="zoom: nonzero while the lines overlap")
  ax[2].legend(fontsize=8)
  save(fig, out, "q7_parallel_lines")
  shown = np.concatenate([coarse[:: (4 if not quick else 2)], fine[::4]])
  keep = np.isclose(th[:, None], shown[None, :], rtol=0, atol=1e-9).any(1)
  print(write_table(out, "q7_parallel_lines", ["theta", "JSD (nats)", "dJSD/dtheta", "W1"],
                    [[float(a), float(b), float(c), float(d)]
                     for a, b, c, d in zip(th[keep], jsd[keep], grad[keep], w1[keep])]))


def main(argv=None) -> None:
  common.main(run, __doc__, argv)


if __name__ == "__main__":
  main()
