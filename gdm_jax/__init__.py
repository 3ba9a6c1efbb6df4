"""gdm-jax: numerical checks of the mathematics of deep generative models, in JAX."""
__version__ = "0.1.0"
