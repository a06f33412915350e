"""Property: random bytes, truncations and bit flips of valid files fed to the CSV reader, the image
loader and the checkpoint reader give a result or the project's own one-line error, never another
exception, and change no file; and a checkpoint whose file is sound but whose values are random
resumes a run exactly, or is refused in one line and kept as it is."""

import hashlib
import io
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st
from PIL import Image

from imagenet import checkpoint, data, images, make_data_parallel
from imagenet.loop import run_universal
from imagenet.runconfig import ArgumentError, RunConfig
from imagenet.splits import build_splits
from imagenet_tiny import smooth_image, tiny_classifier, write_folder
from store import load_npz, save_npz
from toymodels import DataError, parse_csv

SETTINGS = settings(max_examples=40, deadline=None, database=None,  # seconds per test, no files in the tree
                    suppress_health_check=[HealthCheck.too_slow])


def _png(mode="RGB") -> bytes:
    buffer = io.BytesIO()
    im = Image.fromarray(smooth_image(np.random.default_rng(0), 40, 48))
    (im if mode == "RGB" else im.convert(mode)).save(buffer, format="PNG")
    return buffer.getvalue()


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(smooth_image(np.random.default_rng(1), 48, 40)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _checkpoint(folder: Path) -> bytes:
    state = checkpoint.RunState(v=np.full((32, 32, 3), 0.5, np.float32), best_v=np.zeros((32, 32, 3), np.float32),
                                history=[0.25], best_rate=0.25, best_hist=[1, 0, 0], pass_index=1, batch_index=2,
                                images_used=4)
    path = folder / "valid.npz"
    checkpoint.save_checkpoint(path, state, np.array([0, 7], np.uint32), "tag")
    blob = path.read_bytes()
    path.unlink()
    return blob


VALID_CSV = b"x,y,label\n0,0,a\n1,1,b\n0.5,-2e3,a\n3,4,cat\n"


def damaged(valid: bytes):
    """Random bytes, a truncation, a bit flip, or a slice of ``valid``."""
    n = len(valid)
    return st.one_of(
        st.binary(max_size=3 * n),
        st.integers(0, n).map(lambda k: valid[:k]),
        st.tuples(st.integers(0, n - 1), st.integers(1, 255)).map(
            lambda f: valid[:f[0]] + bytes([valid[f[0]] ^ f[1]]) + valid[f[0] + 1:]),
        st.tuples(st.integers(0, n), st.integers(0, n)).map(lambda ab: valid[min(ab):max(ab)]),
    )


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """One folder for every example; it also holds a file of the user's that must never change."""
    path = tmp_path_factory.mktemp("bad-input")
    (path / ".draft.tmp").write_text("the user's draft")
    return path


def _feed(folder: Path, name: str, blob: bytes, read, own_error):
    """Write ``blob``, read it; the outcome is a result or ``own_error`` in one line; no file changes."""
    path = folder / name
    path.write_bytes(blob)
    before = digest(folder)
    try:
        result = read(path)
    except own_error as err:
        message = str(err)
        assert message and "\n" not in message and "allow_pickle" not in message
        result = None
    assert digest(folder) == before
    return result


CSV_LINES = st.lists(st.text(alphabet="0123456789.,-+eExyablnaif \"\t", max_size=30), max_size=8).map(
    lambda lines: "\n".join(lines).encode())


@SETTINGS
@given(blob=st.one_of(damaged(VALID_CSV), CSV_LINES))
def test_csv_reader(folder, blob):
    from_path = _feed(folder, "d.csv", blob, lambda p: parse_csv(p), DataError)
    try:
        from_upload = parse_csv(io.BytesIO(blob))
    except DataError as err:
        assert "\n" not in str(err)
        from_upload = None
    assert (from_path is None) == (from_upload is None)
    if from_path is not None:
        pts, labels, classes = from_path
        assert pts.shape == (len(labels), 2) and np.isfinite(pts).all() and len(classes) >= 2


@SETTINGS
@given(blob=st.one_of(damaged(_png()), damaged(_jpeg()), damaged(_png("I;16")), damaged(_png("P"))))
def test_image_loader(folder, blob):
    image = _feed(folder, "x.png", blob, images.read_image, images.ImageRefused)
    if image is not None:
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3 and min(image.shape[:2]) >= 32
        x = data.load_item(data.Item(str(folder / "x.png"), -1), 16, data.default_preprocess)
        assert x.shape == (16, 16, 3) and np.isfinite(x).all()


@pytest.fixture(scope="module")
def valid_checkpoint(tmp_path_factory):
    return _checkpoint(tmp_path_factory.mktemp("valid-checkpoint"))


@SETTINGS
@given(data_=st.data())
def test_checkpoint_reader(folder, valid_checkpoint, data_):
    blob = data_.draw(damaged(valid_checkpoint))
    read = _feed(folder, checkpoint.CHECKPOINT, blob, lambda p: checkpoint.read_checkpoint(p, 32, (2,)),
                 checkpoint.CheckpointDamaged)
    if read is not None:
        arrays, meta = read
        assert arrays["v"].shape == (32, 32, 3) and meta["fingerprint"] == "tag"
        state = checkpoint.load_checkpoint(folder / checkpoint.CHECKPOINT, np.array([0, 7], np.uint32), "tag", 32)
        assert state.pass_index == 1 and state.history == [0.25]


def test_the_valid_files_are_read(folder, valid_checkpoint):
    assert _feed(folder, "ok.csv", VALID_CSV, parse_csv, DataError)[2] == ["a", "b", "cat"]
    assert _feed(folder, "ok.png", _png("I;16"), images.read_image, images.ImageRefused).shape == (40, 48, 3)
    arrays, meta = _feed(folder, "ok.npz", valid_checkpoint, checkpoint.read_checkpoint, checkpoint.CheckpointDamaged)
    assert meta["pass_index"] == 1 and arrays["v"][0, 0, 0] == 0.5


# --- checkpoints whose files are sound but whose values are not ---------------------------

RUN_CONFIG = RunConfig(eps=10.0, batch=2, passes=2, target=1.0, seed=1, push=0.5)
TIMING = ("attack_images_per_second", "seconds_this_invocation")  # differ between any two runs


class Stopped(NamedTuple):
    """A tiny run stopped in its second pass with an image pending, and the same run uninterrupted."""

    root: Path
    splits: object
    dp: object
    arrays: dict
    meta: dict
    whole: dict
    whole_v: bytes


@pytest.fixture(scope="module")
def stopped(tmp_path_factory):
    root = tmp_path_factory.mktemp("stopped")
    splits = build_splits(str(write_folder(root / "set", 10)), 8, 2, seed=1)
    dp = make_data_parallel()  # one layout: every resume below reuses the compiled steps
    whole = _resume(root / "whole", splits, dp, resume=False)
    _resume(root / "stopped", splits, dp, resume=False, stop_after=7)
    arrays, meta = load_npz(root / "stopped" / checkpoint.CHECKPOINT)
    assert meta["pass_index"] == 1 and meta["pending_items"] and "digest" in meta  # the state under test
    return Stopped(root, splits, dp, arrays, meta, whole, (root / "whole" / "perturbation.npy").read_bytes())


def _resume(out, splits, dp, *, resume=True, stop_after=None):
    return run_universal(tiny_classifier(), splits, RUN_CONFIG, out, resume=resume, progress=False,
                         checkpoint_every=1, dp=dp, stop_after=stop_after)


def _near(value):
    """Values of the field's own kind near the true one: the edits range checks must see."""
    if isinstance(value, bool) or value is None:
        return st.just(value)
    if isinstance(value, int):
        return st.integers(-3, 3).map(lambda d: value + d) | st.integers(-2**70, 2**70)
    if isinstance(value, float):
        return st.floats(-0.5, 1.5) | st.sampled_from([value, 0.0, 1.0, 1.0 + 1e-12, float("nan"), -0.0])
    if isinstance(value, str):
        return st.sampled_from(["train", "evaluate", "done", value, value[:-1] + "0"]) | st.text(max_size=70)
    one = _near(value[0]) if value else st.integers(-2, 12)
    changed = st.tuples(st.integers(0, max(len(value) - 1, 0)), one).map(
        lambda kv: [kv[1] if i == kv[0] else x for i, x in enumerate(value)] or [kv[1]])
    return changed | st.lists(one, max_size=len(value) + 2)


ANY_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
                        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner,
                                                                                      max_size=3),
                        max_leaves=6)


