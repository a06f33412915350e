"""The universal-perturbation runner: metrics that re-measure exactly, masking, kill -9 and resume, CLI errors."""

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

import attacks
from helpers import assert_documented
from imagenet import artifacts, data, run, steps
from imagenet.checkpoint import CHECKPOINT
from imagenet.loop import run_universal
from imagenet.runconfig import ArgumentError, RunConfig
from imagenet.splits import build_splits
from store import load_npz
from imagenet_tiny import smooth_image, tiny_classifier, write_bad_files, write_folder

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    root = write_folder(tmp_path_factory.mktemp("imagenet-run") / "set", 24)
    write_bad_files(root / "n01440764")
    return root


@pytest.fixture(scope="module")
def classifier():
    return tiny_classifier()


def decoded(items, resolution):
    """Independent decoding: (x f32[m, res, res, 3], labels) of the usable items."""
    xs, labels = [], []
    for item in items:
        try:
            xs.append(data.load_item(item, resolution, data.default_preprocess))
            labels.append(item.label)
        except data.DecodeFailure:
            pass
    return np.stack(xs), np.asarray(labels)


@pytest.mark.parametrize("method", ["deepfool", "sgd"])
def test_metrics_re_measure_exactly(image_folder, classifier, tmp_path, method):
    """fooling rates, accuracy and dominant labels agree with attacks.fooling_rate on the saved v."""
    splits = build_splits(str(image_folder), 20, 6, seed=0)
    config = RunConfig(norm="inf", eps=10.0, method=method, batch=4, passes=3, target=1.0)
    metrics = run_universal(classifier, splits, config, tmp_path, progress=False)

    v = np.load(tmp_path / "perturbation.npy")
    assert v.shape == (32, 32, 3) and v.dtype == np.float32
    assert np.max(np.abs(v)) <= 10.0 + 1e-6
    assert json.loads((tmp_path / "metrics.json").read_text()) == json.loads(json.dumps(metrics))
    assert_documented("imagenet run", metrics, keyed_by_task=False)     # docs/cli.md
    png = np.asarray(Image.open(tmp_path / "perturbation.png"))
    np.testing.assert_array_equal(png, artifacts.visible(v))

    x, labels = decoded(splits.train, 32)
    x_val, labels_val = decoded(splits.val, 32)
    f = classifier.logits_fn
    assert metrics["images_used"] == len(x) and metrics["val_used"] == len(x_val)
    assert metrics["fooling_rate"] == pytest.approx(float(attacks.fooling_rate(f, x, v)), abs=1e-7)
    assert metrics["fooling_rate_heldout"] == pytest.approx(float(attacks.fooling_rate(f, x_val, v)), abs=1e-7)
    assert metrics["fooling_rate"] == max(metrics["fooling_rate_history"]) > 0
    assert len(metrics["fooling_rate_history"]) == metrics["passes"] == 3

    clean = np.asarray(attacks.predict(f, x))
    moved = np.asarray(attacks.predict(f, x + v))
    fooled_to = np.bincount(moved[moved != clean], minlength=10)
    assert {d["label"]: d["count"] for d in metrics["dominant_labels"]} == \
        {i: int(c) for i, c in enumerate(fooled_to) if c}
    all_labels = np.concatenate([labels, labels_val])
    all_clean = np.concatenate([clean, np.asarray(attacks.predict(f, x_val))])
    known = all_labels >= 0
    assert metrics["labelled_images"] == known.sum() > 0
    assert metrics["clean_accuracy"] == pytest.approx(np.mean(all_clean[known] == all_labels[known]))
    assert sum(metrics["skipped"].values()) == 26 - len(x) - len(x_val) > 0  # 20 + 6 files drawn of 27
    assert set(metrics["skipped"]) <= {"not_an_image", "truncated", "too_small"}


