"""Loading a user's claim files and planted mistakes (``gdm-jax verify --claims``, ``gdm-jax mutate
--claims X --mutations Y``).

A claim file is a plain Python module with ``CLAIMS = [Claim(...), ...]``; a mutations file a
module with ``MUTATIONS = (Mutation(...), ...)`` in the shipped catalogue's format
(:class:`gdm_jax.mutations.Mutation`). Each is named by a path to a ``.py`` file, a folder (its
``claims.py``, ``claims_*.py`` and ``*_claims.py`` files, or ``mutations*.py`` for mistakes), or a
dotted module name on ``sys.path``. A file's folder is put first on ``sys.path`` while it loads
and stays there (as ``python file.py`` does), so a claim file imports the code it checks from its
folder, and a mutation can patch that code by its module name (a dotted module's own imports are
found as usual).

Every problem (a file that does not import, defines no ``CLAIMS``, holds something that is not a
claim, repeats an id) is a :class:`ClaimFileError` with a one-line message naming the file and
the fix. The modules are loaded in the calling process, before any worker is forked: the workers
inherit them.
"""
from __future__ import annotations

import fnmatch
import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterable, Sequence

from gdm_jax.claims.core import Claim

#: The files of a folder that hold claims, and those that hold mistakes.
CLAIM_FILES = ("claims.py", "claims_*.py", "*_claims.py")
MUTATION_FILES = ("mutations.py", "mutations_*.py", "*_mutations.py")

#: Modules loaded from users' files, and the folders they came from (their caches are cleared
#: with the registry's: :func:`gdm_jax.claims.clear_caches`).
_LOADED: dict[str, ModuleType] = {}
_FOLDERS: set[Path] = set()


class ClaimFileError(ValueError):
  """A user's claim or mutation file that cannot be used; the message is one line."""


def _one_line(text: str) -> str:
  return " ".join(str(text).split())


def _is_path(spec: str) -> bool:
  return spec.endswith(".py") or "/" in spec or "\\" in spec or Path(spec).exists()


def _files(spec: str, patterns: Sequence[str], what: str) -> list[Path]:
  p = Path(spec)
  if p.is_dir():
    found = sorted(f for f in p.iterdir()
                   if f.is_file() and any(fnmatch.fnmatch(f.name, pat) for pat in patterns))
    if not found:
      raise ClaimFileError(f"{spec}: a folder with no {what} file (named "
                           f"{', '.join(patterns)}); name one so, or pass the file itself")
    return found
  if not p.exists():
    raise ClaimFileError(f"{spec}: no such file or folder (give a .py file, a folder of {what} "
                         "files, or a dotted module name)")
  if p.suffix != ".py":
    raise ClaimFileError(f"{spec}: not a .py file")
  return [p]


def _module_name(path: Path) -> str:
  """The file's stem, unless a different module holds that name (then the stem and a hash)."""
  stem = path.stem
  held = sys.modules.get(stem)
  if held is None or Path(getattr(held, "__file__", "") or "").resolve() == path:
    return stem
  return f"{stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"


def _import_file(path: Path) -> ModuleType:
  path = path.resolve()
  name = _module_name(path)
  if name in sys.modules and Path(sys.modules[name].__file__ or "").resolve() == path:
    return sys.modules[name]
  folder = str(path.parent)
  if folder not in sys.path:
    sys.path.insert(0, folder)
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  sys.modules[name] = module
  try:
    spec.loader.exec_module(module)
  except (Exception, SystemExit) as e:
    del sys.modules[name]
    raise ClaimFileError(f"{path}: fails to import: {type(e).__name__}: {_one_line(e)}") from e
  _FOLDERS.add(path.parent)
  return module


def _import_module(name: str) -> ModuleType:
  try:
    module = importlib.import_module(name)
  except (Exception, SystemExit) as e:
    raise ClaimFileError(f"{name}: fails to import: {type(e).__name__}: {_one_line(e)} (a "
                         "dotted module must be on sys.path; or give the path of its .py file)"
                         ) from e
  return module


