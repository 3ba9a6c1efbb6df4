"""Sharding over 4 forced CPU devices (in a subprocess) gives the single-device answers."""
import subprocess
import sys

import pytest

CODE = r"""
import jax, jax.numpy as jnp, numpy as np
jax.config.update("jax_threefry_partitionable", False)
assert len(jax.devices()) == 4, jax.devices()
from gdm_jax import bounds, models, sweeps
m = models.random_linear_gaussian(jax.random.key(0), 2, 4, 0.7)
x = m.sample(jax.random.key(1), 1)[0][0]
prop = bounds.diag_gaussian_proposal(jnp.zeros(2), jnp.ones(2))
lj = lambda z: m.log_joint(x, z)
key = jax.random.key(2)
one = jax.jit(lambda k: bounds.iwae_estimate(k, lj, prop, 4096, chunk_size=256))(key)
sharded = jax.jit(lambda k: bounds.iwae_estimate_sharded(k, lj, prop, 4096, 256))(key)
np.testing.assert_allclose(float(sharded), float(one), rtol=2e-6)
# Eagerly, a NaN log-density in one device's chunks raises as iwae_estimate does (it returned NaN).
nan_late = lambda z: jnp.where(z[:, 0] > 3.0, jnp.nan, lj(z))   # a few samples, few devices
for est in (bounds.iwae_estimate, bounds.iwae_estimate_sharded):
  try:
    est(key, nan_late, prop, 4096, 256)
    raise SystemExit(f"{est.__name__}: no error for a NaN log_joint")
  except ValueError as e:
    assert "`log_joint` returned NaN" in str(e), e
# Replicate sweeps: keys laid over the mesh give the same numbers as unsharded keys.
keys = sweeps.replicate_keys(jax.random.key(3), 8)
assert len(keys.sharding.device_set) == 4
pm, pc = m.posterior(x)
q = bounds.diag_gaussian_proposal(pm, jnp.sqrt(jnp.diagonal(pc)) * 1.2)
est = jax.jit(jax.vmap(lambda k: bounds.iwae_estimate(k, lj, q, 16)))
a, b = est(keys), est(jax.random.split(jax.random.key(3), 8))
np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)
s = sweeps.estimator_sweep(jax.random.key(4), lambda k, K: bounds.iwae_estimate(k, lj, q, K),
                           [1, 4], 8)   # the generic sweep runs over the 4-device mesh
assert np.all(np.isfinite(s.mean))
print("ok", float(one), float(sharded))
"""


def test_four_cpu_devices_match_one():
  env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
  import os
  proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                        env={**os.environ, **env})
  assert proc.returncode == 0 and proc.stdout.startswith("ok"), proc.stderr[-3000:]


def test_single_device_sharded_equals_chunked():
  import jax
  import jax.numpy as jnp
  import numpy as np
  from gdm_jax import bounds
  prop = bounds.diag_gaussian_proposal(jnp.zeros(2), jnp.ones(2))
  lj = lambda z: -0.5 * jnp.sum((z - 0.3) ** 2, -1)
  k = jax.random.key(0)
  np.testing.assert_allclose(bounds.iwae_estimate_sharded(k, lj, prop, 512, 64),
                             bounds.iwae_estimate(k, lj, prop, 512, 64), rtol=1e-12)


@pytest.mark.parametrize("which", ["log_joint", "sample_and_log_q", "inf - inf"])
def test_sharded_estimate_follows_the_nan_rule_of_iwae_estimate(which):
  # Eagerly both raise the same ValueError (the sharded one returned NaN); under jit both give NaN.
  import jax
  import jax.numpy as jnp
  from gdm_jax import bounds
  prop = bounds.diag_gaussian_proposal(jnp.zeros(2), jnp.ones(2))
  lj = lambda z: -0.5 * jnp.sum(z ** 2, -1)
  if which == "log_joint":
    lj = lambda z: jnp.full(z.shape[0], jnp.nan)
  elif which == "sample_and_log_q":
    good = prop
    prop = lambda k, n: (good(k, n)[0], jnp.full(n, jnp.nan))
  else:
    good = prop
    prop = lambda k, n: (good(k, n)[0], jnp.full(n, jnp.inf))
    lj = lambda z: jnp.full(z.shape[0], jnp.inf)
  k = jax.random.key(0)
  msgs = []
  for est in (bounds.iwae_estimate, bounds.iwae_estimate_sharded):
    with pytest.raises(ValueError) as e:
      est(k, lj, prop, 64, 16)
    msgs.append(str(e.value))
    assert jnp.isnan(jax.jit(lambda kk: est(kk, lj, prop, 64, 16))(k))
  assert msgs[0] == msgs[1]
