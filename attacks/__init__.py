"""JIT-compiled adversarial attacks that know nothing of 2D or ImageNet.

Every attack is a pure function of ``(logits_fn, x, ...)`` batched over the leading axis
of ``x: f32[n, *shape]``, so the same code runs on points of the plane and on images.
``logits_fn`` is a classifier ``f32[n, *shape] -> f32[n, classes]``, best passed as a
``jax.tree_util.Partial`` of a module-level function and its parameters (new parameters
then do not recompile); ``eps`` is traced, the norm and iteration counts are static.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from jax.tree_util import Partial
    >>> import attacks
    >>> def linear(w, x):
    ...     return jnp.stack([jnp.zeros(x.shape[0]), x @ w], axis=1)
    >>> f = Partial(linear, jnp.array([1.0, 0.0]))
    >>> x = jnp.array([[0.1, 0.0], [0.3, 1.0]])
    >>> delta = attacks.pgd(f, x, norm="linf", eps=0.2, key=jax.random.key(0))
    >>> float(attacks.fooling_rate(f, x, delta))
    0.5
"""

from attacks.deepfool import deepfool, deepfool_steps
from attacks.fgsm import fgsm
from attacks.fooling import as_logits_fn, ce_loss, fooling_rate, margin_loss, predict
from attacks.norms import (lp_norm, parse_norm, project, sample_ball, sample_sphere,
                           steepest_direction)
from attacks.pgd import pgd
from attacks.random import random_perturbation
from attacks.sgd_universal import sgd_universal, sgd_universal_step
from attacks.universal import universal_perturbation, universal_update

__all__ = [
    "as_logits_fn", "ce_loss", "deepfool", "deepfool_steps", "fgsm", "fooling_rate", "lp_norm",
    "margin_loss", "parse_norm",
    "pgd", "predict", "project", "random_perturbation", "sample_ball", "sample_sphere",
    "sgd_universal", "sgd_universal_step", "steepest_direction", "universal_perturbation",
    "universal_update",
]
