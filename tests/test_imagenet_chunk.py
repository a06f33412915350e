"""Algorithm 1's sequential sub-updates inside a batch (``--chunk``): checked, the old step when it is the
batch, padding skipped piece by piece, and checkpoints from before ``--chunk`` still theirs."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import attacks
from imagenet import run, steps
from imagenet.checkpoint import CHECKPOINT, fingerprint
from imagenet.folders import Item
from imagenet.runconfig import ArgumentError, RunConfig
from imagenet.splits import Splits
from imagenet_tiny import smooth_image, tiny_classifier

OPTIONS = dict(norm="inf", top_k=5, max_iter=10)


@pytest.fixture(scope="module")
def batch6():
    """(logits_fn, x f32[6, 32, 32, 3], v0, clean labels) of the tiny net."""
    rng = np.random.default_rng(3)
    x = np.stack([smooth_image(rng, 32, 32) for _ in range(6)]).astype(np.float32)
    f = tiny_classifier().logits_fn
    return f, x, jnp.asarray(rng.uniform(-1, 1, (32, 32, 3)).astype(np.float32)), np.asarray(attacks.predict(f, x))


@pytest.mark.parametrize("chunk", [0, -2, 3, 9, 2.0, True, "2"])
def test_a_bad_chunk_is_one_line_naming_the_flag(chunk):
    with pytest.raises(ArgumentError, match=r"^--chunk must be a whole number from 1 to --batch 8 that divides it, "
                                            r"got ") as err:
        RunConfig(batch=8, chunk=chunk).validated()
    assert "\n" not in str(err.value)
    assert RunConfig(batch=8, chunk=2).validated().chunk == 2
    assert RunConfig(batch=8, chunk=8).validated().chunk == 8  # the batch: one update, as before --chunk


@pytest.mark.parametrize("batch, chunk", [(8, 2), (16, 2), (6, 2), (2, 2), (3, 1), (5, 1), (1, 1)])
def test_the_default_chunk_is_two_or_one_for_an_odd_batch(batch, chunk):
    assert RunConfig(batch=batch).validated().chunk == chunk


def test_the_command_line_takes_chunk():
    config = run.config_from_args(run.parse_args(["--batch", "6", "--chunk", "2"]))
    assert (config.batch, config.chunk) == (6, 2)
    assert run.config_from_args(run.parse_args([])).chunk == 2  # batch 8
    with pytest.raises(ArgumentError, match="^--chunk"):
        run.config_from_args(run.parse_args(["--batch", "6", "--chunk", "4"]))


def test_one_update_per_batch_keeps_the_fingerprint_of_checkpoints_from_before_chunk():
    """The hashes were computed by the runner before --chunk existed: --chunk = --batch has them, and sgd
    (no pieces) whatever its --chunk; Algorithm 1's default chunk (2 of batch 8) is another run."""
    splits = Splits([Item("a.jpg", 1), Item("b.png", -1)], [Item("c.jpg", 2)], "folder")
    lite, sgd3 = RunConfig(batch=8), RunConfig(eps=10.0, batch=3, seed=1, push=0.5, method="sgd", norm="2")
    before = {lite: "cfccab901546cb9f023c0c1b3294db2b6e20a77651776ef2e595b4d64e8d2df1",
              sgd3: "ce4134f431330976e0b10c4dbaec58140565efad692ed6e875104656eb6ef5e8"}
    for config, tag in before.items():
        whole = dataclasses.replace(config, chunk=config.batch)
        assert fingerprint("efficientnet-lite0", 224, whole, splits) == tag
    for chunk in (None, 1):
        assert fingerprint("efficientnet-lite0", 224, dataclasses.replace(sgd3, chunk=chunk), splits) == before[sgd3]
    assert fingerprint("efficientnet-lite0", 224, lite, splits) != before[lite]


def test_a_checkpoint_of_one_update_per_batch_resumes_as_one_without_chunk(tmp_path):
    """A run with --chunk = --batch (every run from before --chunk) resumed without --chunk goes on as it
    began, bit for bit; resumed with another --chunk it is another run's."""
    from imagenet import build_splits, run_universal
    from imagenet_tiny import write_folder

    splits = build_splits(str(write_folder(tmp_path / "set", 18)), 16, 2, seed=2)
    whole = RunConfig(eps=10.0, batch=8, chunk=8, passes=2, target=1.0, seed=2, push=0.5)
    classifier = tiny_classifier()
    reference = run_universal(classifier, splits, whole, tmp_path / "ref", progress=False)
    assert run_universal(classifier, splits, whole, tmp_path / "cut", progress=False, checkpoint_every=1,
                         stop_after=2) is None
    assert (tmp_path / "cut" / CHECKPOINT).exists()  # after the first batch
    with pytest.raises(ArgumentError, match="other settings"):
        run_universal(classifier, splits, dataclasses.replace(whole, chunk=2), tmp_path / "cut", resume=True,
                      progress=False)
    resumed = run_universal(classifier, splits, dataclasses.replace(whole, chunk=None), tmp_path / "cut",
                            resume=True, progress=False)
    assert resumed["config"]["chunk"] == 8 and resumed["fooling_rate_history"] == reference["fooling_rate_history"]
    assert (tmp_path / "cut" / "perturbation.npy").read_bytes() == (tmp_path / "ref" / "perturbation.npy").read_bytes()


