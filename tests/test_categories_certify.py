"""Per-point certification (bound propagation with input splitting): sound, and tight."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from categories.certify import certify_points
from categories.exact2d import exact_at, scan_profile
from toymodels import make_setting
from toymodels import PRESETS

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
    # pancakes at a small eps: part of D is robust, part is not; the search decides every
    # point (a certificate or a witness), so certified is the true robust fraction, which
    # the resolution-limited scan can only overestimate, by the flips it misses
    s = make_setting("pancakes", seed=0, n_points=600)
    for norm in ("2", "inf"):
        cert = certify_points(s.logits_fn, s.x, s.y, norm=norm, eps=0.05)
        assert ((cert.certified | cert.refuted) == cert.correct).all()
        prof = scan_profile(s.logits_fn, s.x, s.y, norm=norm, eps_max=0.05)
        exact = float(exact_at(s.logits_fn, s.x, prof, norm=norm, eps=0.05).robust)
        assert 0.2 < exact < 0.98
        assert exact - 0.01 <= cert.certified_robust <= exact + 1e-6, (norm, exact, cert)


def test_any_classifier_is_certified_and_bad_eps_is_refused():
    # a plain function, not a toymodels MLP: the boundary x = 0
    f = jax.tree_util.Partial(lambda x: jnp.stack([x[:, 0], -x[:, 0]], 1))
    x = jnp.array([[0.05, 0.0], [0.5, 0.2], [-0.3, 0.0]])
    cert = certify_points(f, x, jnp.array([0, 0, 1]), norm="2", eps=0.1)
    assert cert.certified.tolist() == [False, True, True]
    assert cert.refuted.tolist() == [True, False, False]
    assert cert.certified_robust == pytest.approx(2 / 3)
    s = make_setting("margins", seed=0, n_points=10)
    with pytest.raises(ValueError, match="eps"):
        certify_points(s.logits_fn, s.x, s.y, norm="2", eps=-0.1)