def _edit(stopped: Stopped, data_, *, fields, resign: bool) -> tuple[Path, str]:
    """A fresh --out holding the stopped run's checkpoint with one field's value drawn at random
    (a sound zip, every CRC right); ``resign``: its digest computed again for the edit."""
    field = data_.draw(st.sampled_from(fields))
    meta = {**stopped.meta, field: data_.draw(_near(stopped.meta[field]) | ANY_JSON)}
    if resign:
        meta["digest"] = checkpoint.meta_digest(meta, stopped.arrays)
    out = Path(tempfile.mkdtemp(dir=stopped.root))
    save_npz(out / checkpoint.CHECKPOINT, stopped.arrays, meta)
    return out, field


def _refused(out: Path, err: Exception, before: bytes) -> None:
    """A refusal: one line, the checkpoint as it was."""
    assert "\n" not in str(err) and "Traceback" not in str(err)
    assert (out / checkpoint.CHECKPOINT).read_bytes() == before


@SETTINGS
@given(data_=st.data())
def test_a_checkpoint_with_a_random_value_resumes_exactly_or_is_damaged(stopped, data_):
    """Any value in any meta field, the file otherwise sound: either the resumed run equals the
    uninterrupted one (outputs and every metric but the timings) or the one-line "damaged"
    error with the checkpoint left as it is; never another exception."""
    out, field = _edit(stopped, data_, fields=sorted(stopped.meta), resign=False)
    before = (out / checkpoint.CHECKPOINT).read_bytes()
    try:
        metrics = _resume(out, stopped.splits, stopped.dp)
    except checkpoint.CheckpointDamaged as err:
        assert f"checkpoint {out / checkpoint.CHECKPOINT} is damaged: " in str(err)
        event("damaged")
        return _refused(out, err, before)
    event("resumed")
    assert (out / "perturbation.npy").read_bytes() == stopped.whole_v, field
    strip = lambda m: {k: v for k, v in m.items() if k not in TIMING}  # noqa: E731
    assert strip(metrics) == strip(stopped.whole), field


