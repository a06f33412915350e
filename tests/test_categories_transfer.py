"""Transfer of universal perturbations between models trained on the same D."""


import jax
import numpy as np

from categories.exact2d import exact_fractions
from toymodels import load_or_train
from categories.transfer import default_family, family_of, transfer_matrix
from toymodels import TrainConfig, get_task


def test_family_variants_are_distinct():
    fam = default_family("pancakes", seed=3, steps=100)
    assert len(fam) == 4 and len(set(fam.values())) == 4
    assert all(c.steps == 100 for c in fam.values())
    assert [c.seed for c in fam.values()] == [3, 4, 3, 3]
    assert list(family_of(TrainConfig(activation="tanh")).values())[3].activation == "relu"


def test_matrix_diagonal_is_each_models_universal_and_pancakes_transfer():
    fam = dict(list(default_family("pancakes", seed=0, steps=300).items())[:2])
    t = transfer_matrix("pancakes", fam, norm="2", eps=0.15, seed=0, n_points=600)
    assert t.matrix.shape == (2, 2) and t.deltas.shape == (2, 2)
    assert ((t.matrix >= 0) & (t.matrix <= 1)).all()
    x, y = get_task("pancakes").sample(jax.random.split(jax.random.key(0))[0], 600)
    for i, c in enumerate(fam.values()):
        f = load_or_train(get_task("pancakes"), c).logits_fn
        fr = exact_fractions(f, x, y, norm="2", eps=0.15)
        assert abs(t.matrix[i, i] - float(fr.universal)) < 1e-6
        np.testing.assert_allclose(t.deltas[i], np.asarray(fr.universal_delta), atol=1e-7)
    # one upward delta pushes D across the band boundary of every model
    assert t.matrix.min() >= 0.8
    again = transfer_matrix("pancakes", fam, norm="2", eps=0.15, seed=0, n_points=600)
    np.testing.assert_array_equal(again.matrix, t.matrix)
