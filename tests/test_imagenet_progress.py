"""Progress bars of transfer (per model) and normals (per batch) on stderr, and when they stay off."""

import sys

import jax
import pytest

from imagenet import data, normals, progress, run, transfer
from imagenet_tiny import TinyClassifier, tiny_classifier, write_folder


@pytest.fixture(scope="module")
def items(tmp_path_factory):
    return data.folder_items(write_folder(tmp_path_factory.mktemp("progress") / "set", 6))


def test_wanted_follows_quiet_json_and_the_terminal(monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert progress.wanted() and not progress.wanted(quiet=True) and not progress.wanted(json_mode=True)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert progress.wanted(json_mode=True) and not progress.wanted(quiet=True, json_mode=True)


def test_normals_bar_counts_batches_and_names_the_stage(items, capsys):
    clf = tiny_classifier()
    with progress.bar(3, "normals tiny-test: DeepFool", unit="batch") as bar:
        normals.minimal_perturbations(clf, items, batch=2, max_iter=5, bar=bar)
        assert bar.n == 3
    assert "normals tiny-test: DeepFool" in capsys.readouterr().err
    normals.measure(clf, items, key=jax.random.key(0), batch=2, max_iter=5, progress=False)
    assert capsys.readouterr().err == ""


def test_transfer_bar_steps_once_per_model_and_names_it(items, capsys):
    v = jax.numpy.zeros((32, 32, 3))
    models = [tiny_classifier(0), TinyClassifier("tiny-other", 40, tiny_classifier(1).logits_fn)]
    with progress.bar(2, "transfer", unit="model") as bar:
        transfer.measure_transfer(v, models, items, norm="inf", key=jax.random.key(0), batch=4, bar=bar)
        assert bar.n == 2
    err = capsys.readouterr().err
    assert "transfer: tiny-test" in err and "transfer: tiny-other" in err


def test_quiet_flags_parse():
    assert run.parse_args(["--quiet"]).no_progress and run.parse_args(["--no-progress"]).no_progress
    assert not run.parse_args([]).no_progress
    assert transfer.parse_args(["--perturbation", "x", "--quiet"]).quiet
    assert normals.parse_args(["--quiet"]).quiet