def _pending(x, labels, rows):
    """A Pending of 6 rows holding ``rows`` of ``x`` first, the rest empty."""
    k = len(rows)
    pad = np.zeros((6 - k,) + x.shape[1:], np.float32)
    return steps.Pending(jnp.asarray(np.concatenate([x[rows], pad])),
                         jnp.asarray(np.r_[np.arange(k), -np.ones(6 - k)].astype(np.int32)),
                         jnp.asarray(np.r_[labels[rows], -np.ones(6 - k)].astype(np.int32)))


def test_chunk_equal_to_the_batch_is_the_old_step_bit_for_bit(batch6):
    f, x, v0, labels = batch6
    mask = np.ones(6, bool)
    codes, items = np.zeros(6, np.int32), np.arange(6, dtype=np.int32)
    compact = jax.jit(steps.compact_step, static_argnames=tuple(OPTIONS) + ("batch", "chunk"))
    flush = jax.jit(steps.flush_step, static_argnames=tuple(OPTIONS) + ("batch", "chunk"))
    args = (f, v0, steps.empty_pending(x.shape), x, mask, codes, items, 10.0, 0.02, 2.0)
    old = compact(*args, batch=6, **OPTIONS)
    assert not np.array_equal(old.v, v0)  # an update happened
    for chunk in (6, None):
        new = compact(*args, batch=6, chunk=chunk, **OPTIONS)
        assert np.asarray(new.v).tobytes() == np.asarray(old.v).tobytes()
    pending = _pending(x, labels, [0, 2, 3])
    old_v, _ = flush(f, v0, pending, 10.0, 0.02, 2.0, **OPTIONS)
    new_v, _ = flush(f, v0, pending, 10.0, 0.02, 2.0, batch=6, chunk=6, **OPTIONS)
    assert np.asarray(new_v).tobytes() == np.asarray(old_v).tobytes()


@pytest.mark.parametrize("chunk", [1, 2, 3])
def test_pieces_are_sequential_and_skip_empty_rows(batch6, chunk):
    """A full batch in pieces is universal_update(chunk=...) on it; a partial one (flush) the update of
    its waiting rows alone, the empty rows adding nothing, piece by piece."""
    f, x, v0, labels = batch6
    compact = jax.jit(functools.partial(steps.compact_step, batch=6, chunk=chunk), static_argnames=tuple(OPTIONS))
    flush = jax.jit(functools.partial(steps.flush_step, batch=6, chunk=chunk), static_argnames=tuple(OPTIONS))
    out = compact(f, v0, steps.empty_pending(x.shape), x, np.ones(6, bool), np.zeros(6, np.int32),
                  np.arange(6, dtype=np.int32), 10.0, 0.02, 2.0, **OPTIONS)
    ref = attacks.universal_update(f, v0, x, labels, eps=10.0, push=2.0, chunk=chunk, top_k=5, norm="inf")
    np.testing.assert_allclose(out.v, ref, atol=1e-5)
    whole = attacks.universal_update(f, v0, x, labels, eps=10.0, push=2.0, top_k=5, norm="inf")
    assert not np.allclose(out.v, whole, atol=1e-4)  # the pieces saw each other's updates
    rows = list(range(chunk + 1)) if chunk > 1 else [0, 4, 5]  # the last piece with a row is part empty
    flushed, empty = flush(f, v0, _pending(x, labels, rows), 10.0, 0.02, 2.0, **OPTIONS)
    alone = v0
    for start in range(0, len(rows), chunk):
        group = rows[start:start + chunk]
        alone = attacks.universal_update(f, alone, x[group], labels[group], eps=10.0, push=2.0, top_k=5, norm="inf")
    np.testing.assert_allclose(flushed, alone, atol=1e-5)
    assert (np.asarray(empty.items) == -1).all()


def test_the_command_line_resumes_a_checkpoint_of_one_update_per_batch_without_chunk(tmp_path):
    """``imagenet run --resume`` without ``--chunk`` on a checkpoint from before ``--chunk`` (one
    update per batch) goes on as it began, as run_universal does: the command line must not
    resolve the default chunk before the run has seen the checkpoint."""
    from imagenet import build_splits, run_universal
    from imagenet.classes import NUM_CLASSES
    from imagenet_tiny import write_folder

    data = str(write_folder(tmp_path / "set", 18))
    argv = ["--model", "imagenet_tiny:build", "--data", data, "--images", "16", "--val", "2",
            "--batch", "8", "--passes", "2", "--target", "1.0", "--seed", "2", "--push", "0.5",
            "--no-progress"]
    assert run.main([*argv, "--chunk", "8", "--out", str(tmp_path / "ref")]) == 0
    whole = run.config_from_args(run.parse_args([*argv, "--chunk", "8"]))
    assert run_universal(tiny_classifier(), build_splits(data, 16, 2, 2), whole, tmp_path / "cut",
                         progress=False, checkpoint_every=1, stop_after=2,
                         model_spec="imagenet_tiny:build", label_classes=NUM_CLASSES) is None
    assert run.main([*argv, "--resume", "--out", str(tmp_path / "cut")]) == 0
    assert ((tmp_path / "cut" / "perturbation.npy").read_bytes()
            == (tmp_path / "ref" / "perturbation.npy").read_bytes())


@pytest.mark.parametrize("argv, message", [
    (["--chunks", "8,x"], "--chunks takes whole numbers separated by commas, got '8,x'"),
    (["--chunks", "8,3"], "--chunk must be a whole number from 1 to --batch 8 that divides it, got 3"),
    (["--batch", "6", "--chunks", "4"], "--batch 6 that divides it, got 4"),
])
def test_the_chunk_benchmark_refuses_bad_chunks_in_one_line_before_loading_a_model(argv, message, capsys):
    from bench import imagenet_chunk

    assert imagenet_chunk.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("error: ")
