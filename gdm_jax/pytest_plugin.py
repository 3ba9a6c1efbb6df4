r"""A pytest plugin for statistical tests: a PRNG key per test, and the false-failure rate of a
stochastic test measured over seeds (TFP's ``--vary_seed`` made into a measurement).

Installed with gdm-jax (entry point ``pytest11``); ``-p gdm_jax.pytest_plugin`` loads it
explicitly (e.g. from a source tree), and a ``conftest.py`` may name it in ``pytest_plugins``.

- ``gdm_key``: a fixture, the key ``fold_in(key(seed), crc32(test id))``, with ``seed`` from
  ``--gdm-seed`` (default 0): every test has its own key, the same from run to run and
  independent of which other tests run (:func:`gdm_jax.problems.claim_key`).
- ``@pytest.mark.stochastic(rate=1e-3)``: the test's assertion fails, for correct code, with
  probability at most ``rate`` at a random seed (its declared false-failure rate).
- ``--gdm-vary-seed N``: every ``stochastic`` test runs at the N seeds ``S, S + 1, ..., S + N - 1``
  (``S`` = ``--gdm-seed``). A run that fails its assertion (``AssertionError``) is counted, not
  reported as a failure; any other exception is an error as usual. At the end each test's observed
  failure rate :math:`k/N` is printed with its Clopper-Pearson 95% interval, and the session fails
  when a test's interval lies above its declared rate (:math:`\text{lower} > rate`: the failures
  are too many for the rate it declares). An interval that lies below it is not a failure (the
  test is conservative), and with small N the interval is wide: N of a few times ``1/rate``
  resolves the rate.
"""
from __future__ import annotations

import re

import pytest

_SEED_ID = "gdm-seed="
_SEED_RE = re.compile(r"-?\b" + re.escape(_SEED_ID) + r"\d+\b-?")


def pytest_addoption(parser):
  g = parser.getgroup("gdm-jax", "gdm-jax statistical tests")
  g.addoption("--gdm-seed", type=int, default=0, metavar="SEED",
              help="the seed of the gdm_key fixture, 0 to 2**32 - 1 (default 0)")
  g.addoption("--gdm-vary-seed", type=int, default=0, metavar="N",
              help="run every @pytest.mark.stochastic test at N seeds and compare its observed "
              "failure rate (95%% interval) with the rate it declares; fail the session when it "
              "lies above")


def pytest_configure(config):
  config.addinivalue_line(
      "markers", "stochastic(rate): a statistical test whose assertion fails with probability at "
      "most `rate` for correct code (its false-failure rate); --gdm-vary-seed N measures it")
  seed, n = config.getoption("--gdm-seed"), config.getoption("--gdm-vary-seed")
  from gdm_jax.jaxconfig import MAX_SEED
  if not 0 <= seed <= MAX_SEED:
    raise pytest.UsageError(f"--gdm-seed must be in [0, {MAX_SEED}]; got {seed}.")
  if n < 0 or seed + max(n, 1) - 1 > MAX_SEED:
    raise pytest.UsageError(f"--gdm-vary-seed must be >= 0 (0: off) with --gdm-seed + N - 1 <= "
                            f"{MAX_SEED}; got {n}.")
  if n > 0:
    config.pluginmanager.register(_Tally(), "gdm_jax.pytest_plugin.tally")


def _rate(marker, where: str) -> float:
  """The declared rate of a ``stochastic`` marker; a usage error names the test and the fix."""
  rate = marker.kwargs.get("rate", marker.args[0] if marker.args else None)
  try:
    ok = rate is not None and not isinstance(rate, bool) and 0.0 < float(rate) < 1.0
  except (TypeError, ValueError):
    ok = False
  if not ok:
    raise pytest.UsageError(f"{where}: @pytest.mark.stochastic needs its false-failure rate in "
                            f"(0, 1), e.g. @pytest.mark.stochastic(rate=1e-3); got {rate!r}.")
  return float(rate)


def pytest_generate_tests(metafunc):
  marker = metafunc.definition.get_closest_marker("stochastic")
  if marker is None:
    return
  _rate(marker, metafunc.definition.nodeid)
  n = metafunc.config.getoption("--gdm-vary-seed")
  if n > 0:
    first = metafunc.config.getoption("--gdm-seed")
    metafunc.fixturenames.append("_gdm_vary_seed")
    metafunc.parametrize("_gdm_vary_seed", range(first, first + n), indirect=True,
                         ids=lambda s: f"{_SEED_ID}{s}")


