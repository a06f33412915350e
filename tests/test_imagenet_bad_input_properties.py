"""Property: random bytes, truncations and bit flips of valid files fed to the CSV reader, the image
loader and the checkpoint reader give a result or the project's own one-line error, never another
exception, and change no file."""

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image

from imagenet import checkpoint, data, images
from imagenet_tiny import smooth_image
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
                                history=[0.25], pass_index=1, batch_index=2)
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
