"""gdm-jax report: the page has the verdict table, the errata and the figures (rendered in
headless Chromium where it is installed)."""
import shutil
import subprocess

import numpy as np
import pytest

from gdm_jax import claims, report
from gdm_jax.claims.core import Config, environment, run_claims


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
  (figs / "q7_parallel_lines.md").write_text("| theta | JSD |\n|---|---|\n| 1 | 0.69 |\n")
  results = run_claims(claims.select("q6.written_*,q7.partial*"), Config())
  return report.render(results, environment(Config()), figs, out)


def test_markdown_twin_has_table_errata_and_figure(page):
  _, md = page
  text = md.read_text()
  assert "`q6.written_r2_iff`" in text and "## Errata" in text
  assert "![q7_parallel_lines](figures/q7_parallel_lines.png)" in text


def test_html_is_self_contained(page):
  html_path, _ = page
  text = html_path.read_text()
  assert "data:image/png;base64," in text and "<table id='verdicts'>" in text
  assert "src='figures/" not in text  # no external files


@pytest.mark.skipif(not (shutil.which("chromium") or shutil.which("chromium-browser")),
                    reason="headless Chromium is not installed")
def test_chromium_renders_table_and_figures(page):
  html_path, _ = page
  exe = shutil.which("chromium") or shutil.which("chromium-browser")
  dom = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                        html_path.as_uri()], capture_output=True, text=True, timeout=120).stdout
  assert "id=\"verdicts\"" in dom and dom.count("<tr") >= 3
  assert "data:image/png;base64," in dom and "q6.written_r2_iff" in dom
