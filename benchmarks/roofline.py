"""Achieved FLOP/s of the dense log-weight computation (z @ W^T, residual, squared norm) against
a plain matmul of the same shape measured in the same run: the practical roofline."""
from _common import record, timeit
import jax
import jax.numpy as jnp

from gdm_jax import models


def main(argv=None):
  import argparse
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument("--K", type=int, default=5000)
  p.add_argument("--square", type=int, default=2048)
  p.add_argument("--smoke", action="store_true", help="tiny settings (CI)")
  a = p.parse_args(argv)
  if a.smoke:
    a.K, a.square = 16, 64
  B, d, D, K = 32, 32, 784, a.K
  model = models.random_linear_gaussian(jax.random.key(0), d, D, 0.5)
  x, _ = model.sample(jax.random.key(1), B)
  z = jax.random.normal(jax.random.key(2), (B, K, d))
  lw = jax.jit(lambda z: jax.vmap(lambda xi, zi: model.log_likelihood(xi, zi))(x, z))
  mm = jax.jit(lambda z: jnp.einsum("bkd,Dd->bkD", z, model.W))
  flops_mm = 2.0 * B * K * d * D
  flops_lw = flops_mm + 3.0 * B * K * D  # + bias/residual, square, sum
  _, t_lw = timeit(lw, z)
  _, t_mm = timeit(mm, z)
  big = jax.random.normal(jax.random.key(3), (a.square, a.square))
  _, t_big = timeit(jax.jit(lambda m: m @ m), big)
  peak = 2.0 * a.square ** 3 / t_big
  res = {"logweights_gflops": flops_lw / t_lw / 1e9, "same_shape_matmul_gflops": flops_mm / t_mm /
         1e9, "square_matmul_gflops": peak / 1e9}
  res["fraction_of_same_shape_matmul"] = res["logweights_gflops"] / res["same_shape_matmul_gflops"]
  res["fraction_of_square_matmul"] = res["logweights_gflops"] / res["square_matmul_gflops"]
  record("roofline" + ("_smoke" if a.smoke else ""), res, f"log-weights {res['logweights_gflops']:.1f} GFLOP/s = "
         f"{100 * res['fraction_of_same_shape_matmul']:.0f}% of a same-shape matmul "
         f"({res['same_shape_matmul_gflops']:.1f}), {100 * res['fraction_of_square_matmul']:.0f}% "
         f"of a {a.square}^2 matmul ({res['square_matmul_gflops']:.1f} GFLOP/s)")


if __name__ == "__main__":
  main()
