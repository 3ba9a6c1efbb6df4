"""gdm-jax as a user installs it: `pip install .` (not editable) into a fresh virtual environment,
then `gdm-jax report` from another folder runs an experiment that ships in the package and writes
a figure. The environment sees this interpreter's packages (jax, matplotlib) through a .pth file,
and the install uses no index and no build isolation when setuptools is new enough (offline)."""
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _setuptools_ok() -> bool:
  try:
    import setuptools
  except ImportError:
    return False
  return int(setuptools.__version__.split(".")[0]) >= 77  # pyproject's build requirement


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
  """A venv with gdm-jax installed from a copy of the source (so no build files land in the
  tree); returns its bin folder."""
  tmp = tmp_path_factory.mktemp("install")
  src = tmp / "src"
  ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
  shutil.copytree(ROOT / "gdm_jax", src / "gdm_jax", ignore=ignore)
  for f in ["pyproject.toml", "README.md", *[p.name for p in ROOT.glob("LICEN[CS]E*")]]:
    shutil.copy(ROOT / f, src / f)
  venv = tmp / "venv"
  subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
  py = venv / "bin" / "python"
  purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()"
                            "['purelib'])"], capture_output=True, text=True,
                           check=True).stdout.strip()
  # This interpreter's site-packages (its own and those it chains to), after the venv's own
  # (where gdm_jax is installed). Plain paths: the .pth files there (an editable gdm_jax's
  # finder) are not run, and the source tree is not among them.
  here = [p for p in dict.fromkeys(site.getsitepackages() + [sysconfig.get_paths()["purelib"]]
                                   + sys.path)
          if os.path.isdir(p) and Path(p).name in ("site-packages", "dist-packages")]
  Path(purelib, "zz_parent_site.pth").write_text("\n".join(here) + "\n")
  offline = ["--no-index", "--no-build-isolation"] if _setuptools_ok() else []
  cmd = [sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps",
         *offline, str(src)]
  proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp, timeout=300)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  return venv / "bin", tmp


def _env(tmp):
  env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "JAX_ENABLE_X64")}
  env["XDG_CACHE_HOME"] = str(tmp / "cache")
  return env


def test_installed_package_is_not_the_source_tree(installed):
  bin_dir, tmp = installed
  where = subprocess.run([str(bin_dir / "python"), "-c", "import gdm_jax.experiments.q4_masks as m;"
                          " print(m.__file__)"], capture_output=True, text=True, cwd=tmp,
                         env=_env(tmp))
  assert where.returncode == 0, where.stderr[-2000:]
  path = Path(where.stdout.strip())
  assert "site-packages" in path.parts and ROOT not in path.parents


def test_installed_report_runs_an_experiment_and_embeds_its_figure(installed):
  bin_dir, tmp = installed
  out = tmp / "report"
  proc = subprocess.run([str(bin_dir / "gdm-jax"), "report", "--quick", "--only", "q4.field_AA",
                         "--experiments", "q4_masks", "--out", str(out), "--workers", "1"],
                        capture_output=True, text=True, cwd=tmp, env=_env(tmp), timeout=240)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  assert "[1/1] q4_masks ..." in proc.stdout
  assert "[1/1] q4_masks done in" in proc.stdout and "(2 figures:" in proc.stdout
  assert (out / "figures" / "q4_receptive_fields.png").stat().st_size > 1000
  page = (out / "report.html").read_text()
  assert page.count("<img") == 2 and "data:image/png;base64," in page
