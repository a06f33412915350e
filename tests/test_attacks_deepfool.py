"""DeepFool: the minimal perturbation, exact on linear classifiers, label-flipping on nets."""

import jax.numpy as jnp
import numpy as np
import pytest

from attacks.deepfool import candidate_classes, deepfool
from attacks.fooling import predict
from attacks.norms import lp_norm
from attack_tasks import TRACES, linear_distances, linear_model, mlp_task, normal_points, perturbed

pytestmark = pytest.mark.usefixtures("strict_dtype_promotion")


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_deepfool_finds_the_exact_distance_of_a_linear_classifier(norm):
    # |w.x + b| / |w|_2 for l2, / |w|_1 for linf, minimised over the other classes.
    f = linear_model(d=5, classes=4, seed=3)
    x = normal_points(64, 5, seed=4)
    y = predict(f, x)                   # given labels (the other tests reuse this compilation)
    delta = deepfool(f, x, y, norm=norm, overshoot=0.0)
    assert bool(jnp.all(predict(f, x + delta) != y))
    # One step lands 1e-4 (the step slack) beyond the nearest boundary.
    np.testing.assert_allclose(lp_norm(delta, norm), linear_distances(f, x, norm) + 1e-4,
                               rtol=1e-4, atol=1e-5)


def test_overshoot_scales_the_total_perturbation():
    f = linear_model(d=5, classes=4, seed=3)
    x = normal_points(64, 5, seed=4)
    y = predict(f, x)
    plain = deepfool(f, x, y, norm=2, overshoot=0.0)
    over = deepfool(f, x, y, norm=2, overshoot=0.5)
    np.testing.assert_allclose(over, 1.5 * plain, rtol=1e-5, atol=1e-6)


def test_top_k_limits_the_candidate_classes():
    logits = jnp.array([[0.0, 5.0, 1.0, 3.0]])
    np.testing.assert_array_equal(candidate_classes(logits, jnp.array([2]), 3), [[2, 1, 3]])
    np.testing.assert_array_equal(candidate_classes(logits, jnp.array([1]), 10),
                                  [[1, 3, 2, 0]])
    # With only the runner-up class DeepFool still flips every label of a linear model, but
    # is never closer than with all classes.
    f = linear_model(d=5, classes=4, seed=3)
    x = normal_points(64, 5, seed=4)
    two = deepfool(f, x, norm=2, top_k=2, overshoot=0.0)
    assert bool(jnp.all(predict(f, x + two) != predict(f, x)))
    assert bool(jnp.all(lp_norm(two, 2) >= linear_distances(f, x, "2") - 1e-5))


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_deepfool_flips_the_labels_of_a_trained_mlp(norm):
    f, x, _ = mlp_task(n=200)
    delta = deepfool(f, x, norm=norm, top_k=4, max_iter=50)
    flipped = predict(f, x + delta) != predict(f, x)
    # A few points sit where DeepFool's linearisation oscillates between two ReLU regions
    # (5 of 200 here, also with max_iter=200): the algorithm has no guarantee.
    assert float(jnp.mean(flipped.astype(jnp.float32))) >= 0.95
    # Minimal: shrinking the perturbation by half undoes most flips.
    half = predict(f, x + 0.5 * delta) != predict(f, x)
    assert float(jnp.mean(half.astype(jnp.float32))) < 0.2


def test_already_misclassified_points_are_left_alone():
    f = linear_model(d=5, classes=4, seed=3)
    x = normal_points(64, 5, seed=4)
    wrong = (predict(f, x) + 1) % 4
    np.testing.assert_array_equal(deepfool(f, x, wrong, norm=2), 0.0)


def test_deepfool_is_deterministic_and_does_not_recompile():
    f = linear_model(d=5, classes=4, seed=3)
    x = normal_points(64, 5, seed=4)
    y = predict(f, x)
    deepfool(f, x, y, norm="inf", overshoot=0.0)
    traced = TRACES["linear"]
    a = deepfool(perturbed(f), x, y, norm="inf", overshoot=0.1)
    b = deepfool(perturbed(f), x, y, norm="inf", overshoot=0.1)
    assert TRACES["linear"] == traced
    np.testing.assert_array_equal(a, b)


def test_deepfool_rejects_bad_arguments():
    with pytest.raises(ValueError, match="top_k"):
        deepfool(linear_model(), jnp.zeros((2, 5)), top_k=1)
    with pytest.raises(ValueError, match="max_iter"):
        deepfool(linear_model(), jnp.zeros((2, 5)), max_iter=0)
    with pytest.raises(ValueError, match="unknown norm"):
        deepfool(linear_model(), jnp.zeros((2, 5)), norm="l1")