def test_masked_rows_change_nothing(classifier):
    """A batch with padding / skipped rows updates v exactly as the batch of its usable rows alone."""
    rng = np.random.default_rng(0)
    x = np.stack([smooth_image(rng, 32, 32) for _ in range(6)]).astype(np.float32)
    mask = np.array([True, False, True, True, False, True])
    junk = np.where(mask[:, None, None, None], x, 255.0 * rng.uniform(size=x.shape)).astype(np.float32)
    codes = np.where(mask, 0, 2).astype(np.int32)
    f = classifier.logits_fn
    v0 = jnp.asarray(rng.uniform(-3, 3, (32, 32, 3)).astype(np.float32))

    options = dict(norm="inf", top_k=5, max_iter=10)
    compact = jax.jit(functools.partial(steps.compact_step, batch=6), static_argnames=tuple(options))
    flush = jax.jit(steps.flush_step, static_argnames=tuple(options))
    items = np.where(mask, np.arange(6), -1).astype(np.int32)
    clean_v0 = np.asarray(attacks.predict(f, x[mask]))
    unfooled = np.zeros(6, bool)
    unfooled[mask] = np.asarray(attacks.predict(f, x[mask] + v0)) == clean_v0
    v, pending, fooled, valid, skipped, clean = compact(f, v0, steps.empty_pending(x.shape), junk, mask, codes,
                                                        items, 8.0, 0.02, 0.0, **options)
    assert int(valid) == 4 and np.asarray(skipped).tolist() == [4, 0, 2, 0, 0, 0]
    assert int(fooled) == int(np.sum(~unfooled[mask])) and unfooled.sum() > 0
    # fewer than a batch of unfooled images: they wait, v is unchanged, the fooled are not kept
    np.testing.assert_array_equal(v, v0)
    waiting = np.asarray(pending.items)
    assert waiting.tolist() == items[unfooled].tolist() + [-1] * (6 - unfooled.sum())
    # at the end of the pass they are used, exactly as the batch of the usable rows alone
    flushed, empty = flush(f, v, pending, 8.0, 0.02, 0.0, **options)
    ref = attacks.universal_update(f, v0, x[mask], norm="inf", eps=8.0, top_k=5, max_iter=10)
    np.testing.assert_allclose(flushed, ref, atol=1e-5)
    assert not np.allclose(flushed, v0) and (np.asarray(empty.items) == -1).all()
    # the clean labels come back for the next pass (-1 on masked rows), and given back they change nothing
    np.testing.assert_array_equal(np.asarray(clean)[mask], clean_v0)
    assert (np.asarray(clean)[~mask] == -1).all()
    again = compact(f, v0, steps.empty_pending(x.shape), junk, mask, codes, items, 8.0, 0.02, 0.0, known=clean,
                    **options)
    np.testing.assert_array_equal(again[1].items, pending.items)
    # the next batches fill the pending ones up: one update on the first full batch, oldest first
    k = int(unfooled.sum())
    v_full, rest = v0, pending
    arrivals = 0
    while True:
        v_full, rest, *_ = compact(f, v_full, rest, junk, mask, codes, items + 10 * (arrivals + 1), 8.0, 0.02, 0.0,
                                   **options)
        arrivals += 1
        if k * (arrivals + 1) >= 6:
            break
        np.testing.assert_array_equal(v_full, v0)
    waited = [i for a in range(arrivals + 1) for i in (items[unfooled] + 10 * a).tolist()]
    batch_rows = np.concatenate([x[unfooled]] * (arrivals + 1))[:6]
    labels = np.concatenate([np.asarray(attacks.predict(f, x[unfooled]))] * (arrivals + 1))[:6]
    ref = attacks.universal_update(f, v0, batch_rows, labels, norm="inf", eps=8.0, top_k=5, max_iter=10)
    np.testing.assert_allclose(v_full, ref, atol=1e-5)
    assert np.asarray(rest.items).tolist() == waited[6:] + [-1] * (12 - len(waited))

    sgd_step = jax.jit(steps.sgd_step, static_argnames=("norm", "loss"))
    v, *_, clean = sgd_step(f, v0, junk, mask, codes, 8.0, 2.0, norm="2", loss="margin")
    ref = attacks.sgd_universal_step(f, v0, x[mask], norm="2", eps=8.0, step_size=2.0)
    np.testing.assert_allclose(v, ref, atol=1e-5)
    np.testing.assert_array_equal(sgd_step(f, v0, junk, mask, codes, 8.0, 2.0, norm="2", loss="margin",
                                           known=clean)[0], v)


