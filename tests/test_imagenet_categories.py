"""``python -m imagenet categories``: the four fractions of a real image classifier.

On the tiny test network and the bundled photos: every documented key, the invariant
``random <= universal <= pointwise`` and ``robust = 1 - pointwise``, random's interval,
the universal figure recomputed from the saved perturbation, the verdict and its
caveats, bad flags as one line; and one run of EfficientNet-Lite0 at the paper's linf 10.
"""

import json

import jax
import numpy as np
import pytest

from categories import verdict
from imagenet import build_splits, categories_cmd
from imagenet.fractions import Estimate, FractionSettings, verdict_with_caveats
from imagenet_tiny import build
from helpers import assert_documented

FAST = ["--pgd-steps", "5", "--pgd-restarts", "1", "--passes", "2", "--quiet"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("categories") / "tiny"
    argv = ["--model", "imagenet_tiny:build", "--images", "6", "--val", "6", "--eps", "2,8,24",
            "--out", str(out), "--json", *FAST]
    return out, argv


def test_every_key_the_invariant_and_the_saved_perturbation(tiny_run, capsys):
    out, argv = tiny_run
    assert categories_cmd.main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert_documented("imagenet categories", result, keyed_by_task=False)
    assert [r["eps"] for r in result["curve"]] == [2.0, 8.0, 24.0]
    assert result["labelled"] == 0 and result["clean_accuracy"] is None   # 10 classes, no ids
    for r in result["curve"]:
        assert_documented("imagenet categories curve", r, keyed_by_task=False)
        assert 0 <= r["random"] <= r["universal"] <= r["pointwise"] <= 1, r
        assert r["robust"] == pytest.approx(1 - r["pointwise"])
        lo, hi = r["random_interval"]
        assert lo <= r["random"] <= hi and hi - lo <= 2 * 0.02 + 1e-12
        assert r["verdict"] == verdict(r, result["tau"])
        # each attack's own share is a witness: none passes the combined estimate
        assert max(r["by_attack"][k] for k in ("pgd", "deepfool")) <= r["pointwise"]
        assert max(v for k, v in r["by_attack"].items() if "universal" in k) <= r["universal"]
    assert result["curve"][-1]["pointwise"] > result["curve"][0]["pointwise"]
    # the saved perturbation fools exactly the universal share of the held-out photos
    splits = build_splits(None, 6, 6, 0)
    clf = build()
    val_x, _ = categories_cmd.load_photos(splits.val, clf.resolution)
    v = np.load(out / "perturbation.npy")
    assert np.abs(v).max() <= 24.0 + 1e-4
    before = categories_cmd.predictions(clf.logits_fn, val_x)
    after = categories_cmd.predictions(clf.logits_fn, val_x + v[None])
    assert np.mean(before != after) == pytest.approx(result["curve"][-1]["universal"])
    with np.load(out / "examples.npz") as ex:
        assert (ex["label_before"] == before[:4]).all() and (ex["label_after"] == after[:4]).all()
        assert ex["before"].dtype == np.uint8 and ex["after"].shape == (4, 32, 32, 3)
    assert (out / "curves.png").stat().st_size > 1000 and (out / "perturbation.png").exists()
    # the same seed gives the same numbers
    assert categories_cmd.main(argv) == 0
    again = json.loads(capsys.readouterr().out)
    assert [r["universal"] for r in again["curve"]] == [r["universal"] for r in result["curve"]]


def _estimate(**kw):
    base = dict(eps=1.0, robust=0.1, pointwise=0.9, universal=0.5, universal_train=0.6,
                random=0.01, random_interval=(0.0, 0.03), random_deltas=150, by_attack={},
                universal_delta=np.zeros(3), fooled=np.zeros(3, bool))
    return Estimate(**{**base, **kw})


def test_the_verdict_says_what_keeps_it_from_being_proven():
    v, notes = verdict_with_caveats(_estimate(), 0.8)
    assert v == 2 and len(notes) == 1 and "universal 0.500 is a lower bound" in notes[0]
    v, notes = verdict_with_caveats(_estimate(universal=0.85), 0.8)
    assert v == 3 and notes == []
    v, notes = verdict_with_caveats(_estimate(universal=0.85, random=0.79,
                                              random_interval=(0.77, 0.81)), 0.8)
    assert v == 3 and "contains tau = 0.8" in notes[0]
    v, notes = verdict_with_caveats(_estimate(robust=0.95, pointwise=0.05, universal=0.02), 0.8)
    assert v == 1 and any("category 1 is not proven" in n for n in notes)
    _, notes = verdict_with_caveats(_estimate(universal=0.85), 0.8, clean_accuracy=0.52)
    assert notes == ["the model is right on only 52% of the labelled photos; the fractions "
                     "count only those (and the unlabelled ones)"]


@pytest.mark.parametrize("flags, says", [
    (["--eps", "-1"], "--eps must be positive"), (["--eps", "ten"], "--eps must be a number"),
    (["--tau", "1.5"], "--tau must be in (0, 1]"), (["--pgd-steps", "0"], "--pgd-steps must be"),
    (["--val", "0"], "--val must be at least 1"), (["--norm", "l3"], "norm"),
    (["--model", "nowhere:build"], "--model: module 'nowhere' not found")])
def test_bad_flags_are_one_line_exit_2(flags, says, capsys, tmp_path):
    assert categories_cmd.main(["--out", str(tmp_path / "o"), *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()            # nothing written before the refusal


def test_random_stops_at_its_half_width_and_counts_deltas():
    clf = build()
    splits = build_splits(None, 4, 6, 1)
    val_x, _ = categories_cmd.load_photos(splits.val, clf.resolution)
    pred = categories_cmd.predictions(clf.logits_fn, val_x)
    from imagenet.fractions import random_estimate

    settings = FractionSettings(half_width=0.05, delta_batch=8)
    mean, (lo, hi), k, fooled, best, best_rate = random_estimate(
        clf.logits_fn, val_x, pred, np.ones(len(val_x), bool), norm="inf", eps=30.0,
        key=jax.random.key(0), settings=settings)
    assert k % 8 == 0 and hi - lo <= 2 * 0.05 + 1e-12 and lo <= mean <= hi
    assert best_rate >= mean and (fooled.mean() >= best_rate)
    assert k >= 3 / 0.05        # the rule of three alone needs 60 deltas


@pytest.mark.slow
def test_lite0_at_the_papers_linf_10(tmp_path, capsys):
    """EfficientNet-Lite0 (real weights) on bundled photos: small budgets, the same code."""
    argv = ["--model", "lite0", "--images", "4", "--val", "4", "--norm", "linf", "--eps", "10",
            "--pgd-steps", "5", "--pgd-restarts", "1", "--passes", "1", "--max-deltas", "64",
            "--out", str(tmp_path / "lite0"), "--json", "--quiet"]
    assert categories_cmd.main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    (r,) = result["curve"]
    assert result["model"] == "efficientnet-lite0" and result["resolution"] == 224
    assert 0 <= r["random"] <= r["universal"] <= r["pointwise"] <= 1
    lo, hi = r["random_interval"]
    assert lo <= r["random"] <= hi
    assert hi - lo <= 2 * 0.02 + 1e-12 or r["random_deltas"] >= 64
    # at linf 10 of 255 an undefended ImageNet model is fooled on (nearly) every photo
    assert r["pointwise"] >= 0.75 and r["verdict"] in (2, 3, 4)
    assert r["verdict"] == verdict(r, result["tau"])
