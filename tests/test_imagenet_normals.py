"""The spectrum of boundary normals at full scale (python -m imagenet normals)."""

import json
from pathlib import Path

import jax
import numpy as np
import pytest

import attacks
from helpers import assert_documented
from imagenet import data, normals
from imagenet_tiny import tiny_classifier, write_bad_files, write_folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = write_folder(tmp_path_factory.mktemp("normals") / "set", 12)
    write_bad_files(root / "n01440764")
    return root


def readable(items):
    """The items write_folder made (the others are write_bad_files' unusable files)."""
    return [i for i in items if Path(i.path).name.startswith("img")]


def test_minimal_perturbations_are_deepfools_and_change_the_label(folder):
    clf = tiny_classifier()
    items = data.folder_items(str(folder))
    r, skipped = normals.minimal_perturbations(clf, items, batch=4, max_iter=50)
    good = readable(items)
    assert sum(skipped[1:]) == len(items) - len(good) > 0      # the bad files, by reason
    x = np.stack([data.load_item(i, clf.resolution, data.default_preprocess) for i in good])
    pred = attacks.predict(clf.logits_fn, x)
    ref = attacks.deepfool(clf.logits_fn, x, pred, norm="2", top_k=10, max_iter=50)
    flipped = np.asarray(attacks.predict(clf.logits_fn, x + ref) != pred)
    assert r.shape == (int(flipped.sum()),) + x.shape[1:] and r.shape[0] >= 10
    np.testing.assert_allclose(r, np.asarray(ref)[flipped], rtol=1e-4, atol=1e-3)
    moved = attacks.predict(clf.logits_fn, x[flipped] + r)
    assert np.all(np.asarray(moved) != np.asarray(pred)[flipped])


def test_spectrum_of_normals_against_random_vectors(folder):
    clf = tiny_classifier()
    items = readable(data.folder_items(str(folder)))
    out = normals.measure(clf, items, key=jax.random.key(0), batch=4)
    m = out["count"]
    assert m >= 10 and len(out["curve"]["normals"]) == len(out["curve"]["random"]) == m
    # m random unit vectors of R^3072 are nearly orthogonal: all singular values near 1
    assert out["random_sigma_ratio"] > 0.8
    # the tiny net's boundaries near the images share orientations: a much faster decay
    assert out["sigma_ratio"] < 0.8 * out["random_sigma_ratio"]
    curve = np.asarray(out["curve"]["normals"])
    assert curve[0] == 1.0 and np.all(np.diff(curve) <= 1e-6)
    # Frobenius norm: m unit normals
    assert float(np.sum(np.square(out["singular"]))) == pytest.approx(m, rel=1e-4)


@pytest.mark.parametrize("argv, message", [
    (["--images", "1"], "--images must be at least 2"),
    (["--model", "resnet"], "--model: unknown model"),
    (["--data", "/no/such/folder"], "/no/such/folder"),
    (["--batch", "0"], "--batch must be at least 1"),
])
def test_bad_input_is_one_line_and_exit_code_2(argv, message, capsys, tmp_path):
    assert normals.main(argv + ["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err


@pytest.mark.slow
def test_cli_on_lite0_and_bundled_photos(tmp_path, capsys):
    assert normals.main(["--model", "lite0", "--images", "8", "--batch", "8", "--max-iter", "10",
                         "--out", str(tmp_path)]) == 0
    out = json.loads((tmp_path / "normals.json").read_text())
    assert_documented("imagenet normals", out, keyed_by_task=False)     # docs/cli.md
    assert (tmp_path / "spectrum.png").stat().st_size > 10_000
    assert out["model"] == "efficientnet-lite0" and out["images"] == 8 and out["count"] >= 6
    assert 0 <= out["sigma_ratio"] <= 1 and out["random_sigma_ratio"] > 0.8
    assert "sigma_2/sigma_1" in capsys.readouterr().out
