"""Dimension-agnostic: every attack runs unchanged on a small conv net over 8x8x3 images."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import attacks
from attacks.fooling import margin_loss
from test_attacks_tasks import conv_model, images, strict_dtype_promotion  # noqa: F401

EPS = {"2": 0.5, "inf": 0.03}


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_bounded_attacks_on_images(norm):
    f, x, eps = conv_model(), images(), EPS[norm]
    y = attacks.predict(f, x)
    key = jax.random.key(0)
    clean = margin_loss(f(x), y)
    for name, delta in [
        ("fgsm", attacks.fgsm(f, x, norm=norm, eps=eps)),
        ("pgd", attacks.pgd(f, x, norm=norm, eps=eps, key=key, steps=5, restarts=2)),
        ("random", attacks.random_perturbation(f, x, norm=norm, eps=eps, key=key)),
    ]:
        assert delta.shape == x.shape, name
        assert float(attacks.lp_norm(delta, norm).max()) <= eps * (1 + 1e-5), name
        gain = float(jnp.mean(margin_loss(f(x + delta), y) - clean))
        if name != "random":
            assert gain > 0, name


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_deepfool_on_images_flips_every_label(norm):
    f, x = conv_model(), images()
    delta = attacks.deepfool(f, x, norm=norm, top_k=3)
    assert delta.shape == x.shape
    np.testing.assert_array_equal(attacks.fooling_rate(f, x, delta), 1.0)


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_universal_attacks_on_images(norm):
    f, x, eps = conv_model(), images(), EPS[norm]
    key = jax.random.key(1)
    for v in (attacks.universal_perturbation(f, x, norm=norm, eps=eps, key=key, batch_size=8,
                                             max_passes=2, top_k=3),
              attacks.sgd_universal(f, x, norm=norm, eps=eps, key=key, batch_size=8,
                                    max_passes=2, restarts=1)):
        assert v.shape == (8, 8, 3)
        assert float(attacks.lp_norm(v[None], norm)[0]) <= eps * (1 + 1e-5)
        assert 0.0 <= float(attacks.fooling_rate(f, x, v)) <= 1.0
