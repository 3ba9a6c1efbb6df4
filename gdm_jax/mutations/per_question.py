"""The per-question mutation modules, in question order: each defines ``MUTATIONS``."""
from gdm_jax.mutations import design, grad, mi, q1, q2, q3, q4, q5, q6, q7

MUTATIONS = (*q1.MUTATIONS, *q2.MUTATIONS, *q3.MUTATIONS, *q4.MUTATIONS, *q5.MUTATIONS,
             *q6.MUTATIONS, *q7.MUTATIONS, *mi.MUTATIONS, *grad.MUTATIONS, *design.MUTATIONS)
