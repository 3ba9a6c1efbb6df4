"""The layers hold: which parts of gdm_jax may import which, read from the source with ``ast``.

From the bottom up: the math modules (every module directly in ``gdm_jax/`` except the CLI, the
report and the mutation harness), then ``gdm_jax.problems`` (set-ups that the claims and the
experiments share), then the claims and the experiments, then the CLI, the report and the
mutations. Every import counts, those inside functions too.
"""
import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PKG = ROOT / "gdm_jax"

#: Modules and packages of gdm_jax that are not math modules (the pytest plugin is a tool, as the
#: CLI: it derives its keys as the claims do, with gdm_jax.problems.claim_key).
UPPER = ("cli", "report", "mutations", "claims", "experiments", "problems", "pytest_plugin")


def _name(path: pathlib.Path) -> str:
  parts = path.relative_to(ROOT).with_suffix("").parts
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports_of(source: str, package: str) -> set[str]:
  """Every module ``source`` imports (``from a import b`` counts as ``a`` and ``a.b``), with
  relative imports resolved against ``package``, the package the source sits in."""
  found = set()
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      found.update(a.name for a in node.names)
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        parts = package.split(".")
        base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
      found.add(base)
      found.update(f"{base}.{a.name}" for a in node.names)
  return found


def _imports(path: pathlib.Path) -> set[str]:
  package = _name(path) if path.name == "__init__.py" else _name(path).rpartition(".")[0]
  return _imports_of(path.read_text(encoding="utf-8"), package)


def _violations(paths, forbidden) -> dict[str, list[str]]:
  bad = {}
  for path in paths:
    hits = sorted(m for m in _imports(path)
                  if any(m == f or m.startswith(f + ".") for f in forbidden))
    if hits:
      bad[path.relative_to(ROOT).as_posix()] = hits
  return bad


def _math_modules() -> list[pathlib.Path]:
  return sorted(p for p in PKG.glob("*.py") if p.stem not in UPPER)


def test_the_layers_are_found():
  names = {p.stem for p in _math_modules()}
  assert {"stats", "bounds", "models", "testing", "evidence", "jaxconfig", "__init__"} <= names
  assert not names & set(UPPER)
  assert (PKG / "problems" / "q3.py").exists() and (PKG / "experiments" / "q3_iwae.py").exists()


@pytest.mark.parametrize("source, package, expected", [
    ("import gdm_jax.claims.q3 as q3\n", "gdm_jax", {"gdm_jax.claims.q3"}),
    ("from gdm_jax import claims, stats\n", "gdm_jax",
     {"gdm_jax", "gdm_jax.claims", "gdm_jax.stats"}),
    ("def f():\n  from gdm_jax.cli import main\n", "gdm_jax", {"gdm_jax.cli", "gdm_jax.cli.main"}),
    ("from ..claims import core\n", "gdm_jax.experiments", {"gdm_jax.claims", "gdm_jax.claims.core"}),
    ("from . import densities\n", "gdm_jax.problems", {"gdm_jax.problems",
                                                       "gdm_jax.problems.densities"}),
])
def test_imports_are_read(source, package, expected):
  assert _imports_of(source, package) == expected


def test_experiments_import_neither_claims_nor_cli():
  paths = sorted((PKG / "experiments").glob("*.py")) + sorted((ROOT / "experiments").glob("*.py"))
  assert paths
  assert not _violations(paths, ("gdm_jax.claims", "gdm_jax.cli"))


def test_math_modules_import_nothing_above_them():
  forbidden = tuple(f"gdm_jax.{u}" for u in UPPER)
  assert not _violations(_math_modules(), forbidden)


def test_problems_import_neither_claims_nor_what_sits_above():
  paths = sorted((PKG / "problems").glob("*.py"))
  assert len(paths) >= 4
  forbidden = ("gdm_jax.claims", "gdm_jax.experiments", "gdm_jax.cli", "gdm_jax.report",
               "gdm_jax.mutations")
  assert not _violations(paths, forbidden)


def _loaded_after(statement: str) -> list[str]:
  code = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))"
  out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       check=True, timeout=300)
  return out.stdout.split()


def test_the_testing_api_loads_no_claim():
  loaded = _loaded_after("import gdm_jax.testing")
  assert "gdm_jax.testing" in loaded and "gdm_jax.evidence" in loaded
  assert not [m for m in loaded if m == "gdm_jax.claims" or m.startswith("gdm_jax.claims.")]


def test_jaxconfig_does_not_start_jax():
  # fast_compile_flags must run before jax is imported (XLA reads XLA_FLAGS once).
  loaded = _loaded_after("import gdm_jax.jaxconfig")
  assert "gdm_jax.jaxconfig" in loaded and "jax" not in loaded


def test_moved_names_are_still_importable_from_the_claims():
  from gdm_jax import claims, problems
  from gdm_jax.claims import core, densities, oracles, q3, q6
  from gdm_jax.problems import densities as pd, oracles as po, q3 as p3, q6 as p6
  assert densities is pd and oracles is po   # aliases: one module, so a patch reaches both
  assert (q3.problem, q3.Problem, q3._problem) == (p3.problem, p3.Problem, p3._problem)
  assert q6.trained_bounds is p6.trained_bounds and q6.GRID is p6.GRID
  assert core.claim_key is problems.claim_key
  from gdm_jax import cli, evidence, jaxconfig
  assert core.Evidence is evidence.Evidence and core.max_rel_error is evidence.max_rel_error
  assert core.FULL_OPT is jaxconfig.FULL_OPT and cli.fast_compile_flags is jaxconfig.fast_compile_flags
  assert claims.Evidence is evidence.Evidence


def test_clear_caches_reaches_the_problems():
  """``gdm-jax mutate`` patches the mathematics and calls claims.clear_caches(): the memoised
  set-ups that moved to gdm_jax.problems must be forgotten too."""
  import functools

  from gdm_jax import claims, problems

  @functools.lru_cache(maxsize=1)
  def memo(n):
    return n

  mod = type(sys)("gdm_jax.problems._probe")
  mod.memo = memo
  sys.modules[mod.__name__] = mod
  try:
    memo(1)
    assert mod in problems.modules() and memo.cache_info().currsize == 1
    claims.clear_caches()
    assert memo.cache_info().currsize == 0
  finally:
    del sys.modules[mod.__name__]