@pytest.mark.parametrize("batch, chunk", [(3, 3), (3, 1), (6, None)])
def test_resume_with_images_pending_is_bit_identical(image_folder, classifier, tmp_path, batch, chunk):
    """A run stopped while unfooled images wait for a full batch decodes them again on resume: same v, bit for bit
    (one update per batch, one per image: ``--chunk 1``, and the default chunk: 2 of batch 6)."""
    splits = build_splits(str(image_folder), 12, 2, seed=1)
    config = RunConfig(eps=10.0, batch=batch, passes=2, target=1.0, seed=1, push=0.5, chunk=chunk)
    whole = run_universal(classifier, splits, config, tmp_path / "whole", progress=False, checkpoint_every=1)
    stopped_with_pending = 0
    for stop in range(2, 2 * 12 // batch + 1):  # stopped before step `stop` is saved: the checkpoint is after step stop - 1
        out = tmp_path / f"stop{stop}"
        assert run_universal(classifier, splits, config, out, progress=False, checkpoint_every=1,
                             stop_after=stop) is None
        _, meta = load_npz(out / CHECKPOINT)
        stopped_with_pending += bool(meta["pending_items"])
        assert len(meta["pending_items"]) == len(meta["pending_labels"]) < batch
        resumed = run_universal(classifier, splits, config, out, resume=True, progress=False, checkpoint_every=1)
        assert resumed["fooling_rate_history"] == whole["fooling_rate_history"]
        assert np.load(out / "perturbation.npy").tobytes() == np.load(tmp_path / "whole" / "perturbation.npy").tobytes()
    assert stopped_with_pending > 0  # the case under test did occur


def test_checkpoint_guards(image_folder, classifier, tmp_path):
    splits = build_splits(str(image_folder), 8, 2, seed=0)
    config = RunConfig(eps=10.0, batch=2, passes=1)
    assert run_universal(classifier, splits, config, tmp_path, progress=False, checkpoint_every=1,
                             stop_after=2) is None
    with pytest.raises(ArgumentError, match="already holds a run"):
        run_universal(classifier, splits, config, tmp_path, progress=False)
    with pytest.raises(ArgumentError, match="other settings"):
        run_universal(classifier, splits, RunConfig(eps=12.0, batch=2, passes=1), tmp_path,
                          resume=True, progress=False)
    metrics = run_universal(classifier, splits, config, tmp_path, resume=True, progress=False)
    assert metrics["passes"] == 1 and (tmp_path / "perturbation.npy").exists()


def test_more_passes_on_resume_continue_a_finished_run(image_folder, classifier, tmp_path):
    """passes=1, then --resume with passes=3 ends where a fresh passes=3 run ends, bit for bit."""
    splits = build_splits(str(image_folder), 10, 2, seed=4)
    config = RunConfig(eps=10.0, batch=4, passes=1, target=1.0, method="sgd", norm="2")
    first = run_universal(classifier, splits, config, tmp_path / "a", progress=False)
    longer = RunConfig(**{**config.__dict__, "passes": 3})
    resumed = run_universal(classifier, splits, longer, tmp_path / "a", resume=True, progress=False)
    fresh = run_universal(classifier, splits, longer, tmp_path / "b", progress=False)
    assert first["passes"] == 1 and resumed["passes"] == fresh["passes"] == 3
    assert resumed["fooling_rate_history"] == fresh["fooling_rate_history"]
    assert (tmp_path / "a" / "perturbation.npy").read_bytes() == (tmp_path / "b" / "perturbation.npy").read_bytes()


def _driver(data_dir, out, *extra):
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{TESTS}")
    return subprocess.Popen([sys.executable, str(TESTS / "imagenet_run_driver.py"), str(data_dir), str(out), *extra],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_checkpoint(proc, ckpt, ready, timeout=600):  # a loaded 2-core machine starts JAX slowly
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"run ended before it could be killed: {proc.communicate()}"
        if ckpt.exists():
            try:
                _, meta = load_npz(ckpt)
            except (OSError, ValueError):  # pragma: no cover - os.replace makes this impossible
                pytest.fail("a half-written checkpoint was visible")
            if ready(meta):
                return meta
        time.sleep(0.02)
    pytest.fail("no checkpoint appeared")


@pytest.mark.slow
def test_sigkill_and_resume_is_bit_identical(image_folder, tmp_path):
    """kill -9 twice (mid-pass, then in the second pass), resume each time: the same v, bit for bit."""
    reference = _driver(image_folder, tmp_path / "ref")
    out = tmp_path / "killed"
    ckpt = out / CHECKPOINT
    proc = _driver(image_folder, out, "--delay", "0.05")
    first = _wait_for_checkpoint(proc, ckpt, lambda m: m["phase"] == "train")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "metrics.json").exists()
    proc = _driver(image_folder, out, "--resume", "--delay", "0.05")
    second = _wait_for_checkpoint(proc, ckpt, lambda m: m["pass_index"] == 1 and m["batch_index"] >= 2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert first["pass_index"] == 0 and 2 <= first["batch_index"] < 8  # killed mid-way through pass 1
    assert second["pass_index"] == 1 and second["phase"] == "train"  # and again in pass 2
    assert not (out / "metrics.json").exists()
    load_npz(ckpt)  # complete, readable
    proc = _driver(image_folder, out, "--resume")
    assert proc.wait(timeout=300) == 0, proc.communicate()
    assert reference.wait(timeout=300) == 0, reference.communicate()

    v_ref, v = np.load(tmp_path / "ref" / "perturbation.npy"), np.load(out / "perturbation.npy")
    assert v.tobytes() == v_ref.tobytes() and np.abs(v).max() > 0
    ref_metrics = json.loads((tmp_path / "ref" / "metrics.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("fooling_rate", "fooling_rate_heldout", "fooling_rate_history", "skipped", "images_used",
                "dominant_labels"):
        assert metrics[key] == ref_metrics[key]
    assert not list(out.glob(".*.tmp"))


def test_cli_bad_input_is_one_line_exit_2(tmp_path, capsys, image_folder, weight_cache):
    (tmp_path / "empty").mkdir()
    bad = tmp_path / "bad"
    write_bad_files(bad)
    cases = [
        (["--data", str(tmp_path / "missing")], "does not exist"),
        (["--data", str(tmp_path / "empty")], "no image files"),
        (["--model", "resnet9000"], "--model"),
        (["--eps", "-3"], "--eps must be a positive"),
        (["--eps", "nan"], "--eps must be a positive"),
        (["--eps", "ten"], "invalid float value"),
        (["--norm", "l3"], "--norm"),
        (["--method", "adam"], "--method must be one of"),
        (["--images", "0"], "--images >= 1"),
        (["--data", str(bad), "--images", "2", "--val", "0", "--cache-dir", str(weight_cache)],
         "no readable image among the 2 training files"),
    ]
    for argv, message in cases:
        code = run.main([*argv, "--out", str(tmp_path / "out"), "--no-progress"])
        err = capsys.readouterr().err.strip()
        assert code == 2, argv
        assert message in err and err.startswith("error: ") and "\n" not in err, (argv, err)


def test_cli_process_exit_code_and_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "imagenet", "run", "--norm", "l7", "--out", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "unknown norm 'l7'" in proc.stderr


@pytest.mark.slow
def test_cli_smoke_lite0_on_bundled_photos(tmp_path, weight_cache):
    """The real command on the real model and photos: a tiny but complete run."""
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "imagenet", "run", "--model", "lite0", "--images", "2", "--val", "1", "--batch", "2",
         "--passes", "1", "--max-iter", "2", "--top-k", "3", "--out", str(out), "--cache-dir", str(weight_cache)],
        capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=600)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    v = np.load(out / "perturbation.npy")
    assert v.shape == (224, 224, 3) and 0 < np.abs(v).max() <= 10.0
    assert metrics["model"] == "efficientnet-lite0" and metrics["eps"] == 10.0 and metrics["norm"] == "inf"
    assert (metrics["images_used"], metrics["val_used"]) == (2, 1)
    assert 0 <= metrics["fooling_rate"] <= 1 and 0 <= metrics["fooling_rate_heldout"] <= 1
    assert all(d["name"] for d in metrics["dominant_labels"])
    assert "fooling rate" in proc.stdout and Image.open(out / "perturbation.png").size == (224, 224)
    assert "skipped no file" in proc.stdout  # the bundled photos are all readable


@pytest.mark.parametrize("push", [-0.5, float("nan"), float("inf"), "2"])
def test_a_bad_push_is_one_line_naming_the_flag(push):
    with pytest.raises(ArgumentError, match=r"^--push must be a number >= 0 .*got") as err:
        RunConfig(push=push).validated()
    assert "\n" not in str(err.value)
    assert RunConfig(push=0).validated().push == 0.0  # 0: DeepFool's step as it is


# The user's model of the concurrency test: the tiny net, built only once the test has seen
# the other run refused (the winner holds --out's lock meanwhile, as a run loading a model would)
GATED_MODULE = '''
import os
import time

import imagenet
from imagenet_tiny import tiny_classifier


def build():
    deadline = time.monotonic() + 300
    while not os.path.exists(os.environ["GO_FILE"]) and time.monotonic() < deadline:
        time.sleep(0.02)
    tiny = tiny_classifier()
    return imagenet.Classifier(tiny.name, tiny.resolution, tiny.logits_fn)
'''


def test_two_runs_started_at_once_on_one_out(image_folder, tmp_path):
    """Two ``imagenet run`` processes on one --out at once (different seeds, so the outputs tell
    whose they are): one finishes, the other exits 2 at once naming the first's pid, and every
    output in --out is the finisher's."""
    (tmp_path / "gated.py").write_text(GATED_MODULE)
    out, go = tmp_path / "out", tmp_path / "go"
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{TESTS}", GO_FILE=str(go))
    runs = {seed: subprocess.Popen(
        [sys.executable, "-m", "imagenet", "run", "--model", "gated:build", "--data", str(image_folder),
         "--images", "6", "--val", "2", "--batch", "2", "--passes", "1", "--method", "sgd", "--seed", str(seed),
         "--checkpoint-every", "1", "--out", str(out), "--quiet"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for seed in (1, 2)}
    try:
        deadline = time.monotonic() + 300
        while all(p.poll() is None for p in runs.values()) and time.monotonic() < deadline:
            time.sleep(0.05)
        (loser_seed, loser), = [(s, p) for s, p in runs.items() if p.poll() is not None]
        (winner_seed, winner), = [(s, p) for s, p in runs.items() if p is not loser]
        _, err = loser.communicate()
        assert loser.returncode == 2, err
        assert err == (f"error: --out {out} is in use by another run (pid {winner.pid}, holding {out / '.run.lock'}); "
                       "wait for it to end or choose another --out\n")
    finally:
        go.touch()
    stdout, err = winner.communicate(timeout=300)
    assert winner.returncode == 0, err
    assert sorted(p.name for p in out.iterdir()) == [CHECKPOINT, "metrics.json", "perturbation.npy", "perturbation.png"]
    metrics = json.loads((out / "metrics.json").read_text())
    arrays, meta = load_npz(out / CHECKPOINT)
    k_order = jax.random.split(jax.random.key(winner_seed), 2)[1]
    assert metrics["seed"] == winner_seed != loser_seed
    np.testing.assert_array_equal(arrays["key"], jax.random.key_data(k_order))
    np.testing.assert_array_equal(arrays["best_v"], np.load(out / "perturbation.npy"))
    assert meta["history"] == metrics["fooling_rate_history"]


def test_a_folder_linked_into_itself_runs_as_it_would_without_the_link(image_folder, classifier, tmp_path):
    """``a -> DIR`` and ``self -> .`` in a flat folder listed every photo two more times, so the
    same photo was trained on and held out; now each file is listed once, the run is the run
    without the links, and it says how many duplicates it dropped."""
    flat = tmp_path / "flat"
    flat.mkdir()
    for path in sorted(p for p in image_folder.rglob("*") if p.is_file()):
        shutil.copy(path, flat / f"{path.parent.name}-{path.name}")
    config = RunConfig(eps=10.0, batch=4, passes=1, method="sgd")
    plain = run_universal(classifier, build_splits(str(flat), 20, 6, seed=0), config, tmp_path / "plain",
                          progress=False)
    (flat / "a").symlink_to(flat)
    (flat / "self").symlink_to(".")
    splits = build_splits(str(flat), 20, 6, seed=0)
    assert splits.duplicates == 2 * 27 and not {i.path for i in splits.train} & {i.path for i in splits.val}
    linked = run_universal(classifier, splits, config, tmp_path / "linked", progress=False)
    assert linked["duplicates_dropped"] == 54 and plain["duplicates_dropped"] == 0
    for key in ("fooling_rate", "fooling_rate_heldout", "images_used", "val_used", "skipped"):
        assert linked[key] == plain[key], key
    assert (tmp_path / "linked" / "perturbation.npy").read_bytes() == \
        (tmp_path / "plain" / "perturbation.npy").read_bytes()
    assert "dropped 54 duplicate files of --data: the same file reached again through a link, used once" in \
        run.summary(dict(linked, out="o"))
    assert "dropped" not in run.summary(dict(plain, out="o"))
