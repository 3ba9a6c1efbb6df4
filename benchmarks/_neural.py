"""Burda et al. 2016's 1-layer IWAE architecture with random weights, shared by the neural
benchmarks: a 784-200-200-50 tanh encoder (diagonal Gaussian) and a 50-200-200-784 tanh decoder
(Bernoulli logits). ``log_joint(x, z [n, 50]) -> [n]`` and ``proposal(x)`` fit
:func:`gdm_jax.bounds.iwae_estimate_batch`; ``np_model``/``np_guide`` are the same densities in
numpyro, ``tfp_loss`` in TFP-on-JAX."""
import jax
import jax.numpy as jnp

from gdm_jax import bounds, models

D, H, LATENT = 784, 200, 50


def _dense(key, n_in, n_out):
  return (jax.random.normal(key, (n_in, n_out)) / jnp.sqrt(n_in), jnp.zeros(n_out))


def init(key):
  ks = jax.random.split(key, 6)
  return {"enc": [_dense(ks[0], D, H), _dense(ks[1], H, H), _dense(ks[2], H, 2 * LATENT)],
          "dec": [_dense(ks[3], LATENT, H), _dense(ks[4], H, H), _dense(ks[5], H, D)]}


def mlp(layers, h):
  for i, (w, b) in enumerate(layers):
    h = h @ w + b
    if i < len(layers) - 1:
      h = jnp.tanh(h)
  return h


def data(key, B):
  """``[B, 784]`` binary images (Bernoulli(0.3) pixels)."""
  return jax.random.bernoulli(key, 0.3, (B, D)).astype(jnp.float32)


def encoder(params, x):
  out = mlp(params["enc"], x)
  return out[..., :LATENT], jnp.exp(0.5 * out[..., LATENT:])


def log_joint(params, x, z):
  """log N(z; 0, I) + sum_i log Bernoulli(x_i; sigmoid(logits(z)_i)): ``[n]``."""
  logits = mlp(params["dec"], z)
  ll = jnp.sum(x * logits - jax.nn.softplus(logits), axis=-1)
  return ll + models.diag_gaussian_log_prob(z, jnp.zeros(LATENT), jnp.ones(LATENT))


def proposal(params, x):
  return bounds.diag_gaussian_proposal(*encoder(params, x))


def gdm_lk(params, x, K, chunk_size=None):
  """``key -> [B]`` L_K through the public estimator."""
  return lambda key: bounds.iwae_estimate_batch(key, lambda xi, z: log_joint(params, xi, z),
                                                lambda xi: proposal(params, xi), x, K,
                                                chunk_size)


def decoder_chain(params, B, K):
  """The roofline: the decoder's matmul chain on ``B K`` given latents, nothing else."""
  def f(z):
    return mlp(params["dec"], z).sum()
  return f, jax.ShapeDtypeStruct((B * K, LATENT), jnp.float32)


def log_joint_on_latents(params, x, K, chunk):
  """The second roofline: the model's own ``log_joint`` (decoder and Bernoulli likelihood) on
  ``[B, K, 50]`` given latents, ``chunk`` of K at a time for the B points together; no sampling,
  no proposal, no log-sum-exp. What any estimator of L_K must at least spend."""
  def f(z):
    zc = z.reshape(x.shape[0], K // chunk, chunk, LATENT).transpose(1, 0, 2, 3)
    return jax.lax.map(lambda c: jax.vmap(lambda xi, zi: log_joint(params, xi, zi).sum())(
        x, c).sum(), zc).sum()
  return f, jax.ShapeDtypeStruct((x.shape[0], K, LATENT), jnp.float32)


def numpyro_lk(params, x, K):
  import numpyro
  import numpyro.distributions as nd
  from numpyro.infer import RenyiELBO

  def model(xi):
    z = numpyro.sample("z", nd.Normal(jnp.zeros(LATENT), 1.0).to_event(1))
    numpyro.sample("x", nd.Bernoulli(logits=mlp(params["dec"], z)).to_event(1), obs=xi)

  def guide(xi):
    m, s = encoder(params, xi)
    numpyro.sample("z", nd.Normal(m, s).to_event(1))

  renyi = RenyiELBO(alpha=0.0, num_particles=K)
  return lambda key: jax.vmap(lambda k, xi: -renyi.loss(k, {}, model, guide, xi))(
      jax.random.split(key, x.shape[0]), x)


def tfp_lk(params, x, K):
  from tensorflow_probability.substrates import jax as tfp

  def one(k, xi):
    m, s = encoder(params, xi)
    return -tfp.vi.monte_carlo_variational_loss(
        lambda z: log_joint(params, xi, z), tfp.distributions.MultivariateNormalDiag(m, s),
        sample_size=1, importance_sample_size=K, seed=k)
  return lambda key: jax.vmap(one)(jax.random.split(key, x.shape[0]), x)
