"""Sphinx configuration of the API reference (`make docs` -> build/docs/index.html).

Math renders with MathJax 3 from the `sphinx-mathjax-offline` package (the `docs` extra): it
sets ``mathjax_path`` to a local copy that it writes into the build's ``_static/mathjax``, so the
pages need no network (CI and the developers' machines reach only package registries).
"""
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # the checkout's gdm_jax, installed or not
os.environ.setdefault("JAX_PLATFORMS", "cpu")  # importing the modules needs no accelerator

project = "gdm-jax"
author = "gdm-jax developers"
copyright = "gdm-jax developers"
release = version = "0.1.0"

extensions = [
  "sphinx.ext.autodoc",
  "sphinx.ext.napoleon",
  "sphinx.ext.mathjax",
  "sphinx-mathjax-offline",
]

exclude_patterns = []
# Every public name of each module, documented or not, in source order; imported names are not
# repeated (each is on the page of the module that defines it).
autodoc_default_options = {"members": True, "undoc-members": True, "member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False
html_theme = "alabaster"
html_title = "gdm-jax API reference"
html_static_path = []
html_show_sourcelink = False

# A flax module's dataclass fields are its configuration and stay; the fields that flax adds to
# every module (name, parent, scope) are flax's, not this project's.
FLAX_FIELDS = {"name", "parent", "scope"}


def skip_flax_fields(app, what, name, obj, skip, options):
  if what == "class" and name in FLAX_FIELDS:
    return True
  return None


def setup(app):
  app.connect("autodoc-skip-member", skip_flax_fields)
  # Napoleon reads the first line of a constant's ``#:`` comment as "type: description" and so
  # turned "Most chunks a chunked estimate may scan: chunk i ..." into a type. The constants'
  # comments are prose: napoleon only formats functions' and classes' docstrings.
  # (Sphinx's event registry is internal: where it has changed, napoleon stays as it is.)
  from sphinx.ext import napoleon
  listeners = getattr(app.events, "listeners", {}).get("autodoc-process-docstring", [])
  ours = [ls for ls in listeners if getattr(ls, "handler", None) is napoleon._process_docstring]
  if not ours:
    return
  for listener in ours:
    app.disconnect(listener.id)

  def process(app, what, name, obj, options, lines):
    if what not in ("data", "attribute"):
      napoleon._process_docstring(app, what, name, obj, options, lines)

  app.connect("autodoc-process-docstring", process)
