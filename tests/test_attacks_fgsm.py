"""FGSM: one step to the boundary of B_eps along the steepest ascent of the loss."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attacks.fgsm import fgsm
from attacks.fooling import margin_loss, predict
from attacks.norms import lp_norm
from test_attacks_tasks import (TRACES, linear_model, mlp_task,  # noqa: F401
                                strict_dtype_promotion)


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_fgsm_sits_on_the_sphere_and_raises_the_loss(norm):
    f, x, _ = mlp_task(n=200)
    y = predict(f, x)
    delta = fgsm(f, x, None, norm=norm, eps=0.1)
    assert delta.shape == x.shape
    np.testing.assert_allclose(lp_norm(delta, norm), 0.1, rtol=1e-5)
    # The margin max_{j!=y} z_j - z_y rises (CE itself is saturated at 0 for confident
    # points) for most points: one first-order step on a ReLU net is not always an ascent.
    gain = margin_loss(f(x + delta), y) - margin_loss(f(x), y)
    assert float(jnp.mean(gain)) > 0 and float(jnp.mean((gain > 0).astype(jnp.float32))) > 0.75


def test_fgsm_on_a_linear_binary_classifier_is_closed_form():
    w = jnp.array([[0.0, 2.0], [0.0, -1.0]])          # z_1 - z_0 = 2 x_0 - x_1
    f = jax.tree_util.Partial(lambda w, x: x @ w, w)
    x = jnp.array([[1.0, 0.5], [-1.0, 0.0]])          # classes 1 and 0
    np.testing.assert_allclose(fgsm(f, x, norm="inf", eps=0.3), [[-0.3, 0.3], [0.3, -0.3]])
    u = np.array([2.0, -1.0]) / np.sqrt(5.0)
    np.testing.assert_allclose(fgsm(f, x, norm=2, eps=0.3), [-0.3 * u, 0.3 * u], rtol=1e-6)


def test_fgsm_uses_given_labels_and_accepts_plain_callables():
    def threshold(x):
        return jnp.stack([jnp.zeros(x.shape[0]), x[:, 0]], axis=1)
    x = jnp.array([[0.5, 0.0]])
    # Away from label 1 is towards negative x_0; away from label 0 towards positive.
    assert fgsm(threshold, x, None, norm="inf", eps=0.1)[0, 0] == np.float32(-0.1)
    assert fgsm(threshold, x, jnp.array([0]), norm="inf", eps=0.1)[0, 0] == np.float32(0.1)


def test_fgsm_does_not_recompile_for_new_eps_or_parameters():
    x = jax.random.normal(jax.random.key(0), (16, 5))
    fgsm(linear_model(seed=1, counting=True), x, norm=2, eps=0.1)
    traced = TRACES["linear"]
    a = fgsm(linear_model(seed=2, counting=True), x, norm=2, eps=0.2)
    b = fgsm(linear_model(seed=2, counting=True), x, norm=2, eps=0.2)
    assert TRACES["linear"] == traced
    np.testing.assert_array_equal(a, b)
