r"""Source hygiene: no control characters in tracked text sources, raw docstrings for LaTeX.

A docstring that writes ``\beta`` without the ``r`` prefix holds a backspace and ``eta``; an
editor that saved such a string's value kept the control character even after the prefix was
added. Both are caught here: the bytes of every tracked source, and the prefix of every
docstring that holds a backslash.
"""
import ast
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SUFFIXES = (".py", ".md", ".toml", ".sh", ".cfg", ".txt", ".yml", ".yaml")
NAMES = ("Makefile", "run")   # .ci/run is a shell script without a suffix
TAB_OK = ("Makefile",)        # make's recipes must start with a tab
SOURCE_DIRS = ("gdm_jax", "tests", "experiments", "benchmarks", "docs", ".ci")


def _tracked() -> list[pathlib.Path]:
  """Tracked files (``git ls-files``), or, outside a git checkout, the files under the source
  folders and at the top level."""
  try:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True,
                         timeout=60).stdout.decode()
    paths = [ROOT / p for p in out.split("\0") if p]
  except (OSError, subprocess.SubprocessError):
    paths = [p for d in SOURCE_DIRS for p in (ROOT / d).rglob("*")] + list(ROOT.glob("*"))
  return sorted(p for p in paths
                if p.is_file() and (p.suffix in SUFFIXES or p.name in NAMES))


SOURCES = _tracked()


def test_sources_found():
  names = {p.relative_to(ROOT).as_posix() for p in SOURCES}
  assert {"pyproject.toml", "Makefile", "gdm_jax/stats.py", "tests/conftest.py"} <= names


def _control_characters(text: str, tab_ok: bool) -> list[tuple[int, str]]:
  allowed = {"\n", "\t"} if tab_ok else {"\n"}
  return [(n, repr(c)) for n, line in enumerate(text.split("\n"), 1) for c in line
          if (ord(c) < 32 or ord(c) == 127) and c not in allowed]


@pytest.mark.parametrize("tab_ok, text, found", [
    (False, "a\n\tb\n", [(2, r"'\t'")]),
    (True, "a\n\tb\n", []),
    (False, "x = 1\r\n", [(1, r"'\r'")]),
    (False, "c_\x07lpha and \x08eta\n", [(1, r"'\x07'"), (1, r"'\x08'")]),
])
def test_control_characters_finds_them(tab_ok, text, found):
  assert _control_characters(text, tab_ok) == found


def test_no_control_characters():
  bad = {}
  for path in SOURCES:
    found = _control_characters(path.read_text(encoding="utf-8"), path.name in TAB_OK)
    if found:
      bad[path.relative_to(ROOT).as_posix()] = found[:5]
  assert not bad, f"control characters (line, character): {bad}"


def _docstrings(tree: ast.AST):
  for node in ast.walk(tree):
    if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
      body = node.body
      if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
          and isinstance(body[0].value.value, str)):
        yield body[0].value


def test_docstrings_with_backslashes_are_raw():
  bad = []
  for path in SOURCES:
    if path.suffix != ".py":
      continue
    source = path.read_text(encoding="utf-8")
    for doc in _docstrings(ast.parse(source)):
      text = ast.get_source_segment(source, doc)
      if "\\" in text and text[:1] not in "rR":
        bad.append(f"{path.relative_to(ROOT).as_posix()}:{doc.lineno}")
  assert not bad, f"docstrings with a backslash that are not raw strings (r\"\"\"): {bad}"