@pytest.fixture
def _gdm_vary_seed(request):
  return request.param


def base_id(nodeid: str) -> str:
  """The test's id without the ``gdm-seed=N`` of ``--gdm-vary-seed`` (``t.py::f[gdm-seed=3]``
  -> ``t.py::f``; ``t.py::f[a-gdm-seed=3]`` -> ``t.py::f[a]``)."""
  out = _SEED_RE.sub("", nodeid)
  return out[:-2] if out.endswith("[]") else out


def _seed(request) -> int:
  callspec = getattr(request.node, "callspec", None)
  if callspec is not None and "_gdm_vary_seed" in callspec.params:
    return int(callspec.params["_gdm_vary_seed"])
  return int(request.config.getoption("--gdm-seed"))


@pytest.fixture
def gdm_key(request):
  """A PRNG key for this test: ``fold_in(key(seed), crc32(test id))``, ``seed`` from
  ``--gdm-seed`` (each seed of ``--gdm-vary-seed`` in turn), the id without that seed."""
  from gdm_jax.problems import claim_key
  return claim_key(_seed(request), base_id(request.node.nodeid))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
  outcome = yield
  callspec = getattr(item, "callspec", None)
  if call.when != "call" or callspec is None or "_gdm_vary_seed" not in callspec.params:
    return
  rep = outcome.get_result()
  rate = _rate(item.get_closest_marker("stochastic"), item.nodeid)
  failed = rep.failed and call.excinfo is not None and call.excinfo.errisinstance(AssertionError)
  if rep.failed and not failed:  # a crash (not an assertion) is an error, never a count
    return
  rep.user_properties.append(("gdm_stochastic", (base_id(item.nodeid), rate, bool(failed))))
  if failed:  # a false failure is counted, not a failure of the session
    rep.outcome = "passed"
    rep.user_properties.append(("gdm_failed_at_seed", True))


def pytest_report_teststatus(report, config):
  # any(...): under pytest-xdist the properties arrive as lists, not tuples
  if report.when == "call" and any(p[0] == "gdm_failed_at_seed" for p in report.user_properties):
    return "failed at its seed", "s", ("FAILED AT ITS SEED (counted)", {"yellow": True})
  return None


def rows(tally: dict) -> list[dict]:
  """Per test: failures, seeds, rate, its 95% interval, declared rate, whether consistent."""
  from gdm_jax.stats import binomial_ci
  out = []
  for (test, rate), fails in sorted(tally.items()):
    k, n = sum(fails), len(fails)
    lo, hi = binomial_ci(k, n)
    out.append({"test": test, "failures": k, "seeds": n, "rate": k / n, "ci95": (lo, hi),
                "declared": rate, "consistent": lo <= rate})
  return out


class _Tally:
  """The outcomes of the stochastic tests at each seed, kept where the reports arrive (the
  controller under pytest-xdist: the workers' reports carry them in ``user_properties``)."""

  def __init__(self):
    self.fails: dict[tuple[str, float], list[bool]] = {}

  def pytest_runtest_logreport(self, report):
    if report.when != "call":
      return
    for name, value in report.user_properties:
      if name == "gdm_stochastic":
        test, rate, failed = value
        self.fails.setdefault((test, float(rate)), []).append(bool(failed))

  @pytest.hookimpl(tryfirst=True)
  def pytest_sessionfinish(self, session, exitstatus):
    if self.fails and not all(r["consistent"] for r in rows(self.fails)):
      if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

  def pytest_terminal_summary(self, terminalreporter, exitstatus, config):
    tr = terminalreporter
    tr.section("gdm-jax: observed failure rates over seeds")
    if not self.fails:
      tr.write_line("no @pytest.mark.stochastic test ran")
      return
    table = rows(self.fails)
    width = max(len(r["test"]) for r in table)
    for r in table:
      lo, hi = r["ci95"]
      verdict = ("consistent with" if r["consistent"] else "ABOVE") + \
          f" its declared rate {r['declared']:g}"
      tr.write_line(f"{r['test']:{width}s}  {r['failures']:3d}/{r['seeds']:<3d} failed  rate "
                    f"{r['rate']:.3f}  95% CI [{lo:.3f}, {hi:.3f}]  {verdict}",
                    red=not r["consistent"], green=r["consistent"])
    bad = [r for r in table if not r["consistent"]]
    if bad:
      tr.write_line(f"{len(bad)} test{'s fail' if len(bad) > 1 else ' fails'} more often than "
                    "declared (the interval lies above the rate): the session fails",
                    red=True, bold=True)
