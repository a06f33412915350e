"""Predicted labels, attack losses and the fooling rate."""

import jax.numpy as jnp
import numpy as np
import pytest
from jax.tree_util import Partial

from attacks.fooling import (as_logits_fn, ce_loss, fooling_rate, margin_loss, predict,
                             reference_labels)
from attack_tasks import TRACES, linear_model, normal_points

pytestmark = pytest.mark.usefixtures("strict_dtype_promotion")


def threshold(x):
    """Class 1 iff the first coordinate is positive (a plain callable, not a Partial)."""
    return jnp.stack([jnp.zeros(x.shape[0]), x[:, 0]], axis=1)


def test_margin_and_ce_losses():
    logits = jnp.array([[2.0, 0.5, -1.0], [0.0, 3.0, 1.0]])
    labels = jnp.array([0, 0], jnp.int32)
    np.testing.assert_allclose(margin_loss(logits, labels), [-1.5, 3.0])
    expected = [-np.log(np.exp(2) / (np.exp(2) + np.exp(0.5) + np.exp(-1))),
                -np.log(1 / (1 + np.exp(3) + np.exp(1)))]
    np.testing.assert_allclose(ce_loss(logits, labels), expected, rtol=1e-6)


def test_fooling_rate_with_shared_and_batched_delta():
    x = jnp.array([[-0.5, 0.0], [-2.0, 0.0], [0.3, 0.0], [1.0, 5.0]])
    # shared delta (1, 0): -0.5 -> 0.5 flips, -2 stays, 0.3 and 1 stay positive.
    assert float(fooling_rate(threshold, x, jnp.array([1.0, 0.0]))) == 0.25
    delta = jnp.array([[0.0, 0.0], [3.0, 0.0], [-1.0, 0.0], [0.0, 0.0]])
    assert float(fooling_rate(threshold, x, delta)) == 0.5
    labels = jnp.array([1, 1, 1, 1])                 # relative to given labels, not f(x)
    assert float(fooling_rate(threshold, x, jnp.zeros(2), labels)) == 0.5


def test_fooling_rate_rejects_bad_shapes():
    x = jnp.zeros((4, 2))
    with pytest.raises(ValueError, match="delta must have shape"):
        fooling_rate(threshold, x, jnp.zeros(3))
    with pytest.raises(ValueError, match="labels must have shape"):
        fooling_rate(threshold, x, jnp.zeros(2), jnp.zeros(3, jnp.int32))


def test_as_logits_fn_keeps_partials_and_wraps_callables():
    f = linear_model()
    assert as_logits_fn(f) is f
    wrapped = as_logits_fn(threshold)
    assert isinstance(wrapped, Partial)
    x = jnp.array([[1.0, 0.0], [-1.0, 0.0]])
    np.testing.assert_array_equal(predict(wrapped, x), [1, 0])
    np.testing.assert_array_equal(reference_labels(wrapped, x, None), [1, 0])
    with pytest.raises(TypeError, match="callable"):
        as_logits_fn(3)


def test_fooling_rate_does_not_recompile_for_new_parameters():
    x = normal_points(64, 5, seed=0)
    f1, f2 = linear_model(seed=1), linear_model(seed=2)
    fooling_rate(f1, x, jnp.zeros(5))
    traced = TRACES["linear"]
    rates = [float(fooling_rate(f, x, jnp.full((5,), s))) for f in (f1, f2) for s in (0.5, 1.0)]
    assert TRACES["linear"] == traced
    assert len(set(rates)) > 1
