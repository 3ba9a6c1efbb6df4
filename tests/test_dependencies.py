"""gdm_jax.dependencies and testing.assert_autoregressive on users' networks (MADE, sequences,
images with channels, several outputs per position), against masks known by construction."""
import flax.linen as nn
import jax.numpy as jnp
import numpy as np
import pytest

from gdm_jax import dependencies, masked_conv as mc, testing


def made_masks(d, hidden, seed=0):
  """MADE (Germain et al. 2015) masks for order 0..d-1: degrees m(k) in 1..d-1."""
  rng = np.random.default_rng(seed)
  deg_in = np.arange(1, d + 1)
  deg_h = rng.integers(1, d, size=hidden)
  m1 = (deg_h[None, :] >= deg_in[:, None]).astype(np.float32)      # [d, H]
  m2 = (deg_in[None, :] > deg_h[:, None]).astype(np.float32)       # [H, d]
  return m1, m2


class MADE(nn.Module):
  """Masks held in a non-`params` collection, two outputs (mean, log-scale) per dimension."""
  d: int = 6
  hidden: int = 16

  @nn.compact
  def __call__(self, x):
    m1, m2 = made_masks(self.d, self.hidden)
    mask1 = self.variable("masks", "m1", lambda: jnp.asarray(m1)).value
    mask2 = self.variable("masks", "m2", lambda: jnp.asarray(m2)).value
    w1 = self.param("w1", nn.initializers.normal(1.0), (self.d, self.hidden))
    w2 = self.param("w2", nn.initializers.normal(1.0), (self.hidden, 2 * self.d))
    h = jnp.tanh(x @ (w1 * mask1))
    out = h @ (w2 * jnp.tile(mask2, (1, 2)))
    return out.reshape(2, self.d).T  # [d, 2]: (mean, log-scale) grouped by position


def test_made_is_autoregressive_and_masks_in_other_collections_are_kept():
  dep = testing.assert_autoregressive(MADE(), (6,))
  # The oracle: connectivity through the masks (a path exists iff mask product > 0).
  m1, m2 = made_masks(6, 16)
  assert np.array_equal(dep, (m1 @ m2).T > 0)


def test_a_leaky_made_fails_and_reports_every_leak():
  class Leaky(MADE):
    @nn.compact
    def __call__(self, x):
      return super().__call__(x) + jnp.stack([x, x], -1)  # each output sees its own input
  with pytest.raises(AssertionError, match="6 leak"):
    testing.assert_autoregressive(Leaky(), (6,))


def test_plain_function_sequence_and_order():
  f = lambda x: jnp.cumsum(x) - x                  # strictly causal in raster order, complete
  testing.assert_autoregressive(f, (7,), complete=True)
  with pytest.raises(AssertionError, match="leak"):
    testing.assert_autoregressive(f, (7,), order=np.arange(7)[::-1])
  g = lambda p, x: p * (jnp.cumsum(x) - x - x[0])  # misses position 0 beyond output 1
  with pytest.raises(AssertionError, match="missing"):
    testing.assert_autoregressive(g, (5,), params=2.0, complete=True)


def test_image_with_channels_matches_the_q4_stack():
  stack = mc.MaskedStack(("A", "B", "B"), features=6, out_features=3, groups=3)
  dep = testing.assert_autoregressive(stack, (1, 4, 4, 3))
  assert np.array_equal(dep, mc.stack_dependencies(("A", "B", "B"), 4, channels=3, features=6,
                                                   groups=3))


def test_module_with_an_array_field_is_not_hashed():
  class Masked(nn.Module):
    mask: np.ndarray
    @nn.compact
    def __call__(self, x):
      return x @ (self.param("w", nn.initializers.normal(1.0), self.mask.shape) * self.mask)
  m = np.tril(np.ones((4, 4), np.float32), -1).T   # out i sees in j < i
  dep = dependencies.jacobian_dependencies(Masked(m), (4,))
  assert np.array_equal(dep, m.T > 0)


def test_two_scripts_with_their_own_net_class_do_not_share_answers():
  def make(kind):
    class Net(nn.Module):
      @nn.compact
      def __call__(self, x):
        return mc.MaskedConv(1, kind)(x)
    return Net()
  a = dependencies.jacobian_dependencies(make("A"), (1, 3, 3, 1))
  b = dependencies.jacobian_dependencies(make("B"), (1, 3, 3, 1))
  assert not np.array_equal(a, b) and np.all(np.diag(b)) and not np.any(np.diag(a))


@pytest.mark.parametrize("call, name", [
    (lambda: dependencies.jacobian_dependencies(lambda x: x.sum(), (3,)), "fn"),
    (lambda: dependencies.jacobian_dependencies(lambda x: x, (0,)), "input_shape"),
    (lambda: dependencies.check_autoregressive(np.ones((2, 3))), "dep"),
    (lambda: dependencies.check_autoregressive(np.ones((3, 3)), order=[0, 0, 1]), "order"),
    (lambda: mc.autoregressive_violations(np.ones((4, 2))), "dep"),
])
def test_bad_input(call, name):
  with pytest.raises(ValueError, match=f"`{name}`"):
    call()


def test_perturbation_dependencies_agree_with_the_masks_and_see_integer_outputs():
  # MADE (an uninitialised module, masks in their own collection): redrawing one position moves
  # exactly the outputs the mask product connects to it, as the Jacobian says.
  m1, m2 = made_masks(6, 16)
  assert np.array_equal(dependencies.perturbation_dependencies(MADE(), (6,)), (m1 @ m2).T > 0)

  class Quantised(MADE):   # integer outputs: a Jacobian of zeros, the same dependence
    @nn.compact
    def __call__(self, x):
      return jnp.round(super().__call__(x) * 1e4).astype(jnp.int32)
  assert not np.any(dependencies.jacobian_dependencies(Quantised(), (6,)))
  assert np.array_equal(dependencies.perturbation_dependencies(Quantised(), (6,)),
                        (m1 @ m2).T > 0)
  assert np.array_equal(testing.assert_autoregressive(Quantised(), (6,)), (m1 @ m2).T > 0)
