"""The exact 2D fractions against closed forms and a plain brute-force grid."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from categories.exact2d import exact_at, exact_fractions, scan_profile, sphere_point
from toymodels import get_task



@pytest.fixture(autouse=True)
def strict_dtype_promotion():
    """Our code under strict promotion, for this module's tests only (a global switch
    would leak into every test collected after it, the app's included)."""
    with jax.numpy_dtype_promotion("strict"):
        yield


def _halfplane():
    # class 0 below y = 0, class 1 above.
    return jax.tree_util.Partial(_halfplane_logits)


def _halfplane_logits(x):
    return jnp.stack([-x[:, 1], x[:, 1]], 1)


def _disk_logits(x):
    # class 1 inside the unit-0.5 disk, class 0 outside.
    r = jnp.sqrt((x ** 2).sum(1))
    return jnp.stack([r - 0.5, 0.5 - r], 1)


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_sphere_points_are_unit_and_uniform_in_arc_length(norm):
    s = (jnp.arange(800, dtype=jnp.float32) + 0.5) / 800
    u = sphere_point(norm, s)
    size = jnp.sqrt((u ** 2).sum(1)) if norm == "2" else jnp.abs(u).max(1)
    np.testing.assert_allclose(size, 1.0, atol=1e-6)
    steps = jnp.abs(jnp.diff(u, axis=0)).sum(1) if norm == "inf" else jnp.sqrt((jnp.diff(u, axis=0) ** 2).sum(1))
    np.testing.assert_allclose(steps, steps.mean(), rtol=1e-3)


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_halfplane_closed_forms(norm):
    # Points below y = 0 at depths d: rho = d in both norms; the universal delta (0, eps)
    # flips exactly the points with d <= eps; random on S_eps flips with the
    # probability that the sphere point rises above d.
    d = jnp.linspace(0.01, 0.29, 300, dtype=jnp.float32)
    x = jnp.stack([jnp.zeros_like(d), -d], 1)
    y = jnp.zeros(300, jnp.int32)
    eps = 0.15
    prof = scan_profile(_halfplane(), x, y, norm=norm, eps_max=0.3)
    np.testing.assert_allclose(prof.rho, d, atol=2e-4)
    fr = exact_at(_halfplane(), x, prof, norm=norm, eps=eps)
    share = float((d <= eps).mean())
    assert abs(float(fr.pointwise) - share) < 0.01
    assert abs(float(fr.universal) - share) < 0.01
    a = np.asarray(d) / eps
    if norm == "2":
        p = np.where(a < 1, np.arccos(np.minimum(a, 1)) / np.pi, 0.0)
    else:  # perimeter 8: top side (2) plus the parts of the vertical sides above d
        p = np.where(a < 1, (2 + 2 * (1 - a)) / 8, 0.0)
    assert abs(float(fr.random) - p.mean()) < 0.01


def test_disk_rho_and_normals():
    a = jnp.linspace(0, 2 * jnp.pi, 64, endpoint=False)
    r0 = 0.4
    x = r0 * jnp.stack([jnp.cos(a), jnp.sin(a)], 1).astype(jnp.float32)
    y = jnp.ones(64, jnp.int32)
    f = jax.tree_util.Partial(_disk_logits)
    prof = scan_profile(f, x, y, norm="2", eps_max=0.2)
    np.testing.assert_allclose(prof.rho, 0.1, atol=5e-4)
    # the minimal perturbation points radially outward
    cos = (prof.r * x).sum(1) / (jnp.linalg.norm(prof.r, axis=1) * r0)
    assert float(cos.min()) > 0.999


def _brute(logits_fn, x, y, norm, eps, res=161):
    """Brute force: a dense grid of deltas in B_eps, every point, every delta."""
    g = np.linspace(-eps, eps, res, dtype=np.float32)
    deltas = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    if norm == "2":
        deltas = deltas[np.linalg.norm(deltas, axis=1) <= eps]
    pred = np.asarray(logits_fn(x).argmax(-1))
    correct = pred == np.asarray(y)
    flips = []
    for chunk in np.array_split(deltas, 16):
        pts = (np.asarray(x)[None] + chunk[:, None]).reshape(-1, 2)
        flips.append(np.asarray(logits_fn(jnp.asarray(pts)).argmax(-1)).reshape(len(chunk), -1) != pred)
    flips = np.concatenate(flips)[:, correct]
    return flips.any(0).mean(), flips.mean(1).max()


def _speck_logits(x):
    # class 1 inside a speck of radius 0.01 centred at (0.2, 0.2), class 0 elsewhere
    r = jnp.sqrt(((x - 0.2) ** 2).sum(1))
    return jnp.stack([r - 0.01, 0.01 - r], 1)


def test_linf_rho_finds_a_speck_only_a_corner_ray_reaches():
    """The linf ball around the origin first meets the speck with its corner, at
    rho_inf = 0.2 - 0.01 / sqrt 2; the scan's rays next to the corner pass 0.0125 from its
    centre, so only a ray through the corner itself finds it."""
    f = jax.tree_util.Partial(_speck_logits)
    x = jnp.array([[0.0, 0.0]])
    y = jnp.array([0], jnp.int32)
    prof = scan_profile(f, x, y, norm="inf", eps_max=0.3)
    np.testing.assert_allclose(prof.rho, [0.2 - 0.01 / np.sqrt(2)], atol=2e-5)
    fr = exact_at(f, x, prof, norm="inf", eps=0.2)
    assert float(fr.pointwise) == 1.0 and float(fr.universal) == 1.0


