"""The README's library examples run as written: each block after `<!-- example: NAME -->` is
written to NAME and run (pytest for test_*.py files, python otherwise)."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"<!-- example: (\S+) -->\n```python\n(.*?)```", (ROOT / "README.md").read_text(),
                    re.S)


def test_the_readme_has_the_three_examples():
  assert [n for n, _ in BLOCKS] == ["vae_digits.py", "test_my_bounds.py", "made.py"]


@pytest.mark.parametrize("name, code", BLOCKS, ids=[n for n, _ in BLOCKS])
def test_example_runs(tmp_path, name, code):
  pytest.importorskip("sklearn")
  f = tmp_path / name
  f.write_text(code)
  cmd = ([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(f)]
         if name.startswith("test_") else [sys.executable, str(f)])
  proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
