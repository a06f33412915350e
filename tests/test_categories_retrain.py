"""Retraining on perturbations of D: end to end, deterministic, and measured honestly."""

import json

import jax
import numpy as np
import pytest

from categories import verdict
from categories.cli import main
from helpers import assert_documented
from categories.exact2d import exact_fractions
from categories.retrain import retrain, retrain_report
from toymodels import make_setting

KEYS = ("robust", "pointwise", "universal", "random")


def test_retrain_from_the_command_line_is_deterministic(capsys):
    args = ["retrain", "--preset", "pancakes", "--method", "pgd", "--rounds", "2", "--steps",
            "100", "--points", "600", "--json"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0
    assert capsys.readouterr().out == first
    assert_documented("categories retrain", json.loads(first))
    r = json.loads(first)["pancakes"]
    assert r["classes_within_2eps"] > 0.9   # pancakes' bands lie within 2 eps of each other
    s = make_setting("pancakes", seed=0, n_points=600)
    fr = exact_fractions(s.logits_fn, s.x, s.y, norm="2", eps=0.15)
    for k in KEYS:  # "before" is the preset model's exact reading
        assert abs(r["before"]["fractions"][k] - float(getattr(fr, k))) < 1e-6
    assert r["before"]["verdict"] == 3
    for side in ("before", "after"):
        f = r[side]["fractions"]
        assert f["random"] <= f["universal"] + 1e-6 <= f["pointwise"] + 2e-6
        c = r[side]["curves"]
        assert len(c["pointwise"]) == len(r[side]["radii"])
        assert (np.diff(c["pointwise"]) >= 0).all()
        # the reported verdict is the rule applied to the reported fractions and tau
        assert r[side]["verdict"] == verdict(f, r["tau"])
    assert r["history"]["round"] == [1, 2] and len(r["history"]["perturbed_accuracy"]) == 2
    assert r["after"]["clean_accuracy"] >= 0.95


@pytest.mark.parametrize("method", ["random", "universal"])
def test_each_method_changes_the_model_and_keeps_it_accurate(method):
    s = make_setting("wrinkles", seed=0, n_points=600)
    tuned = retrain(s.task, s.logits_fn, method=method, norm="2", eps=0.15,
                    key=jax.random.key(1), rounds=1, steps=60)
    before = np.asarray(s.logits_fn(s.x))
    after = np.asarray(tuned.logits_fn(s.x))
    assert np.abs(after - before).max() > 1e-3
    assert (after.argmax(-1) == np.asarray(s.y)).mean() >= 0.9
    assert len(tuned.history["loss"]) == 1 and np.isfinite(tuned.history["loss"][0])


def test_bad_retraining_input():
    with pytest.raises(ValueError, match="unknown retraining method"):
        retrain_report("pancakes", method="fgsm", norm="2")
    f = jax.tree_util.Partial(lambda x: x)
    with pytest.raises(ValueError, match="toymodels MLP"):
        retrain(None, f, method="pgd", norm="2", eps=0.1, key=jax.random.key(0))
