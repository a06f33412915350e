"""Norms, exact projection onto B_eps, and uniform sampling of S_eps and B_eps."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attacks.norms import (dual_norm, lp_norm, parse_norm, project, sample_ball, sample_sphere,
                           steepest_direction)

pytestmark = pytest.mark.usefixtures("strict_dtype_promotion")


@pytest.mark.parametrize("name,expected", [
    (2, "2"), (2.0, "2"), ("2", "2"), ("l2", "2"), ("L2", "2"),
    ("inf", "inf"), ("linf", "inf"), ("Linf", "inf"), (float("inf"), "inf"), (np.inf, "inf"),
])
def test_parse_norm_accepts_the_usual_names(name, expected):
    assert parse_norm(name) == expected


@pytest.mark.parametrize("bad", [1, 3, "l1", "", None, True, -math.inf, "two"])
def test_parse_norm_rejects_others_naming_them(bad):
    with pytest.raises(ValueError, match=repr(bad).replace("(", r"\(").replace(")", r"\)")):
        parse_norm(bad)


def test_lp_norm_over_all_non_leading_axes():
    delta = jnp.zeros((2, 2, 3)).at[0, 0, 0].set(3.0).at[0, 1, 2].set(-4.0).at[1].set(-1.0)
    np.testing.assert_allclose(lp_norm(delta, 2), [5.0, math.sqrt(6.0)], rtol=1e-6)
    np.testing.assert_allclose(lp_norm(delta, "inf"), [4.0, 1.0])
    np.testing.assert_allclose(dual_norm(delta, "inf"), [7.0, 6.0])      # l1


def test_steepest_direction_is_unit_and_maximises_the_inner_product():
    g = jnp.asarray(np.random.default_rng(0).normal(size=(50, 4)), jnp.float32)
    for norm in ("2", "inf"):
        u = steepest_direction(g, norm)
        np.testing.assert_allclose(lp_norm(u, norm), 1.0, rtol=1e-6)
        # <g, u> equals the dual norm, the maximum over the unit ball.
        np.testing.assert_allclose(jnp.sum(g * u, axis=1), dual_norm(g, norm), rtol=1e-5)
    assert float(jnp.abs(steepest_direction(jnp.zeros((1, 3)), "2")).max()) == 0.0


def test_project_l2_rescales_only_rows_outside():
    delta = jnp.array([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]])
    np.testing.assert_allclose(project(delta, 2, 1.0), [[0.6, 0.8], [0.3, 0.4], [0.0, 0.0]],
                               rtol=1e-6)


def test_project_linf_clips():
    delta = jnp.array([[3.0, -0.2], [-5.0, 0.5]])
    np.testing.assert_allclose(project(delta, "inf", 0.5), [[0.5, -0.2], [-0.5, 0.5]])


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_project_is_the_nearest_point_of_the_ball(norm):
    delta = jnp.asarray(2.0 * np.random.default_rng(1).normal(size=(200, 3, 2)), jnp.float32)
    p = project(delta, norm, 1.0)
    assert float(lp_norm(p, norm).max()) <= 1.0 + 1e-6
    np.testing.assert_allclose(project(p, norm, 1.0), p, rtol=1e-6)      # idempotent
    # No point of the ball is closer (Euclidean) to delta than its projection.
    others = sample_ball(jax.random.key(2), (200, 3, 2), norm, 1.0)
    closer = lp_norm(delta - others, 2) < lp_norm(delta - p, 2) - 1e-6
    assert not bool(jnp.any(closer))


def test_project_accepts_one_radius_per_row():
    delta = jnp.ones((3, 2))
    eps = jnp.array([0.1, 0.5, 2.0])
    np.testing.assert_allclose(lp_norm(project(delta, "inf", eps), "inf"), [0.1, 0.5, 1.0])


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_sample_sphere_lies_on_the_sphere(norm):
    d = sample_sphere(jax.random.key(2), (20, 8, 8, 3), norm, 0.3)
    assert d.shape == (20, 8, 8, 3) and d.dtype == jnp.float32
    np.testing.assert_allclose(lp_norm(d, norm), 0.3, rtol=1e-5)


N = 20000  # one sample shape (N, 3) for the statistical tests: one compilation per sampler


def test_linf_sphere_is_uniform_on_the_cube_surface():
    d = np.asarray(sample_sphere(jax.random.key(3), (N, 3), "inf", 2.0))
    on_face = np.isclose(np.abs(d), 2.0)
    assert on_face.any(axis=1).all()
    axis = np.argmax(on_face, axis=1)
    face = axis * 2 + (d[np.arange(N), axis] > 0)
    counts = np.bincount(face, minlength=6) / N
    np.testing.assert_allclose(counts, 1 / 6, atol=0.012)                 # six equal faces
    free = d[~on_face]                                                    # the other coordinates
    assert abs(free.mean()) < 0.03 and abs(free.var() - 4.0 / 3.0) < 0.03  # uniform on [-2, 2]


def test_l2_sphere_is_isotropic():
    d = np.asarray(sample_sphere(jax.random.key(4), (N, 3), 2, 1.0))
    np.testing.assert_allclose(d.mean(axis=0), 0.0, atol=0.015)
    np.testing.assert_allclose(np.cov(d.T), np.eye(3) / 3, atol=0.015)


def test_l2_ball_radius_law():
    # Uniform in the 3-ball: P(|x| <= r) = r^3.
    r = np.linalg.norm(np.asarray(sample_ball(jax.random.key(5), (N, 3), 2, 1.0)), axis=1)
    for t in (0.5, 0.8, 0.95):
        assert abs(np.mean(r <= t) - t ** 3) < 0.015
    assert r.max() <= 1.0 + 1e-6


def test_sampling_is_deterministic_and_traces_eps():
    f = jax.jit(lambda k, eps: sample_sphere(k, (4, 3), "inf", eps))
    a = f(jax.random.key(6), jnp.float32(0.1))
    np.testing.assert_array_equal(a, f(jax.random.key(6), jnp.float32(0.1)))
    b = f(jax.random.key(6), jnp.float32(0.2))
    np.testing.assert_allclose(b, 2 * a, rtol=1e-6)
    assert f._cache_size() == 1
