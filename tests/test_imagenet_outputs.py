"""Nothing of the user's lost: --out tested before any work and locked for the whole run, damaged
checkpoints kept and named (their values range-checked), own files only, none before the data is usable."""

import hashlib
import os
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from imagenet import checkpoint, normals, run, transfer
from imagenet.checkpoint import CHECKPOINT, CheckpointDamaged, meta_digest, read_checkpoint
from imagenet.loop import run_universal
from imagenet.outputs import output_folder, prepare_folder
from imagenet.runconfig import ArgumentError, RunConfig
from imagenet.runlock import LOCK, FolderBusy
from imagenet.splits import build_splits
from imagenet_tiny import tiny_classifier, write_folder
from store import load_npz, save_npz

TINY = ["--model", "imagenet_tiny:build_tiny", "--quiet"]  # the tiny net through the command line


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
    mine = {".draft.tmp": "draft", ".notes.json.abcd1234.tmp": "notes", "checkpoint.tmp": "x",
            "checkpoint.npz.mine.new": "a user's name", "checkpoint.npz.12-xyz.new": "not ours either"}
    for name, text in mine.items():
        (out / name).write_text(text)
    killed = {".checkpoint.npz.abcd1234.tmp": "half a checkpoint from a killed run",
              "checkpoint.npz.new": "an unverified checkpoint of an older version",
              "checkpoint.npz.4242-0badcafe.new": "an unverified checkpoint from a killed run",
              ".checkpoint.npz.4242-0badcafe.new.abcd1234.tmp": "half of one"}
    for name, text in killed.items():
        (out / name).write_text(text)
    splits = build_splits(str(images), 4, 1, seed=0)
    run_universal(tiny_classifier(), splits, RunConfig(eps=10.0, batch=4, passes=1, method="sgd"), out,
                  progress=False)
    names = {p.name for p in out.iterdir()}
    assert set(mine) <= names and {p: (out / p).read_text() for p in mine} == mine
    assert not set(killed) & names
    assert names == set(mine) | {"metrics.json", "perturbation.npy", "perturbation.png", CHECKPOINT}


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


