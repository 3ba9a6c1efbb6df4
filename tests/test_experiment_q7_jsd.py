"""gdm_jax.experiments.q7_jsd: the smoothed parallel lines (JSD by quadrature, its gradient) and
the script."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gdm_jax.experiments import q7_jsd

ROOT = Path(__file__).resolve().parents[1]


def test_parallel_lines_curve():
  th, jsd, grad, w1 = q7_jsd.parallel_lines_curve([0.0, 0.5], sigma=0.02)
  np.testing.assert_allclose(jsd, [0.0, np.log(2)], atol=1e-6)
  assert abs(grad[1]) < 1e-5 and np.allclose(w1, [0.0, 0.5])


def _jsd_quad(theta, sigma):
  """JSD(N(0, s^2) || N(theta, s^2)) by scipy quad of the definition (the oracle)."""
  from scipy import integrate, stats as ss
  def f(x):
    p, q = ss.norm.pdf(x, 0, sigma), ss.norm.pdf(x, theta, sigma)
    m = 0.5 * (p + q)
    return 0.5 * (p * np.log(p / m) if p > 0 else 0.0) + 0.5 * (q * np.log(q / m) if q > 0 else 0.0)
  lo, hi = min(0.0, theta) - 12 * sigma, max(0.0, theta) + 12 * sigma
  return integrate.quad(f, lo, hi, points=[0.0, theta / 2, theta], limit=400, epsabs=1e-13)[0]


def test_parallel_lines_gradient_near_zero_is_real_not_a_grid_artefact():
  # The +-1.2 at theta = +-0.1 that quick plots showed is the true derivative at 5 sigma (a coarse
  # theta grid made it look like a spike); the peak, ~11.7 at 1.65 sigma, needs finer thetas.
  sigma, h = 0.02, 1e-4
  th = np.array([0.033, 0.1, -0.1])
  _, jsd, grad, _ = q7_jsd.parallel_lines_curve(th, sigma=sigma)
  want = [(_jsd_quad(t + h, sigma) - _jsd_quad(t - h, sigma)) / (2 * h) for t in th]
  np.testing.assert_allclose(grad, want, rtol=2e-3)
  np.testing.assert_allclose(jsd[1], _jsd_quad(0.1, sigma), rtol=1e-5)
  assert 11 < grad[0] < 12.5 and abs(grad[1] - 1.1845) < 0.01


def test_parallel_lines_curve_refuses_an_unresolved_sigma():
  with pytest.raises(ValueError, match="not resolved"):
    q7_jsd.parallel_lines_curve([0.1], sigma=0.005)
  with pytest.raises(ValueError, match="beyond the grid"):
    q7_jsd.parallel_lines_curve([5.9], sigma=0.02)


def test_experiment_script_runs(tmp_path):
  proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "q7_jsd.py"), "--quick",
                         "--out", str(tmp_path)], capture_output=True, text=True)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert (tmp_path / "q7_parallel_lines.png").stat().st_size > 1000
  assert "theta" in (tmp_path / "q7_parallel_lines.md").read_text()
  # Quick mode samples theta finely near 0, where the gradient lives (not 0.1 apart).
  import csv
  with open(tmp_path / "q7_parallel_lines.csv") as f:
    thetas = sorted(float(r[0]) for r in list(csv.reader(f))[1:])
  assert sum(0 < t < 0.1 for t in thetas) >= 3
