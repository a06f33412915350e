"""Certification by interval bound propagation with input splitting: sound, and tight enough."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from categories.certify import (activation_bounds, certify_points, margin_lower_bounds,
                                mlp_layers)
from categories.exact2d import exact_at, scan_profile
from toymodels import make_setting
from toymodels import PRESETS
from toymodels.mlp import ACTIVATIONS, create_model, logits_fn_of

SWEEP = (0.03, 0.08, 0.15, 0.25)


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_certified_never_exceeds_exact_on_every_preset_and_eps(norm):
    for name in PRESETS:
        s = make_setting(name, seed=0, n_points=600)
        prof = scan_profile(s.logits_fn, s.x, s.y, norm=norm, eps_max=max(SWEEP))
        for eps in SWEEP:
            cert = certify_points(s.logits_fn, s.x, s.y, norm=norm, eps=eps)
            exact = exact_at(s.logits_fn, s.x, prof, norm=norm, eps=eps)
            assert cert.certified_robust <= float(exact.robust) + 1e-6, (name, eps)
            # per point: a certified point has no boundary within eps, a refuted one has
            rho = np.asarray(prof.rho)
            assert (rho[cert.certified] > eps - 1e-3).all(), (name, eps)
            assert (rho[cert.refuted] <= eps + 1e-3).all(), (name, eps)
            assert not (cert.certified & cert.refuted).any()


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_margins_are_certified_at_the_default_eps(norm):
    s = make_setting("margins", seed=0, n_points=600)
    cert = certify_points(s.logits_fn, s.x, s.y, norm=norm, eps=0.15)
    assert cert.certified_robust >= 0.9, cert.certified_robust
    assert cert.clean_accuracy >= 0.99


def test_certificate_is_tight_where_the_boundary_is_near():
    # pancakes at a small eps: part of D is robust, part is not; IBP with splitting
    # decides all but a few points, so certified is within 0.03 of exact.
    s = make_setting("pancakes", seed=0, n_points=600)
    for norm in ("2", "inf"):
        cert = certify_points(s.logits_fn, s.x, s.y, norm=norm, eps=0.05)
        prof = scan_profile(s.logits_fn, s.x, s.y, norm=norm, eps_max=0.05)
        exact = float(exact_at(s.logits_fn, s.x, prof, norm=norm, eps=0.05).robust)
        assert 0.2 < exact < 0.98
        assert exact - 0.03 <= cert.certified_robust <= exact + 1e-6, (norm, exact, cert)


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_interval_bounds_hold_at_sampled_points(activation):
    model = create_model(num_classes=3, width=16, depth=2, activation=activation,
                         rngs=nnx.Rngs(0))
    f = logits_fn_of(model)
    layers, act = mlp_layers(f)
    assert act == activation
    k1, k2, k3 = jax.random.split(jax.random.key(1), 3)
    centre = jax.random.uniform(k1, (64, 2), minval=-1, maxval=1)
    half = jax.random.uniform(k2, (64, 2), minval=0.0, maxval=0.5)
    lo, hi = centre - half, centre + half
    label = f(centre).argmax(-1).astype(jnp.int32)
    bound = margin_lower_bounds(layers, lo, hi, label, activation=activation)
    # 200 points per box: every true margin is at least the box's lower bound
    u = jax.random.uniform(k3, (200, 64, 2))
    pts = lo[None] + u * (hi - lo)[None]
    z = f(pts.reshape(-1, 2)).reshape(200, 64, 3)
    own = jnp.take_along_axis(z, label[None, :, None], 2)[..., 0]
    other = jnp.where(jax.nn.one_hot(label, 3, dtype=bool)[None], -jnp.inf, z).max(-1)
    assert bool(((own - other) >= bound[None] - 1e-5).all())
    # and the bound is not vacuous on small boxes
    tiny = margin_lower_bounds(layers, centre - 1e-4, centre + 1e-4, label, activation=activation)
    assert float((tiny > 0).mean()) > 0.9


def test_gelu_bounds_contain_the_function_on_random_intervals():
    k1, k2 = jax.random.split(jax.random.key(0))
    a = jax.random.uniform(k1, (5000,), minval=-4, maxval=3)
    b = a + jax.random.uniform(k2, (5000,), maxval=2)
    lower, upper = activation_bounds("gelu", a, b)
    t = jnp.linspace(0, 1, 201)
    vals = jax.nn.gelu(a[:, None] + t[None] * (b - a)[:, None])
    assert bool((vals >= lower[:, None] - 1e-6).all() and (vals <= upper[:, None] + 1e-6).all())
    with pytest.raises(ValueError, match="activation"):
        activation_bounds("softplus", a, b)


def test_only_mlps_are_certified():
    f = jax.tree_util.Partial(lambda x: jnp.stack([x[:, 0], -x[:, 0]], 1))
    with pytest.raises(ValueError, match="toymodels MLP"):
        certify_points(f, jnp.zeros((3, 2)), jnp.zeros(3, jnp.int32), norm="2", eps=0.1)
    s = make_setting("margins", seed=0, n_points=10)
    with pytest.raises(ValueError, match="eps"):
        certify_points(s.logits_fn, s.x, s.y, norm="2", eps=-0.1)
