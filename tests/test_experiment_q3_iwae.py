"""gdm_jax.experiments.q3_iwae's helpers: L_K versus K and gradient SNR versus K on the
LinearGaussian (exact log p(x) as the oracle)."""
import jax
import jax.numpy as jnp
import numpy as np

from gdm_jax import models, stats
from gdm_jax.experiments import q3_iwae


def test_lk_sweep_brackets_log_marginal():
  m = models.random_linear_gaussian(jax.random.key(0), 2, 3, 0.7)
  x = m.sample(jax.random.key(1), 1)[0][0]
  pm, pc = m.posterior(x)
  s = q3_iwae.lk_sweep(jax.random.key(2), m, x, pm + 0.3, 1.2 * jnp.sqrt(jnp.diagonal(pc)),
                       [1, 16], 400)
  z = stats.z_for_rate(1e-4, two_sided=False)
  assert np.all(s.mean <= s.log_px + z * s.se)  # L_K <= log p(x)
  assert s.mean[1] > s.mean[0] and s.var[1] < s.var[0]


def test_snr_sweep_decoder_snr_rises_and_encoder_falls():
  # Rainforth et al. (2018): with K the decoder gradient's SNR grows and the IWAE encoder's falls.
  m = models.random_linear_gaussian(jax.random.key(7), 2, 4, 0.7)
  x = m.sample(jax.random.key(8), 1)[0][0]
  pm, pc = m.posterior(x)
  s = q3_iwae.snr_sweep(jax.random.key(9), m, x, pm + 0.3, jnp.log(jnp.sqrt(jnp.diag(pc))),
                        [1, 64], 400)
  assert isinstance(s, q3_iwae.SnrSweep)
  assert s.decoder_iwae[1] > s.decoder_iwae[0] and s.encoder_iwae[1] < s.encoder_iwae[0]
  # The debiased estimate with its jackknife SE (sweeps.grad_snr_sweep), no entry constant.
  assert np.all(np.isfinite(s.se["decoder_iwae"])) and np.all(s.se["decoder_iwae"] > 0)
  assert all(c.tolist() == [0, 0] for c in s.constant.values())
