import jax
import numpy as np
import pytest

from toymodels import CLASSICS, PRESETS, get_task
from toymodels.datasets import DEFAULT_EPS


@pytest.mark.parametrize("name", list(PRESETS) + list(CLASSICS))
def test_sample_shapes_labels_and_determinism(name):
    task = get_task(name)
    x, y = task.sample(jax.random.key(3), 500)
    assert x.shape == (500, 2) and x.dtype == np.float32
    assert y.shape == (500,) and set(np.unique(y)) <= set(range(task.num_classes))
    assert len(np.unique(y)) == task.num_classes
    x2, y2 = task.sample(jax.random.key(3), 500)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    (x0, x1), (y0, y1) = task.bounds
    assert (x[:, 0] >= x0).all() and (x[:, 0] <= x1).all()
    assert (x[:, 1] >= y0).all() and (x[:, 1] <= y1).all()


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_sample_inside_their_intended_region(name):
    task = get_task(name)
    x, y = task.sample(jax.random.key(0), 2000)
    np.testing.assert_array_equal(task.region(np.asarray(x, np.float64)), np.asarray(y))


def test_preset_geometry_matches_its_category():
    eps = DEFAULT_EPS
    # margins: every point of D is farther than 2 eps from the intended boundary.
    t = get_task("margins")
    x, _ = t.sample(jax.random.key(0), 500)
    for a in np.linspace(0, 2 * np.pi, 16, endpoint=False):
        shifted = np.asarray(x) + 2 * eps * np.array([np.cos(a), np.sin(a)])
        np.testing.assert_array_equal(t.region(shifted), t.region(np.asarray(x, np.float64)))
    # pancakes: the one delta (0, eps) moves all of D into another band.
    t = get_task("pancakes")
    x, y = t.sample(jax.random.key(0), 500)
    assert (t.region(np.asarray(x) + np.array([0.0, eps])) != np.asarray(y)).all()
    # bubbles: every delta of size eps leaves the bubble.
    t = get_task("bubbles")
    x, y = t.sample(jax.random.key(0), 500)
    for a in np.linspace(0, 2 * np.pi, 16, endpoint=False):
        moved = np.asarray(x) + eps * np.array([np.cos(a), np.sin(a)])
        assert (t.region(moved) != np.asarray(y)).all()


def test_support_label_marks_d_and_not_far_points():
    t = get_task("bubbles")
    x, y = t.sample(jax.random.key(1), 50)
    np.testing.assert_array_equal(t.support_label(np.asarray(x)), np.asarray(y))
    assert (t.support_label(np.array([[0.0, 0.3], [0.95, 0.95]])) == -1).all()


def test_unknown_task_names_the_choices():
    with pytest.raises(ValueError, match="unknown dataset 'nope'.*margins"):
        get_task("nope")
