"""The traced-program cache: same values as jax.jit, no trace on a hit, a new key whenever what
shapes the trace changes, and off where functions are patched at run time (gdm-jax mutate)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import RTOL
from gdm_jax import models, mutations, programs

TRACES = []


def _body(key, model, table, n, scale=1.0):
  TRACES.append(n)  # runs once per trace
  z = jax.random.normal(key, (n, model.latent_dim), model.W.dtype)
  return {"lp": model.log_joint(table[1], z) * scale, "n": jnp.asarray(n)}


def _fresh():
  """A new Program around the same function: an empty in-process table, as a new process has."""
  return programs.program(_body, static_argnums=3)


@pytest.fixture
def store(tmp_path):
  programs.enable(tmp_path)
  TRACES.clear()
  programs._fingerprint_of.cache_clear()
  yield tmp_path
  programs.disable()
  programs._fingerprint_of.cache_clear()


def _args(dtype=np.float32):
  model = models.random_linear_gaussian(jax.random.key(1), 2, 3, 0.5, dtype)
  x, _ = model.sample(jax.random.key(2), 1)
  return jax.random.key(3), model, {1: x[0], 2: x[0]}, 4


def _plain(*args, **kw):
  return jax.jit(_body, static_argnums=3)(*args, **kw)


def test_cached_values_equal_jit_and_a_hit_does_not_trace(store):
  want = _plain(*_args(), scale=2.0)  # fresh, equal keys per call (jax_debug_key_reuse is on)
  got = _fresh()(*_args(), scale=2.0)  # miss: exported, stored
  n_traces = len(TRACES)
  again = _fresh()(*_args(), scale=2.0)  # a new process would see only the stored program
  assert len(TRACES) == n_traces, "a stored program was traced again"
  assert len(list(store.rglob("*.exported"))) == 1
  for out in (got, again):
    assert set(out) == {"lp", "n"} and int(out["n"]) == 4
    # The exported module may compile to a slightly different float32 executable.
    np.testing.assert_allclose(out["lp"], want["lp"], rtol=RTOL[np.float32])
    np.testing.assert_array_equal(out["lp"], got["lp"])


def test_key_changes_with_shapes_statics_dtypes_and_sources(store, monkeypatch):
  prog = _fresh()
  _, model, table, n = _args()
  key = lambda: jax.random.key(3)
  prog(key(), model, table, n)
  prog(key(), model, table, n + 1)                               # a static argument
  prog(key(), models.random_linear_gaussian(jax.random.key(1), 2, 3, 0.5, np.float64), table, n)
  prog(key(), model, {1: table[1], 2: table[2], 3: table[1]}, n)  # the tree structure
  assert len(list(store.rglob("*.exported"))) == 4
  n_traces = len(TRACES)
  monkeypatch.setattr(programs, "_package_source_digest", lambda: "edited")
  programs._fingerprint_of.cache_clear()
  _fresh()(key(), model, table, n)  # an edited package: a new fingerprint, traced again
  assert len(TRACES) == n_traces + 1
  assert len({p.parent for p in store.rglob("*.exported")}) == 2


def test_any_edit_to_a_source_file_changes_the_digest(tmp_path):
  (tmp_path / "sub").mkdir()
  (tmp_path / "a.py").write_text("x = 1\n")
  (tmp_path / "sub" / "b.py").write_text("def f(z):\n  return z\n")
  before = programs._package_source_digest(tmp_path)
  (tmp_path / "sub" / "b.py").write_text("def f(z):\n  return -z\n")  # a planted sign error
  assert programs._package_source_digest(tmp_path) != before
  assert programs._package_source_digest() == programs._package_source_digest()


def test_off_inside_disabled_and_while_a_mutation_is_applied(store):
  with programs.disabled():
    assert not programs.enabled()
    _fresh()(*_args())
  m = mutations.MUTATIONS[0]
  with mutations.applied(m):
    assert not programs.enabled()
  assert programs.enabled()
  assert not list(store.rglob("*.exported"))


def test_what_the_key_cannot_describe_goes_to_plain_jit(store):
  scale = 3.0
  closure = programs.program(lambda x: x * scale)
  np.testing.assert_allclose(closure(jnp.ones(2)), 3.0)            # captured value: not cached
  unstable = programs.program(lambda x, f: f(x), static_argnums=1)
  np.testing.assert_allclose(unstable(jnp.ones(2), jnp.exp), np.e)  # a function as static arg
  assert not list(store.rglob("*.exported"))
  for bad in (object(), lambda x: x, jnp.exp):
    with pytest.raises(programs._Uncacheable):
      programs._static_token(bad)
  # A module-level function is named by its qualified name: its source is in the fingerprint.
  assert programs._static_token(_body) == f"function:{__name__}._body"
  assert programs._static_token(models.LinearGaussian) == programs._static_token(
      models.LinearGaussian)