def _modules(spec: str, patterns: Sequence[str], what: str) -> list[ModuleType]:
  if not isinstance(spec, str) or not spec.strip():
    raise ClaimFileError(f"{spec!r}: an empty name; give a .py file, a folder or a module")
  if _is_path(spec):
    mods = [_import_file(f) for f in _files(spec, patterns, what)]
  else:
    mods = [_import_module(spec)]
  for m in mods:
    _LOADED[m.__name__] = m
  return mods


def _where(m: ModuleType) -> str:
  return getattr(m, "__file__", None) or m.__name__


def load_claims(specs: Iterable[str], builtin: Sequence[Claim] = ()) -> list[Claim]:
  """The claims of every file, folder or module in ``specs``, in the order given.

  Args:
    specs: paths of ``.py`` files, folders of claim files, or dotted module names.
    builtin: claims the run holds beside these (``--with-builtin``): an id of theirs repeated
      here is an error too.

  Returns:
    The claims, as they are defined (wrap them in :func:`gdm_jax.claims.own_family` for their
    own Bonferroni family).

  Raises:
    ClaimFileError: a one-line message: a file that fails to import, a module without
      ``CLAIMS``, an entry that is not a :class:`Claim`, an id defined twice.
  """
  seen = {c.id: "the shipped registry (--with-builtin)" for c in builtin}
  return _collect(specs, CLAIM_FILES, "claim", "CLAIMS", Claim, "gdm_jax.claims.Claim",
                  "list", "[Claim(...), ...]", lambda c: c.id, "claim id", "ids must be unique: ",
                  seen)


def _collect(specs, files, kind, attr, cls, cls_name, container, example, key, what, unique,
             seen) -> list:
  """The entries ``attr`` (a non-empty list or tuple of ``cls``) of every module that ``specs``
  name, each key (``key(entry)``) once across them and ``seen`` (key -> where it is defined);
  a one-line :class:`ClaimFileError` otherwise."""
  out = []
  for spec in specs:
    for m in _modules(spec, files, kind):
      where = _where(m)
      if not hasattr(m, attr):
        raise ClaimFileError(f"{where}: defines no {attr}; end the file with {attr} = {example}")
      got = getattr(m, attr)
      if not isinstance(got, (list, tuple)) or not got:
        raise ClaimFileError(f"{where}: {attr} must be a non-empty {container} of {cls_name}; "
                             f"got {type(got).__name__} {_one_line(repr(got))[:80]}")
      for i, entry in enumerate(got):
        if not isinstance(entry, cls):
          raise ClaimFileError(f"{where}: {attr}[{i}] is a {type(entry).__name__}, not a "
                               f"{cls_name}")
        k = key(entry)
        if k in seen:
          raise ClaimFileError(f"{where}: {what} {k!r} is defined twice (also in {seen[k]}); "
                               f"{unique}rename one")
        seen[k] = where
        out.append(entry)
  return out


def load_mutations(specs: Iterable[str], builtin: Sequence = ()) -> tuple:
  """The planted mistakes (``MUTATIONS``) of every file, folder or module in ``specs``.

  Raises:
    ClaimFileError: a file that fails to import, a module without ``MUTATIONS``, an entry that
      is not a :class:`gdm_jax.mutations.Mutation`, a name used twice (``builtin`` included).
  """
  from gdm_jax.mutations import Mutation
  seen = {m.name: "the shipped catalogue" for m in builtin}
  return tuple(_collect(specs, MUTATION_FILES, "mutation", "MUTATIONS", Mutation,
                        "gdm_jax.mutations.Mutation", "tuple", "(Mutation(...), ...)",
                        lambda m: m.name, "mutation", "", seen))


def loaded_modules() -> list[ModuleType]:
  """The users' modules whose memoised set-ups a patch could leave stale: the claim and mutation
  modules loaded, and every module loaded from their folders (the code they check)."""
  mods = dict(_LOADED)
  if not _FOLDERS:
    return list(mods.values())
  for name, m in list(sys.modules.items()):
    f = getattr(m, "__file__", None)
    if f and name not in mods:
      try:
        if Path(f).resolve().parent in _FOLDERS:
          mods[name] = m
      except (OSError, ValueError):
        continue
  return list(mods.values())
