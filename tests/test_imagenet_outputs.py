"""Nothing of the user's lost: --out tested before any work, damaged checkpoints kept and named, own files only."""

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest

from imagenet import checkpoint, normals, run, transfer
from imagenet.checkpoint import CHECKPOINT, CheckpointDamaged, read_checkpoint
from imagenet.loop import run_universal
from imagenet.outputs import output_folder, prepare_folder
from imagenet.runconfig import ArgumentError, RunConfig
from imagenet.splits import build_splits
from imagenet_tiny import tiny_classifier, write_folder


def digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` -> the SHA-256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return write_folder(tmp_path_factory.mktemp("outputs") / "set", 12)


@pytest.fixture(scope="module")
def finished(images, tmp_path_factory):
    """A finished tiny run: (out folder, splits, config)."""
    out = tmp_path_factory.mktemp("finished")
    splits = build_splits(str(images), 8, 2, seed=0)
    config = RunConfig(eps=10.0, batch=4, passes=1, method="sgd")
    run_universal(tiny_classifier(), splits, config, out, progress=False)
    return out, splits, config


def test_an_unusable_out_is_one_line_before_any_work(tmp_path):
    (tmp_path / "file").write_text("mine")
    cases = [("/proc/robustness-out", "cannot be created"), (tmp_path / "file", "is a file, not a folder"),
             (tmp_path / "file" / "sub" / "run", "is a file, not a folder")]
    for path, message in cases:
        with pytest.raises(ArgumentError, match=message) as e:
            prepare_folder(path)
        assert "\n" not in str(e.value) and "--out" in str(e.value)
    assert digest(tmp_path) == {"file": hashlib.sha256(b"mine").hexdigest()}


@pytest.mark.parametrize("command", [run.main, normals.main])
def test_commands_refuse_a_bad_out_with_exit_2(command, tmp_path, capsys):
    (tmp_path / "file").write_text("mine")
    for out in ("/proc/robustness-out", str(tmp_path / "file"), str(tmp_path / "file" / "x")):
        assert command(["--out", out, "--data", str(tmp_path / "nowhere")]) == 2
        assert "--out" in one_line_error(capsys)


def test_transfer_refuses_a_bad_out_before_measuring(finished, tmp_path, capsys):
    out, _, _ = finished
    for bad, message in ((tmp_path, "is a folder; name a file"), ("/proc/x/t.json", "cannot be created")):
        assert transfer.main(["--perturbation", str(out), "--out", str(bad), "--models", "lite0"]) == 2
        assert message in one_line_error(capsys)


def test_a_failed_command_leaves_no_folder_it_created(tmp_path, capsys):
    target = tmp_path / "new" / "deeper" / "run"
    assert run.main(["--out", str(target), "--data", str(tmp_path / "nowhere"), "--quiet"]) == 2
    assert "does not exist" in one_line_error(capsys)
    assert list(tmp_path.iterdir()) == []
    assert normals.main(["--out", str(target), "--data", str(tmp_path / "nowhere")]) == 2
    one_line_error(capsys)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "kept").mkdir()  # a folder the user had stays, empty or not
    assert run.main(["--out", str(tmp_path / "kept"), "--data", str(tmp_path / "nowhere")]) == 2
    one_line_error(capsys)
    assert (tmp_path / "kept").is_dir()
    with pytest.raises(RuntimeError):  # a failure after a file was written keeps the folder and the file
        with output_folder(tmp_path / "made") as made:
            (made / "partial.json").write_text("{}")
            raise RuntimeError
    assert (tmp_path / "made" / "partial.json").exists()


def test_a_refused_run_touches_none_of_the_users_files(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / CHECKPOINT).write_bytes(b"whatever was there")
    (out / ".draft.tmp").write_text("the user's draft")
    (out / ".checkpoint.npz.abcd1234.tmp").write_text("looks like ours, but this run is refused")
    before = digest(out)
    assert run.main(["--out", str(out), "--images", "4", "--val", "1"]) == 2
    assert "already holds a run" in one_line_error(capsys)
    assert digest(out) == before


def test_a_run_removes_only_its_own_leftovers(images, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    mine = {".draft.tmp": "draft", ".notes.json.abcd1234.tmp": "notes", "checkpoint.tmp": "x"}
    for name, text in mine.items():
        (out / name).write_text(text)
    (out / ".checkpoint.npz.abcd1234.tmp").write_text("half a checkpoint from a killed run")
    (out / "checkpoint.npz.new").write_text("an unverified checkpoint from a killed run")
    splits = build_splits(str(images), 4, 1, seed=0)
    run_universal(tiny_classifier(), splits, RunConfig(eps=10.0, batch=4, passes=1, method="sgd"), out,
                  progress=False)
    names = {p.name for p in out.iterdir()}
    assert set(mine) <= names and {p: (out / p).read_text() for p in mine} == mine
    assert ".checkpoint.npz.abcd1234.tmp" not in names and "checkpoint.npz.new" not in names
    assert {"metrics.json", "perturbation.npy", "perturbation.png", CHECKPOINT} <= names


def _damaged_versions(good: bytes) -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0xFF  # inside an array's bytes: only the CRC can tell
    return {"empty": b"", "truncated": good[: len(good) // 2], "random": rng.bytes(len(good)),
            "bit flip": bytes(flipped), "text": b"not a checkpoint\n"}


def test_damaged_checkpoints_are_named_and_left_as_they_are(finished, tmp_path, capsys):
    source, splits, config = finished
    good = (source / CHECKPOINT).read_bytes()
    for kind, blob in _damaged_versions(good).items():
        out = tmp_path / kind.replace(" ", "-")
        out.mkdir()
        (out / CHECKPOINT).write_bytes(blob)
        (out / ".draft.tmp").write_text("the user's")
        before = digest(out)
        assert run.main(["--out", str(out), "--resume", "--quiet"]) == 2, kind
        err = one_line_error(capsys)
        assert f"checkpoint {out / CHECKPOINT} is damaged: " in err, err
        assert "start again without --resume or restore it" in err and "allow_pickle" not in err
        with pytest.raises(CheckpointDamaged):
            run_universal(tiny_classifier(), splits, config, out, resume=True, progress=False)
        assert digest(out) == before, kind  # neither overwritten nor deleted


def test_a_checkpoint_with_wrong_entries_or_shapes_is_damaged(finished, tmp_path):
    source, _, _ = finished
    arrays, meta = read_checkpoint(source / CHECKPOINT, 32)
    from store import save_npz

    cases = {"missing key": ({k: arrays[k] for k in ("v", "best_v")}, meta, "key.npy are missing"),
             "wrong shape": (dict(arrays, v=np.zeros((8, 8, 3), np.float32)), meta, "expected finite float32"),
             "bad counter": (arrays, dict(meta, pass_index="one"), "not a whole number"),
             "short skips": (arrays, dict(meta, skipped=[0]), "skipped is not a list")}
    for name, (a, m, message) in cases.items():
        path = tmp_path / f"{name}.npz"
        save_npz(path, a, m)
        with pytest.raises(CheckpointDamaged, match=message):
            read_checkpoint(path, 32)


def test_the_previous_checkpoint_is_kept_until_the_new_one_is_verified(finished, tmp_path, monkeypatch):
    source, _, _ = finished
    out = tmp_path / "out"
    out.mkdir()
    (out / CHECKPOINT).write_bytes((source / CHECKPOINT).read_bytes())
    good = digest(out)
    state = checkpoint.load_checkpoint(out / CHECKPOINT, read_checkpoint(out / CHECKPOINT)[0]["key"],
                                       read_checkpoint(out / CHECKPOINT)[1]["fingerprint"])
    real = checkpoint.npz_bytes
    monkeypatch.setattr(checkpoint, "npz_bytes", lambda *a: real(*a)[:-40])  # the disk lost the end
    key, tag = read_checkpoint(out / CHECKPOINT)[0]["key"], "tag"
    with pytest.raises(OSError, match="did not read back intact"):
        checkpoint.save_checkpoint(out / CHECKPOINT, state, key, tag)
    assert digest(out)[CHECKPOINT] == good[CHECKPOINT]
    monkeypatch.setattr(checkpoint, "npz_bytes", real)
    checkpoint.save_checkpoint(out / CHECKPOINT, state, key, tag)
    assert read_checkpoint(out / CHECKPOINT)[1]["fingerprint"] == "tag"
    assert sorted(p.name for p in out.iterdir()) == [CHECKPOINT]
    assert zipfile.ZipFile(out / CHECKPOINT).testzip() is None


def test_run_says_on_stdout_how_many_files_it_skipped_and_why():
    metrics = {"fooling_rate": 0.5, "fooling_rate_heldout": None, "images_used": 4, "val_used": 0,
               "dominant_labels": [], "out": "o", "skipped": {"not_an_image": 2, "too_small": 1}}
    text = run.summary(metrics)
    assert "skipped 3 files: 2 not an image, 1 too small (short side under 32 px)" in text
    assert "skipped no file" in run.summary(dict(metrics, skipped={}))


def test_categories_report_refuses_a_huge_seed_in_one_line(capsys):
    from categories.cli import main

    assert main(["report", "--preset", "pancakes", "--seed", "9" * 40, "--quiet"]) == 2
    assert "--seed must be a whole number from 0 to" in one_line_error(capsys)


@pytest.mark.parametrize("command, extra", [(run.main, []), (normals.main, []),
                                            (transfer.main, ["--perturbation", "x.npy"])])
def test_a_huge_or_negative_seed_is_one_line(command, extra, capsys, tmp_path):
    for seed in ("9" * 30, "-1"):
        assert command([*extra, "--seed", seed, "--out", str(tmp_path / "o")]) == 2
        assert "--seed must be a whole number from 0 to 2147483647" in one_line_error(capsys)
    assert list(tmp_path.iterdir()) == []


def test_run_on_a_folder_of_text_files_named_jpg_says_not_an_image(tmp_path, capsys):
    texts = tmp_path / "texts"
    texts.mkdir()
    for name in ("a.jpg", "b.jpg"):
        (texts / name).write_text("notes\n")
    assert run.main(["--data", str(texts), "--val", "2", "--out", str(tmp_path / "o")]) == 2
    err = one_line_error(capsys)
    assert "a.jpg: not an image" in err and "lower --val" not in err
    assert not (tmp_path / "o").exists()