@SETTINGS
@given(data_=st.data())
def test_the_range_checks_alone_refuse_or_resume_without_another_exception(stopped, data_):
    """The same edits with the digest computed again (as an editor who knows the format would,
    or a checkpoint written before it had one): each value is refused by the range checks in
    one line, or the run resumes and ends with rates, counts and a perturbation in range."""
    fields = sorted(k for k in stopped.meta if k != "digest")
    out, field = _edit(stopped, data_, fields=fields, resign=True)
    before = (out / checkpoint.CHECKPOINT).read_bytes()
    try:
        metrics = _resume(out, stopped.splits, stopped.dp)
    except checkpoint.CheckpointDamaged as err:
        event(f"damaged: {str(err).split('is damaged: ')[1][:30]}")
        return _refused(out, err, before)
    except ArgumentError as err:  # a well-formed name of another run: refused by that name
        assert field in ("fingerprint", "model_spec") and "is a checkpoint of" in str(err)
        event("another run's")
        return _refused(out, err, before)
    event(f"resumed after an edit of {field}")
    rates = [metrics["fooling_rate"], metrics["fooling_rate_heldout"], *metrics["fooling_rate_history"]]
    assert all(0 <= r <= 1 for r in rates), (field, rates)
    assert metrics["images_used"] + sum(metrics["skipped"].values()) <= 10 and metrics["passes"] >= 1
    assert metrics["perturbation_norm"]["linf"] <= RUN_CONFIG.eps + 1e-5


@pytest.mark.parametrize("recorded", ["\n", "a b", "tab\there", "mod:fn"])
def test_a_checkpoints_recorded_model_is_refused_in_one_line(recorded):
    """Hypothesis found a checkpoint whose recorded --model was a newline: the refusal
    wrote it raw in its advice and broke the one-line rule."""
    from pathlib import Path

    from imagenet.checkpoint import check_model
    from imagenet.runconfig import ArgumentError

    with pytest.raises(ArgumentError) as err:
        check_model(Path("/tmp/run/checkpoint.npz"), {"model_spec": recorded}, "tiny-test")
    message = str(err.value)
    assert "\n" not in message and "\t" not in message
    assert message.endswith(f"resume with --model {recorded} or choose another --out"
                            if recorded == "mod:fn" else "resume with that --model or choose another --out")
