# The gdm-jax pytest plugin: gdm_key, @pytest.mark.stochastic(rate=...), --gdm-vary-seed N. An
# installed gdm-jax loads it by itself (entry point pytest11); naming it here also serves a copy
# of this folder run against a source tree (pytest loads a plugin once, under this name).
pytest_plugins = ("gdm_jax.pytest_plugin",)
