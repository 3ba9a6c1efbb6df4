"""Q5's claims beyond the library's unit tests: the "same support" erratum fails for the written
statement and holds for the corrected one, and the trained discriminator's shrinkage test refutes
a discriminator that ignores ``n_used``."""
import numpy as np
import pytest

from gdm_jax.claims import q5
from gdm_jax.claims.core import Config


@pytest.mark.parametrize("x64", [False, True])
def test_same_support_written_fails_corrected_holds(x64):
  cfg = Config(x64=x64)
  written = q5.support_evidence("written", cfg)
  assert written.problem() is None and not written.holds
  assert written.measured == pytest.approx(0.5) and written.effect == pytest.approx(0.5)
  # The corrected statement (f0 > 0 wherever f1 > 0): the question's same support and a nested
  # support both recover f1's whole mass.
  for pair in ("same_support", "nested"):
    ev = q5.support_evidence(pair, cfg)
    assert ev.holds, (pair, ev.measured)


def test_support_pairs_are_densities():
  h = 2.0 / q5.SUPPORT_CELLS
  x = (np.arange(q5.SUPPORT_CELLS) + 0.5) * h
  for pair in q5.SUPPORT_PAIRS:
    lf0, lf1 = q5.support_pair(pair, x)
    assert np.sum(np.exp(lf0)) * h == pytest.approx(1.0)
    assert np.sum(np.exp(lf1)) * h == pytest.approx(1.0)
  with pytest.raises(ValueError, match="unknown pair"):
    q5.support_pair("disjoint", x)


def test_shrinkage_threshold_is_independent_of_the_measurement(monkeypatch):
  # Identical arms (a discriminator that ignores n_used): every paired difference is 0, which is
  # refuted against the stated minimum, not an error; the threshold comes from the oracle alone.
  cfg = Config()
  errs = np.linspace(0.1, 0.2, q5.SEEDS)
  monkeypatch.setattr(q5, "trained_errors", lambda seed, x64: (errs, errs))
  ev = q5.check_shrinks(None, cfg)
  assert ev.reference == pytest.approx(q5.MIN_SHRINK * q5.baseline_error())
  assert ev.effect == ev.reference and ev.problem() is None and not ev.holds
  # A drop of twice the threshold, with spread: holds.
  monkeypatch.setattr(q5, "trained_errors",
                      lambda seed, x64: (errs + 2 * ev.reference, errs[::-1]))
  assert q5.check_shrinks(None, cfg).holds
