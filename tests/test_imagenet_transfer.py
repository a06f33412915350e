"""Transfer: a saved perturbation measured on other models, on the source run's held-out images."""

import numpy as np
import jax
import jax.numpy as jnp
import pytest

import attacks
from imagenet import data, steps, transfer
from imagenet.loop import run_universal
from imagenet.runconfig import RunConfig
from imagenet.splits import build_splits
from imagenet_tiny import TinyClassifier, tiny_classifier, write_folder


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    root = write_folder(tmp_path_factory.mktemp("transfer") / "set", 20)
    out = root.parent / "run"
    splits = build_splits(str(root), 12, 6, seed=2)
    config = RunConfig(norm="inf", eps=12.0, method="sgd", batch=4, seed=2, passes=2, target=1.0)
    metrics = run_universal(tiny_classifier(), splits, config, out, progress=False)
    return out, splits, metrics


def test_resize_keeps_linf_and_is_identity_at_same_size():
    v = np.asarray(jax.random.uniform(jax.random.key(0), (32, 32, 3), minval=-5, maxval=5))
    np.testing.assert_array_equal(transfer.resize_perturbation(v, 32), v)
    big = transfer.resize_perturbation(v, 40)
    assert big.shape == (40, 40, 3) and np.abs(big).max() <= np.abs(v).max() + 1e-6


def test_transfer_re_measures_the_source_and_other_models(source_run):
    out, splits, metrics = source_run
    v, source_metrics, folder = transfer.read_source(out)
    assert folder == out and source_metrics["fooling_rate_heldout"] == metrics["fooling_rate_heldout"]
    items, described = transfer.evaluation_items(source_metrics, None, None, seed=0)
    assert items == splits.val and "held-out" in described

    source = tiny_classifier(0)
    other = TinyClassifier("tiny-other-40", 40, tiny_classifier(1).logits_fn)  # other weights, other resolution
    rows = transfer.measure_transfer(v, [source, other], items, norm="inf", key=jax.random.key(0), batch=4)
    assert [r["model"] for r in rows] == ["tiny-test", "tiny-other-40"]
    assert rows[0]["fooling_rate"] == metrics["fooling_rate_heldout"]  # the diagonal: the run's own number

    x40 = np.stack([data.load_item(i, 40, data.default_preprocess) for i in items])
    v40 = transfer.resize_perturbation(v, 40)
    assert rows[1]["fooling_rate"] == pytest.approx(float(attacks.fooling_rate(other.logits_fn, x40, v40)), abs=1e-7)
    assert rows[1]["perturbation_norm"]["linf"] == pytest.approx(float(np.abs(v40).max()))
    assert rows[1]["images_used"] == len(items) == 6
    for r in rows:
        assert 0 <= r["fooling_rate_random"] <= 1
        assert sum(d["count"] for d in r["dominant_labels"]) == round(r["fooling_rate"] * 6)


def test_random_baseline_has_the_perturbation_norm(source_run, monkeypatch):
    """The baseline is drawn on the sphere of radius |v|_p of the measured (resized) perturbation."""
    out, splits, _ = source_run
    v, _, _ = transfer.read_source(out)
    seen = []
    real = steps.evaluate_items

    def spy(logits_fn, u, *args, **kwargs):
        seen.append(np.asarray(u))
        return real(logits_fn, u, *args, **kwargs)

    monkeypatch.setattr(steps, "evaluate_items", spy)
    transfer.measure_transfer(v, [tiny_classifier()], splits.val, norm="2", key=jax.random.key(1), batch=4)
    universal, noise = seen
    np.testing.assert_array_equal(universal, v)
    l2 = lambda a: float(attacks.lp_norm(jnp.asarray(a)[None], "2")[0])
    assert l2(noise) == pytest.approx(l2(v), rel=1e-5) and not np.allclose(noise, v)


def test_transfer_cli_bad_input(tmp_path, capsys, source_run):
    out, _, _ = source_run
    cases = [
        (["--perturbation", str(tmp_path / "none.npy")], "does not exist"),
        (["--perturbation", str(out), "--models", "lite0,vgg99"], "--models"),
        (["--perturbation", str(out), "--norm", "l1"], "--norm"),
        (["--perturbation", str(out), "--images", "0"], "at least 1"),
    ]
    np.save(tmp_path / "flat.npy", np.zeros((5, 5), np.float32))
    cases.append((["--perturbation", str(tmp_path / "flat.npy"), "--models", "lite0"], "expected a float perturbation"))
    for argv, message in cases:
        code = transfer.main(argv)
        err = capsys.readouterr().err.strip()
        assert code == 2 and message in err and "\n" not in err, (argv, err)


def test_transfer_json_has_the_documented_keys(source_run, tmp_path, monkeypatch):
    """transfer.json as docs/cli.md lists it (the tiny model stands in for Lite0)."""
    import json
    import re

    from imagenet import models
    from helpers import ROOT, assert_documented

    out, _, _ = source_run
    monkeypatch.setattr(models, "load_model", lambda name, cache_dir=None: tiny_classifier(0))
    target = tmp_path / "t.json"
    args = transfer.parse_args(["--perturbation", str(out), "--models", "lite0", "--batch", "4",
                                "--out", str(target), "--quiet"])
    transfer.transfer_command(args)
    saved = json.loads(target.read_text())
    assert_documented("imagenet transfer", saved, keyed_by_task=False)
    row = re.search(r"^\| `results` \|[^|]*\|(.*)\|$", (ROOT / "docs/cli.md").read_text(), re.M)
    assert set(saved["results"][0]) == set(re.findall(r"`([^`]+)`", row.group(1)))
