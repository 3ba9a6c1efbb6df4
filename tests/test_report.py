"""gdm-jax report: the page has a summary (counts per question and verdict, a chart), a table of
contents, the environment, the claims table with detects and effect, the errata, figures and the
experiments' tables as HTML tables; a failed experiment is shown with its stderr. Rendered in
headless Chromium where it is installed (`.ci/run` installs it from Debian's packages)."""
import re
import shutil
import subprocess

import numpy as np
import pytest

from gdm_jax import claims, report
from gdm_jax.claims.core import Config, environment, run_claims
from gdm_jax.experiments import ExperimentRun

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
  out = tmp_path_factory.mktemp("report")
  figs = out / "figures"
  figs.mkdir()
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots()
  ax.plot(np.arange(3))
  fig.savefig(figs / "q7_parallel_lines.png")
  plt.close(fig)
  (figs / "q7_parallel_lines.csv").write_text("theta,JSD\n-1.0,0.6931471805599453\n0,0.0\n")
  (figs / "q2_gaps.csv").write_text("encoder,amortisation gap\nrank-1 mean,2.30679123\n")
  (figs / "q3_stale.png").write_bytes((figs / "q7_parallel_lines.png").read_bytes())
  results = run_claims(claims.select("q6.written_r2*,q7.partial*"), Config())
  runs = [ExperimentRun("q7_jsd", 0, 1.5, ("q7_parallel_lines.csv", "q7_parallel_lines.png"), ""),
          ExperimentRun("q2_amortised", 0, 2.0, ("q2_gaps.csv",), ""),
          ExperimentRun("q5_discriminator", 1, 0.7, (),
                        "Traceback (most recent call last):\nValueError: boom <b>here</b>\n")]
  files = {f for r in runs for f in r.files}
  return report.render(results, environment(Config()), figs, out, runs, files)


def test_markdown_twin_has_summary_tables_errata_and_figure(page):
  _, md = page
  text = md.read_text()
  assert "## Summary" in text and "| Q6 variational KL bounds | 0 | 1 | 0 | 1/1 |" in text
  assert "`q6.written_r2_iff`" in text and "## Errata" in text
  assert "![q7_parallel_lines](figures/q7_parallel_lines.png)" in text
  assert "| theta | JSD |" in text and "| -1 | 0.6931 |" in text  # a table, 4 digits
  assert "q5_discriminator FAILED" in text and "ValueError: boom" in text
  assert "q3_stale" not in text  # a file this run's experiments did not write


def test_html_is_self_contained_with_summary_toc_environment_and_tables(page):
  html_path, _ = page
  text = html_path.read_text()
  assert "data:image/png;base64," in text and "src='figures/" not in text  # nothing external
  for anchor in ("summary", "environment", "verdicts", "errata", "experiments"):
    assert f"href='#{anchor}'" in text and re.search(rf"id='{anchor}'", text)
  assert "<svg id='verdict-chart'" in text and "<table id='summary-table'>" in text
  env = text.split("id='environment-table'>")[1].split("</table>")[0]
  assert "<th>dtype</th><td>float32</td>" in env and "<th>devices</th>" in env
  assert "x64" not in text
  verdicts = text.split("id='verdicts-table'>")[1].split("</table>")[0]
  assert "<th title='smallest discrepancy detected with probability 0.99'>detects</th>" in verdicts
  assert "effect</th>" in verdicts and "q7.partial_overlap" in verdicts
  assert "<table class='data' id='table-q7_parallel_lines'>" in text
  assert "<td>0.6931</td>" in text and "<pre>| theta" not in text  # HTML, not raw markdown
  assert "id='failed-experiments'" in text and "ValueError: boom &lt;b&gt;here&lt;/b&gt;" in text
  assert "FAILED" in text.split("id='headline'")[1].split("</p>")[0]


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install "
                    "chromium; .ci/run does it where it can)")
def test_chromium_renders_summary_tables_and_figures(page, tmp_path):
  html_path, _ = page
  flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           f"--user-data-dir={tmp_path / 'profile'}"]
  dom = subprocess.run(flags + ["--dump-dom", html_path.as_uri()], capture_output=True,
                       text=True, timeout=120).stdout
  assert 'id="summary-table"' in dom and 'id="verdict-chart"' in dom and 'id="toc"' in dom
  assert 'id="verdicts-table"' in dom and "q6.written_r2_iff" in dom
  assert 'id="table-q7_parallel_lines"' in dom and dom.count("<img") == 1
  assert "data:image/png;base64," in dom
  shot = tmp_path / "page.png"
  subprocess.run(flags + ["--window-size=1280,2400", f"--screenshot={shot}", html_path.as_uri()],
                 capture_output=True, timeout=120)
  import matplotlib.image
  img = matplotlib.image.imread(shot)
  assert img.shape[:2] == (2400, 1280)
  # The chart and the figure are drawn: the page is not one colour.
  assert float(np.asarray(img[..., :3]).std()) > 0.05


def test_a_failing_experiment_is_reported_with_its_stderr(tmp_path):
  from gdm_jax import experiments
  lines = []
  runs = experiments.run_each(tmp_path, names=["no_such_experiment"], progress=lines.append)
  assert [r.ok for r in runs] == [False] and "No module named" in runs[0].stderr
  assert lines[0] == "[1/1] no_such_experiment ..."
  assert "[1/1] no_such_experiment FAILED in" in lines[1] and "No module named" in lines[1]


def test_experiment_globs_are_checked_before_anything_runs(capsys):
  from gdm_jax import cli, experiments
  assert experiments.select("q4*,q7_jsd") == ["q4_masks", "q7_jsd"]
  with pytest.raises(SystemExit) as e:
    cli.build_parser().parse_args(["report", "--experiments", "q9*"])
  assert e.value.code == 2 and "matches no experiment" in capsys.readouterr().err