@pytest.mark.parametrize("name", ["margins", "wrinkles", "pancakes", "bubbles"])
@pytest.mark.parametrize("norm", ["2", "inf"])
def test_exact_agrees_with_brute_force_grid(trained, name, norm):
    t = trained(name)
    x, y = get_task(name).sample(jax.random.key(7), 150)
    eps = 0.15
    fr = exact_fractions(t.logits_fn, x, y, norm=norm, eps=eps)
    bf_pointwise, bf_universal = _brute(t.logits_fn, x, y, norm, eps)
    # every delta of the brute-force grid lies in B_eps: the exact optimum cannot be below
    # the grid's best delta, nor the exact pointwise share below the grid's
    assert float(fr.universal) >= bf_universal - 1e-6
    assert float(fr.pointwise) >= bf_pointwise - 1e-6
    # and the optimum is a witness: its delta lies in B_eps and, re-checked by a forward
    # pass, flips exactly the share reported
    d = np.asarray(fr.universal_delta)
    size = np.abs(d).max() if norm == "inf" else np.linalg.norm(d)
    assert size <= eps * (1 + 1e-6)
    pred = np.asarray(t.logits_fn(x).argmax(-1))
    correct = pred == np.asarray(y)
    flipped = np.asarray(t.logits_fn(x + d).argmax(-1)) != pred
    assert flipped[correct].mean() == pytest.approx(float(fr.universal), abs=1e-6)
    # and close: the grid (step eps/80) finds all but at most 2% of what the exact search finds
    assert float(fr.universal) - bf_universal <= 0.02
    assert float(fr.pointwise) - bf_pointwise <= 0.02


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_invariant_and_monotone_curves_on_every_preset(trained, norm):
    from toymodels import PRESETS, get_task

    for name in PRESETS:
        t = trained(name)
        x, y = get_task(name).sample(jax.random.key(1), 400)
        prof = scan_profile(t.logits_fn, x, y, norm=norm, eps_max=0.3)
        assert (prof.random <= prof.universal + 1e-6).all()
        assert (prof.universal <= prof.pointwise + 1e-6).all()
        np.testing.assert_allclose(prof.robust, 1 - prof.pointwise, atol=1e-6)
        assert (jnp.diff(prof.pointwise) >= 0).all() and (jnp.diff(prof.universal) >= 0).all()
        for eps in (0.03, 0.08, 0.15, 0.22, 0.3):
            fr = exact_at(t.logits_fn, x, prof, norm=norm, eps=eps)
            assert float(fr.random) <= float(fr.universal) + 1e-6 <= float(fr.pointwise) + 2e-6, (name, eps)


def test_no_recompile_when_eps_or_params_change(trained):
    from categories import exact2d
    from toymodels import get_task

    x, y = get_task("margins").sample(jax.random.key(0), 64)
    a, b = trained("margins"), trained("margins", 1)
    p = scan_profile(a.logits_fn, x, y, norm="2", eps_max=0.3)
    exact_at(a.logits_fn, x, p, norm="2", eps=0.1)
    n_scan, n_at = exact2d._scan._cache_size(), exact2d._at._cache_size()
    p = scan_profile(b.logits_fn, x, y, norm="2", eps_max=0.25)
    exact_at(b.logits_fn, x, p, norm="2", eps=0.2)
    assert exact2d._scan._cache_size() == n_scan and exact2d._at._cache_size() == n_at


def _tilted_logits(x):
    # class 1 above the line y = 0.2 x (normal (-0.2, 1): mostly vertical, not an axis)
    side = x[:, 1] - 0.2 * x[:, 0]
    return jnp.stack([-side, side], 1)


def test_linf_minimal_perturbation_is_the_shortest_of_the_minimal_ones():
    """Under l-inf a boundary along an axis meets the square B_rho with a whole edge: every
    point of it is a minimal perturbation, and the one drawn is the shortest (l2), straight
    across. A tilted boundary meets it with one corner, the only minimal perturbation,
    whose l-inf length rho = d / |n|_1 is below the straight move's d / |n_y|."""
    d = jnp.linspace(0.02, 0.25, 12, dtype=jnp.float32)
    x = jnp.stack([jnp.linspace(-0.5, 0.5, 12, dtype=jnp.float32), -d], 1)
    y = jnp.zeros(12, jnp.int32)
    prof = scan_profile(_halfplane(), x, y, norm="inf", eps_max=0.3)
    r = np.asarray(prof.r)
    np.testing.assert_allclose(r[:, 1], d, rtol=1e-4)                # up, by rho
    np.testing.assert_allclose(r[:, 0], 0.0, atol=1e-5 * float(d.max()))   # not a corner
    np.testing.assert_allclose(np.abs(r).max(1), prof.rho, rtol=1e-5)
    # the tilted line: the corner (rho, rho) of the square is the one minimal perturbation
    f = jax.tree_util.Partial(_tilted_logits)
    x = x.at[:, 1].set(0.2 * x[:, 0] - d)                               # d below the line
    prof = scan_profile(f, x, y, norm="inf", eps_max=0.3)
    rho = np.asarray(d) / 1.2                                           # 0.2 rho + rho = d
    np.testing.assert_allclose(prof.rho, rho, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(prof.r), np.stack([-rho, rho], 1), rtol=1e-3)
    flipped = np.asarray(f(x + prof.r * (1 + 1e-4)).argmax(-1)) != 0
    assert flipped.all()
