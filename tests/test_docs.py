"""The API reference (`make docs`, sources in docs/api): Sphinx builds it with warnings as errors;
every public module has a page and every public function, class, method and property of it is
documented there; the equations render with the local MathJax (headless Chromium, where it is
installed: `.ci/run` installs it). Skipped where Sphinx is not installed (`make docs` installs the
`docs` extra; `.ci/run` runs this file again after it)."""
import importlib
import importlib.util
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from api_names import public_names

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCES = ROOT / "docs" / "api"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# Modules of gdm_jax/*.py without a page: the command line and its report page (their interface
# is the `gdm-jax` command, documented in README.md).
NOT_API = {"__init__", "cli", "report"}
# Public modules outside gdm_jax/*.py: the claims' authoring API.
EXTRA_MODULES = ("gdm_jax.claims", "gdm_jax.claims.core")

pytestmark = pytest.mark.skipif(
  importlib.util.find_spec("sphinx") is None
  or importlib.util.find_spec("sphinx-mathjax-offline") is None,
  reason="Sphinx is not installed (`make docs` installs the `docs` extra)")


def public_modules() -> list[str]:
  tops = sorted(p.stem for p in (ROOT / "gdm_jax").glob("*.py") if p.stem not in NOT_API)
  return [f"gdm_jax.{m}" for m in tops] + list(EXTRA_MODULES)


@pytest.fixture(scope="module")
def html(tmp_path_factory) -> pathlib.Path:
  out = tmp_path_factory.mktemp("docs")
  run = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-E", "-W", "--keep-going",
                        "-q", str(SOURCES), str(out)], capture_output=True, text=True,
                       timeout=600, cwd=ROOT)
  assert run.returncode == 0, f"sphinx failed:\n{run.stdout}\n{run.stderr}"
  assert not run.stderr.strip(), run.stderr
  return out


def _ids(page: pathlib.Path) -> set[str]:
  return set(re.findall(r'<dt class="sig[^"]*" id="([^"]+)"', page.read_text()))


def test_every_public_module_has_a_page_in_the_index(html):
  pages = {}
  for rst in SOURCES.glob("*.rst"):
    for module in re.findall(r"^\.\. automodule:: (\S+)", rst.read_text(), re.M):
      pages[module] = rst.stem
  missing = [m for m in public_modules() if m not in pages]
  assert not missing, f"public modules without a page in docs/api: {missing}"
  index = (html / "index.html").read_text()
  for stem in set(pages.values()) - {"index"}:
    assert f'href="{stem}.html"' in index, f"{stem} is not in the table of contents"


def test_every_public_function_class_and_method_is_documented(html):
  documented = set()
  for page in html.glob("*.html"):
    documented |= _ids(page)
  missing = [n for m in public_modules() for n in public_names(m) if n not in documented]
  assert not missing, f"public names missing from the API reference: {missing}"
  # a sample of the rule: functions, a flax module, a NamedTuple's property
  for name in ("gdm_jax.bounds.iwae_estimate", "gdm_jax.masked_conv.MaskedConv",
               "gdm_jax.claims.core.Claim", "gdm_jax.evidence.Evidence",
               "gdm_jax.testing.assert_mean_le"):
    assert name in documented


def test_equations_use_the_local_mathjax(html):
  page = (html / "bounds.html").read_text()
  scripts = re.findall(r'<script[^>]*src="([^"]*mathjax[^"]*)"', page, re.I)
  assert scripts and all(s.startswith("_static/mathjax/") for s in scripts), scripts
  assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()
  assert "http" not in " ".join(scripts)
  assert page.count('class="math notranslate nohighlight"') >= 10  # :math: roles and blocks


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install "
                    "chromium; .ci/run does it where it can)")
def test_chromium_renders_the_equations(html, tmp_path):
  page = html / "bounds.html"
  text = page.read_text()
  n_math = text.count('class="math notranslate nohighlight"')
  flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=20000"]
  dom = subprocess.run(flags + ["--dump-dom", page.as_uri()], capture_output=True, text=True,
                       timeout=120).stdout
  # MathJax typeset every equation, none of them as an error
  assert dom.count("<mjx-container") == n_math, (dom.count("<mjx-container"), n_math)
  assert "<mjx-merror" not in dom
  # The screenshot: the page as rendered differs from the same page without MathJax (raw TeX).
  plain = html / "bounds_without_mathjax.html"
  plain.write_text(re.sub(r'<script[^>]*mathjax[^>]*></script>', "", text, flags=re.I))
  import matplotlib.image
  shots = []
  for source, name in ((page, "typeset.png"), (plain, "plain.png")):
    shot = tmp_path / name
    subprocess.run(flags + ["--window-size=1100,900", f"--screenshot={shot}", source.as_uri()],
                   capture_output=True, timeout=120)
    shots.append(np.asarray(matplotlib.image.imread(shot))[..., :3])
  typeset, raw = shots
  assert typeset.shape[:2] == (900, 1100)
  assert float(typeset.std()) > 0.05  # not a blank page
  changed = np.abs(typeset - raw).max(axis=-1) > 0.1
  assert changed.mean() > 0.01, changed.mean()  # the equations were drawn, not left as TeX
