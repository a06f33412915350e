"""FGSM: one step to the boundary of B_eps along the steepest ascent of the loss."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attacks.fgsm import fgsm
from attacks.fooling import ce_loss, margin_loss, predict
from attacks.norms import lp_norm
from attack_tasks import TRACES, linear_model, mlp_task, normal_points, perturbed

pytestmark = pytest.mark.usefixtures("strict_dtype_promotion")


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_fgsm_sits_on_the_sphere_and_raises_the_loss(norm):
    f, x, _ = mlp_task(n=300)
    y = predict(f, x)
    delta = fgsm(f, x, None, norm=norm, eps=0.1)
    assert delta.shape == x.shape
    np.testing.assert_allclose(lp_norm(delta, norm), 0.1, rtol=1e-5)
    # On a ReLU net one first-order step raises the margin max_{j!=y} z_j - z_y on average
    # (CE itself is saturated at 0 for confident points).
    assert float(jnp.mean(margin_loss(f(x + delta), y) - margin_loss(f(x), y))) > 0


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_fgsm_raises_the_loss_of_every_point_of_a_linear_model(norm):
    # CE of linear logits is convex in delta, so a step with a positive directional
    # derivative raises it at every point.
    f = linear_model(d=5, classes=4, seed=3)
    x = normal_points(64, 5, seed=4)
    y = predict(f, x)
    delta = fgsm(f, x, norm=norm, eps=0.2)
    assert bool(jnp.all(ce_loss(f(x + delta), y) > ce_loss(f(x), y)))


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
    f = linear_model(d=5, classes=4, seed=3)
    x = normal_points(64, 5, seed=4)
    fgsm(f, x, norm=2, eps=0.2)
    traced = TRACES["linear"]
    a = fgsm(perturbed(f), x, norm=2, eps=0.3)
    b = fgsm(perturbed(f), x, norm=2, eps=0.3)
    assert TRACES["linear"] == traced
    np.testing.assert_array_equal(a, b)
