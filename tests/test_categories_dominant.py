"""Dominant labels of a perturbation: counts, transitions, agreement with the exact fraction."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from categories.dominant import dominant_labels, dominant_measure
from categories.exact2d import exact_fractions
from toymodels import make_setting


def _three_bands(x):
    # class 0 for y < 0, 1 for 0 <= y < 0.5, 2 above: any input shape (its mean is y)
    y = x.reshape(x.shape[0], -1).mean(1)
    return jnp.stack([-y, 0.25 - jnp.abs(y - 0.25), y - 0.5], 1)


def test_counts_match_the_exact_universal_fraction():
    # margins (three classes) at a large eps: the universal delta fools part of D
    s = make_setting("margins", seed=0, n_points=600)
    fr = exact_fractions(s.logits_fn, s.x, s.y, norm="2", eps=0.45)
    r = dominant_measure(s.logits_fn, s.x, s.y, norm="2", eps=0.45)
    assert r["fooled"] == int(np.asarray(fr.universal_fooled).sum()) >= 30
    assert abs(r["universal"] - float(fr.universal)) < 1e-6
    assert sum(r["counts"]) == r["fooled"]
    t = np.asarray(r["transitions"])
    assert t.sum() == r["correct"] and np.trace(t) == r["correct"] - r["fooled"]
    np.testing.assert_array_equal(t.sum(0) - np.diag(t), r["counts"])
    assert r["dominant"] == int(np.argmax(r["counts"]))
    assert r["dominant_share"] == max(r["counts"]) / r["fooled"]


def test_image_shaped_inputs_in_batches_and_per_point_deltas():
    f = jax.tree_util.Partial(_three_bands)
    y = jnp.linspace(-0.4, 0.9, 27)
    x = jnp.broadcast_to(y[:, None, None, None], (27, 4, 4, 3))
    labels = _three_bands(x).argmax(-1)
    d = dominant_labels(f, x, jnp.full((4, 4, 3), 0.3), labels=labels, batch_size=5)
    before, after = np.asarray(labels), np.asarray(_three_bands(x + 0.3).argmax(-1))
    np.testing.assert_array_equal(d.counts, np.bincount(after[after != before], minlength=3))
    assert d.top[0] == int(np.argmax(d.counts)) and d.fooled == int((after != before).sum())
    # one delta per point: the same as the shared one repeated
    per = dominant_labels(f, x, jnp.full(x.shape, 0.3), labels=labels, batch_size=7)
    np.testing.assert_array_equal(per.transitions, d.transitions)
    wrong = dominant_labels(f, x, jnp.full((4, 4, 3), 0.3), labels=(labels + 1) % 3)
    assert wrong.correct == 0 and wrong.fooled == 0 and wrong.top == []
    with pytest.raises(ValueError, match="delta must have shape"):
        dominant_labels(f, x, jnp.zeros((2, 2)))
