"""The rule for what counts as public API, shared by tests/test_public_api_coverage.py (every
public name has a test) and tests/test_docs.py (every public name is documented)."""
import importlib
import inspect


def _defined_here(obj, module: str) -> bool:
  if isinstance(obj, (staticmethod, classmethod)):
    obj = obj.__func__
  if isinstance(obj, property):
    obj = obj.fget
  return callable(obj) and getattr(obj, "__module__", None) == module


def public_names(module: str) -> list[str]:
  """The module's public functions and classes, and the public methods and properties defined in
  those classes' bodies (flax and NamedTuple machinery, defined elsewhere, excluded)."""
  names = []
  for name, obj in vars(importlib.import_module(module)).items():
    if name.startswith("_") or not _defined_here(obj, module):
      continue
    names.append(f"{module}.{name}")
    if inspect.isclass(obj):
      names += [f"{module}.{name}.{attr}" for attr, member in vars(obj).items()
                if not attr.startswith("_") and _defined_here(member, module)]
  return names
