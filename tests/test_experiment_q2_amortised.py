"""gdm_jax.experiments.q2_amortised's helper: the cost of serving n new points."""
import jax

from gdm_jax import amortized as am, models
from gdm_jax.experiments import q2_amortised


def test_serving_cost_reports_its_spread():
  m = models.random_linear_gaussian(jax.random.key(0), 2, 3, 0.7)
  enc = am.Encoder(2)
  x = m.sample(jax.random.key(1), 4)[0]
  params = enc.init(jax.random.key(2), x)
  (row,) = q2_amortised.serving_cost(jax.random.key(3), m, enc, params, [4], steps=3, repeats=3)
  assert row.amortised_range[0] <= row.amortised_seconds <= row.amortised_range[1]
  assert row.instance_range[0] <= row.instance_seconds <= row.instance_range[1]
