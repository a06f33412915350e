"""Dimension-agnostic: every attack runs unchanged on a small conv net over 8x8x3 images.

Each attack runs once per norm where that is cheap (FGSM, DeepFool, random), once otherwise
(PGD linf, the universal algorithms one norm each): the norms' handling of image-shaped
arrays is tested in test_attacks_norms.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import attacks
from attacks.fooling import margin_loss
from attack_tasks import conv_model, images

pytestmark = pytest.mark.usefixtures("strict_dtype_promotion")

EPS = {"2": 0.5, "inf": 0.03}


def _margin_gain(f, x, delta):
    y = attacks.predict(f, x)
    return float(jnp.mean(margin_loss(f(x + delta), y) - margin_loss(f(x), y)))


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_fgsm_random_and_deepfool_on_images(norm):
    f, x, eps = conv_model(), images(), EPS[norm]
    delta = attacks.fgsm(f, x, norm=norm, eps=eps)
    noise = attacks.random_perturbation(f, x, norm=norm, eps=eps, key=jax.random.key(0))
    for d in (delta, noise):
        assert d.shape == x.shape
        np.testing.assert_allclose(attacks.lp_norm(d, norm), eps, rtol=1e-5)
    assert _margin_gain(f, x, delta) > 0
    r = attacks.deepfool(f, x, norm=norm, top_k=3)
    assert r.shape == x.shape
    np.testing.assert_array_equal(attacks.fooling_rate(f, x, r), 1.0)


def test_pgd_on_images():
    f, x, eps = conv_model(), images(), EPS["inf"]
    delta = attacks.pgd(f, x, norm="inf", eps=eps, key=jax.random.key(0), steps=5, restarts=2)
    assert delta.shape == x.shape
    assert float(attacks.lp_norm(delta, "inf").max()) <= eps * (1 + 1e-5)
    y = attacks.predict(f, x)
    gain = margin_loss(f(x + delta), y) - margin_loss(f(x), y)
    assert float(jnp.min(gain)) >= -1e-5 and float(jnp.mean(gain)) > 0


@pytest.mark.parametrize("method,norm", [("deepfool", "2"), ("sgd", "inf")])
def test_universal_attacks_on_images(method, norm):
    f, x, eps = conv_model(), images(), EPS[norm]
    key = jax.random.key(1)
    if method == "deepfool":
        v = attacks.universal_perturbation(f, x, norm=norm, eps=eps, key=key, batch_size=8,
                                           max_passes=2, top_k=3)
    else:
        v = attacks.sgd_universal(f, x, norm=norm, eps=eps, key=key, batch_size=8, max_passes=2)
    assert v.shape == (8, 8, 3)
    assert float(attacks.lp_norm(v[None], norm)[0]) <= eps * (1 + 1e-5)
    rate = float(attacks.fooling_rate(f, x, v))
    noise = attacks.random_perturbation(f, x, norm=norm, eps=eps, key=key)
    assert rate >= float(attacks.fooling_rate(f, x, noise))
