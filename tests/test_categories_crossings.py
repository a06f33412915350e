"""Crossing counts along segments: the two-stage count against a dense sampling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from categories.crossings import (crossing_counts, crossings_measure, dense_crossing_counts,
                                  histogram)
from toymodels import make_setting

SLABS = jnp.array([0.11, 0.23, 0.37, 0.52, 0.68, 0.81])


def _slab_logits(x):
    """Class 1 in six thin vertical slabs (width 0.006), class 0 elsewhere."""
    d = jnp.abs(x[:, :1] - SLABS[None]).min(1) - 0.003
    return jnp.stack([d, jnp.zeros_like(d)], 1)


def _halfplane_logits(x):
    return jnp.stack([-x[:, 1], x[:, 1]], 1)


def _directions(key, n, length):
    d = jax.random.normal(key, (n, 2))
    return length * d / jnp.linalg.norm(d, axis=1, keepdims=True)


@pytest.mark.parametrize("name", ["wrinkles", "bubbles"])
def test_counts_agree_with_dense_sampling_on_preset_models(name):
    s = make_setting(name, seed=0, n_points=600)
    for length in (0.15, 1.0):
        delta = _directions(jax.random.key(5), 600, length)
        c = crossing_counts(s.logits_fn, s.x, delta)
        dense = dense_crossing_counts(s.logits_fn, s.x, delta, samples=4096)
        assert (np.asarray(c.counts) == dense).mean() >= 0.99, (name, length)
        if length == 1.0:
            assert dense.max() >= 2  # long segments cross several boundaries
        end = np.asarray(s.logits_fn(s.x + delta).argmax(-1) != s.logits_fn(s.x).argmax(-1))
        np.testing.assert_array_equal(np.asarray(c.end_changed), end)
        # an odd count exactly when the end label differs (two classes)
        np.testing.assert_array_equal(np.asarray(c.counts) % 2 == 1, end)


def test_refinement_finds_thin_slabs_the_coarse_grid_misses():
    f = jax.tree_util.Partial(_slab_logits)
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    x = jnp.stack([0.2 * jax.random.uniform(k1, (300,)) - 0.1, jax.random.uniform(k2, (300,))], 1)
    a = jax.random.uniform(k3, (300,)) - 0.5
    delta = jnp.stack([jnp.cos(a), jnp.sin(a)], 1)
    c = np.asarray(crossing_counts(f, x, delta).counts)
    dense = dense_crossing_counts(f, x, delta, samples=16384)
    coarse = dense_crossing_counts(f, x, delta, samples=64)   # the first stage alone
    assert dense.mean() > 10                                   # ~ two crossings per slab
    assert (c == dense).mean() >= 0.99
    assert (coarse == dense).mean() < 0.2


def test_first_crossing_of_a_halfplane():
    f = jax.tree_util.Partial(_halfplane_logits)
    depth = jnp.linspace(0.01, 0.3, 50)
    x = jnp.stack([jnp.zeros(50), -depth], 1)
    c = crossing_counts(f, x, jnp.array([0.1, 0.2]))
    hit = np.asarray(depth) < 0.2
    np.testing.assert_array_equal(np.asarray(c.counts), hit.astype(int))
    t = np.asarray(c.first)
    np.testing.assert_allclose(t[hit], np.asarray(depth)[hit] / 0.2, atol=1 / 64 / 32 + 1e-6)
    assert np.isinf(t[~hit]).all()


def test_histogram_and_bad_shapes():
    assert histogram([0, 1, 1, 3], top=3) == [0.25, 0.5, 0.25]
    assert histogram([2, 0], correct=[True, False]) == [0.0, 0.0, 1.0]
    f = jax.tree_util.Partial(_halfplane_logits)
    with pytest.raises(ValueError, match="delta must have shape"):
        crossing_counts(f, jnp.zeros((4, 2)), jnp.zeros((3, 2)))


def test_measure_on_pancakes_universal_crosses_once_everywhere():
    s = make_setting("pancakes", seed=0, n_points=600)
    r = crossings_measure(s.logits_fn, s.x, s.y, norm="2", eps=0.15, key=s.key)
    assert r["universal"]["histogram"][:2] == [0.0, 1.0]   # one boundary, for every point
    assert r["pointwise"]["end_changed"] == 1.0
    assert 0.1 < r["random"]["mean"] < 0.6
    dx, dy = r["universal_delta"]
    assert dx * dx + dy * dy <= 0.15 ** 2 + 1e-6 and dy > 0.09   # upward, across every band top
