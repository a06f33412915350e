"""Boundary normals: the spectrum of the stacked normals against random unit vectors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from categories.normals import (deepfool_minimal_perturbations, exact_minimal_perturbations,
                                normal_spectrum, normals_report, random_unit_vectors,
                                singular_values, spectrum_curve, unit_normals)


def _disk_logits(x):  # class 1 inside the disk of radius 0.5
    r = jnp.sqrt((x ** 2).sum(1))
    return jnp.stack([r - 0.5, 0.5 - r], 1)


def _linear_logits(w, x):  # any input shape: class 1 where <w, x> + 0.3 > 0
    s = (x.reshape(x.shape[0], -1) * w.reshape(1, -1)).sum(1) + 0.3
    return jnp.stack([jnp.zeros_like(s), s], 1)


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_pancakes_normals_are_correlated_and_wrinkles_are_not(norm):
    pan = normals_report("pancakes", norm=norm, seed=0, n_points=600)
    wri = normals_report("wrinkles", norm=norm, seed=0, n_points=600)
    # pancakes: every normal points up (one line), wrinkles: all around the rings
    assert pan["sigma_ratio"] < 0.15, pan["sigma_ratio"]
    assert wri["sigma_ratio"] > 0.8, wri["sigma_ratio"]
    assert pan["sigma_ratio"] < 0.25 * wri["sigma_ratio"]
    assert pan["alignment"] > 0.95 and wri["alignment"] < 0.2
    up = np.asarray(pan["angles"])
    assert np.mean(np.abs(up - np.pi / 2) < 0.3) > 0.95
    for r in (pan, wri):
        assert 0.9 < r["random_sigma_ratio"] <= 1.0
        assert r["count"] >= 0.99 * 600
        # at the default eps every point of these presets is near a boundary
        assert r["within_eps"]["count"] >= 0.95 * r["count"]


def test_random_unit_vectors_have_a_flat_spectrum():
    key = jax.random.key(3)
    v = random_unit_vectors(key, 2000, (2,))
    np.testing.assert_allclose(jnp.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    s = singular_values(v)
    assert 0.93 < float(s[1] / s[0]) <= 1.0
    # in R^50 with 1000 vectors: sigma_k^2 near m/d for all k (Marchenko-Pastur edges)
    s = singular_values(random_unit_vectors(key, 1000, (5, 10)))
    assert s.shape == (50,)
    assert float(s[1] / s[0]) > 0.9 and float(s[-1] / s[0]) > 0.3
    np.testing.assert_allclose(float((s ** 2).sum()), 1000.0, rtol=1e-3)


def test_singular_values_agree_with_numpy_and_ignore_signs():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(40, 3000)).astype(np.float32)       # d >> m: the Gram path
    ref = np.linalg.svd(a.astype(np.float64), compute_uv=False)
    np.testing.assert_allclose(singular_values(a), ref, rtol=1e-3)
    flipped = a * np.where(rng.random(40) < 0.5, -1.0, 1.0)[:, None].astype(np.float32)
    np.testing.assert_allclose(singular_values(flipped), ref, rtol=1e-3)
    b = rng.normal(size=(300, 2)).astype(np.float32)
    np.testing.assert_allclose(singular_values(b), np.linalg.svd(b.astype(np.float64),
                                                                 compute_uv=False), rtol=1e-4)


def test_unit_normals_drop_zero_and_invalid_rows():
    r = jnp.array([[3.0, 4.0], [0.0, 0.0], [jnp.inf, 1.0], [0.0, -2.0]])
    n, ok = unit_normals(r, valid=jnp.array([True, True, True, False]))
    assert ok.tolist() == [True, False, False, False]
    np.testing.assert_allclose(n[0], [0.6, 0.8], atol=1e-6)
    assert float(jnp.abs(n[1:]).sum()) == 0.0
    s = normal_spectrum(r, jax.random.key(0))
    # (0.6, 0.8) and (0, -1): N N^T has eigenvalues 1 +- 0.8, so sigma_2/sigma_1 = 1/3
    assert s.count == 2 and s.sigma_ratio == pytest.approx(1 / 3, abs=1e-5)


def test_exact_normals_inside_a_disk_point_every_way():
    key = jax.random.key(1)
    # points inside a disk: the normals point radially outward, every way
    a = jnp.linspace(0, 2 * jnp.pi, 200, endpoint=False)
    x = 0.3 * jnp.stack([jnp.cos(a), jnp.sin(a)], 1)
    r, valid, _ = exact_minimal_perturbations(jax.tree_util.Partial(_disk_logits), x,
                                              jnp.ones(200, jnp.int32), radius=0.5)
    s = normal_spectrum(r, key, valid=valid)
    assert s.count == 200 and s.sigma_ratio > 0.99 and s.alignment < 0.01


def test_deepfool_normals_of_a_linear_model_on_image_shaped_inputs():
    w = jax.random.normal(jax.random.key(0), (4, 4, 3))
    f = jax.tree_util.Partial(_linear_logits, w)
    x = 0.1 * jax.random.normal(jax.random.key(1), (64, 4, 4, 3))
    r, valid = deepfool_minimal_perturbations(f, x, batch_size=32)   # two batches
    assert r.shape == x.shape and valid.shape == (64,)
    s = normal_spectrum(r, jax.random.key(2), valid=valid)
    assert s.count == int(valid.sum()) >= 60
    assert s.singular.shape == (48,)
    # every normal is +-w/|w|: rank one, whereas random vectors fill 48 dimensions
    assert s.sigma_ratio < 1e-3 and s.random_sigma_ratio > 0.5
    cos = jnp.abs((s.normals.reshape(64, -1) @ w.reshape(-1)) / jnp.linalg.norm(w))
    assert float(cos[valid].min()) > 0.9999
    curve = spectrum_curve(s)   # the paper's curve: normalised singular values
    assert curve["index"] == list(range(1, 49)) and curve["normals"][0] == 1.0
    assert max(curve["normals"][1:]) < 1e-3 < min(curve["random"])