def _holding_the_lock(out: Path) -> subprocess.Popen:
    """Another process holding --out's lock as a run does (flock on the lock file, its pid in it)."""
    code = ("import fcntl, os, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "os.write(fd, f'{os.getpid()}\\n'.encode())\n"
            "print('held', flush=True)\n"
            "time.sleep(300)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(out / LOCK)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_run_on_a_locked_out_is_refused_at_once_naming_the_holder(images, tmp_path, capsys):
    """While another process holds --out, a run is refused in one line naming its pid, before
    any work and touching nothing; once the holder is killed, its lock file is harmless."""
    out = tmp_path / "out"
    out.mkdir()
    (out / ".draft.tmp").write_text("the user's")
    splits, config = build_splits(str(images), 4, 1, seed=0), RunConfig(eps=10.0, batch=4, passes=1, method="sgd")
    holder = _holding_the_lock(out)
    try:
        before = digest(out)
        started = time.monotonic()
        assert run.main(["--data", str(images), "--images", "4", "--val", "1", "--out", str(out), *TINY]) == 2
        assert one_line_error(capsys) == (f"error: --out {out} is in use by another run (pid {holder.pid}, holding "
                                          f"{out / LOCK}); wait for it to end or choose another --out")
        assert time.monotonic() - started < 5  # at once: it does not wait for the holder
        with pytest.raises(FolderBusy, match=f"pid {holder.pid}"):
            run_universal(tiny_classifier(), splits, config, out, progress=False)
        assert digest(out) == before
    finally:
        holder.kill()
        holder.wait()
    assert (out / LOCK).read_text() == f"{holder.pid}\n"  # what a killed run leaves: harmless
    run_universal(tiny_classifier(), splits, config, out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == [".draft.tmp", CHECKPOINT, "metrics.json", "perturbation.npy",
                                                      "perturbation.png"]  # the run removed its lock file


def test_two_writers_never_share_a_staged_checkpoint(finished, tmp_path):
    """Each write stages its checkpoint under a name of its own: two writers at once both
    succeed (with one shared name, one renamed the other's file away and failed)."""
    source, _, _ = finished
    out = tmp_path / "out"
    out.mkdir()
    arrays, meta = read_checkpoint(source / CHECKPOINT)
    state = checkpoint.load_checkpoint(source / CHECKPOINT, arrays["key"], meta["fingerprint"])
    failures = []

    def write():
        try:
            for _ in range(20):
                checkpoint.save_checkpoint(out / CHECKPOINT, state, arrays["key"], meta["fingerprint"])
        except Exception as err:  # noqa: BLE001 - any failure is the finding
            failures.append(err)

    writers = [threading.Thread(target=write) for _ in range(2)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    assert failures == []
    assert sorted(os.listdir(out)) == [CHECKPOINT]
    assert read_checkpoint(out / CHECKPOINT)[1]["fingerprint"] == meta["fingerprint"]  # whole, digest and all


def test_a_run_on_unreadable_files_leaves_no_run_behind(tmp_path, capsys):
    """Files that all fail to decode: the run stops in one line and leaves no checkpoint, so the
    same command says the same again (not "already holds a run"); a folder it made is removed."""
    bad = tmp_path / "bad"
    bad.mkdir()
    for i in range(40):
        (bad / f"img{i:03d}.jpg").write_bytes(b"not a photo\n")
    mine = tmp_path / "mine"
    mine.mkdir()
    for out in (tmp_path / "new" / "run", tmp_path / "new" / "run", mine):
        argv = ["--data", str(bad), "--images", "36", "--val", "2", "--batch", "2", "--checkpoint-every", "1",
                "--out", str(out), *TINY]
        assert run.main(argv) == 2
        assert "no readable image among the 36 training files" in one_line_error(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad", "mine"] and list(mine.iterdir()) == []


@pytest.fixture(scope="module")
def stopped(images, tmp_path_factory):
    """A deepfool run stopped in its second pass with an image pending: (folder, splits, config, meta)."""
    out = tmp_path_factory.mktemp("stopped")
    splits = build_splits(str(images), 8, 2, seed=1)
    config = RunConfig(eps=10.0, batch=2, passes=2, target=1.0, seed=1, push=0.5)
    run_universal(tiny_classifier(), splits, config, out, progress=False, checkpoint_every=1, stop_after=7)
    meta = load_npz(out / CHECKPOINT)[1]
    assert meta["pass_index"] == 1 and meta["phase"] == "train" and meta["pending_items"]
    return out, splits, config, meta


RANGE_CASES = [
    ({"best_rate": 7.5}, r"the fooling rates \(7.5, history \[.*\]\) are not all in \[0, 1\]"),
    ({"history": [1.5]}, r"are not all in \[0, 1\]"),
    ({"attack_seconds": float("nan")}, r"attack_seconds nan is not a time"),
    ({"pass_index": 2}, r"pass_index 2 does not match the 1 rates of finished passes"),
    ({"batch_index": 999}, r"batch_index 999 is past the 4 batches of a pass"),
    ({"phase": "evaluate"}, r"phase 'evaluate' with batch_index 2"),
    ({"pending_items": [10**6]}, r"the pending images \[1000000\] do not fit 8 images, batches of 2 and 10 classes"),
    ({"pending_labels": [10]}, r"the pending images .* do not fit"),
    ({"pending_items": [-1]}, r"a count, an image index or a label is negative"),
    ({"images_used": 7}, r"7 images used and 0 skipped, not the 8 files read"),
    ({"labelled": 99}, r"the counts of the last evaluation do not fit 8 images of 10 classes"),
    ({"best_hist": [1, 2]}, r"the counts of the last evaluation do not fit"),
    ({"correct": 9}, r"correct 9 is more than labelled"),
    ({"attack_images": 2**60}, r"a counter is not a whole number"),
]


@pytest.mark.parametrize("edit, message", RANGE_CASES, ids=[f"{'-'.join(e)}{i}" for i, (e, _) in enumerate(RANGE_CASES)])
def test_every_checkpoint_value_is_range_checked(stopped, tmp_path, edit, message):
    """Values a hand could write into a sound file (its digest made to match): each is the
    one-line "damaged" error, the file as it was, where it used to resume as nonsense
    ("fooling rate 750.0%") or fail with an IndexError."""
    source, splits, config, meta = stopped
    arrays = load_npz(source / CHECKPOINT)[0]
    edited = {**meta, **edit}
    save_npz(tmp_path / CHECKPOINT, arrays, {**edited, "digest": meta_digest(edited, arrays)})
    before = digest(tmp_path)
    with pytest.raises(CheckpointDamaged, match=message) as err:
        run_universal(tiny_classifier(), splits, config, tmp_path, resume=True, progress=False, checkpoint_every=1)
    assert "\n" not in str(err.value) and str(err.value).endswith("start again without --resume or restore it "
                                                                  "(the file was left as it is)")
    assert digest(tmp_path) == before


def test_a_value_edited_within_its_range_is_caught_by_the_digest(stopped, tmp_path, capsys):
    """An edit no range can tell from the truth (the pending image's label, another valid class):
    the digest written with the checkpoint no longer matches; the command line says so in one line."""
    source, splits, config, meta = stopped
    arrays = load_npz(source / CHECKPOINT)[0]
    label = meta["pending_labels"][0]
    save_npz(tmp_path / CHECKPOINT, arrays, {**meta, "pending_labels": [(label + 1) % 10]})
    assert run.main(["--out", str(tmp_path), "--resume", "--quiet"]) == 2  # refused before any model loads
    assert "its contents do not match the digest written with them" in one_line_error(capsys)
    without = {k: v for k, v in meta.items() if k != "digest"}  # as written before checkpoints had one
    save_npz(tmp_path / CHECKPOINT, arrays, without)
    resumed = run_universal(tiny_classifier(), splits, config, tmp_path, resume=True, progress=False)
    assert resumed["passes"] == 2 and "digest" in load_npz(tmp_path / CHECKPOINT)[1]


def test_a_run_refused_before_the_holder_wrote_its_pid_still_names_it(tmp_path):
    """The holder writes its pid just after it takes the lock; a run refused in between
    waits a moment for the pid instead of saying "pid unknown" (two runs started at once)."""
    import fcntl
    import threading

    from imagenet.runlock import run_lock

    out = tmp_path / "out"
    out.mkdir()
    fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT, 0o644)   # another open file: another holder
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        late = threading.Timer(0.2, lambda: os.pwrite(fd, b"4242\n", 0))
        late.start()
        with pytest.raises(FolderBusy, match=r"\(pid 4242, holding"):
            with run_lock(out):
                pass
        late.join()
        os.ftruncate(fd, 0)                                   # a holder that never writes
        with pytest.raises(FolderBusy, match=r"\(pid unknown, holding"):
            with run_lock(out):
                pass
    finally:
        os.close(fd)
