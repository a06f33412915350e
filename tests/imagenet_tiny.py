"""Test helpers for the ImageNet pipeline: a tiny real Flax conv net and image folders.

The net is bench.tiny_net's real NNX model (two strided convs, global pooling, a linear
head) used the way imagenet.load_model uses EfficientNet: split once, applied as a
``jax.tree_util.Partial`` of a module-level function, pixels in [0, 255].
It keeps the runner's tests to seconds; one smoke test uses the real lite0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from flax import nnx
from jax.tree_util import Partial
from PIL import Image

# the net itself is bench's (bench/tiny_net.py); the tests draw its weights with NNX's
# own initialisers (the runs the tests pin down were measured with these weights) and
# name it "tiny-test"
from bench.tiny_net import CLASSES, RESOLUTION, TinyClassifier, TinyNet, apply_tiny  # noqa: F401


def tiny_classifier(seed: int = 0) -> TinyClassifier:
    """The tiny net with NNX-initialised weights of ``seed``, named ``tiny-test``."""
    graphdef, state = nnx.split(TinyNet(nnx.Rngs(seed)))
    return TinyClassifier("tiny-test", RESOLUTION, Partial(apply_tiny, graphdef, state))


def build():
    """The tiny net as the user's ``--model imagenet_tiny:build`` (an ``imagenet.Classifier``)."""
    import imagenet

    return imagenet.Classifier(*tiny_classifier())


def build_tiny():
    """The tiny net as the command line takes a user's model: ``--model imagenet_tiny:build_tiny``."""
    import imagenet

    tiny = tiny_classifier()
    return imagenet.Classifier(tiny.name, tiny.resolution, tiny.logits_fn)


def smooth_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A uint8 [h, w, 3] photo-like image: upsampled colour noise."""
    small = rng.uniform(0, 255, (4, 4, 3)).astype(np.uint8)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC))


def write_folder(root: Path, n: int, seed: int = 0, synsets=("n01440764", "n01443537")) -> Path:
    """An ImageNet-style folder of n small PNG/JPEG images spread over ``synsets``."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        sub = root / synsets[i % len(synsets)]
        sub.mkdir(parents=True, exist_ok=True)
        image = Image.fromarray(smooth_image(rng, 40 + i % 7, 48))
        if i % 2:
            image.save(sub / f"img{i:03d}.jpg", quality=92)
        else:
            image.save(sub / f"img{i:03d}.png")
    return root


def write_bad_files(folder: Path) -> dict[str, str]:
    """Unusable files, one per skip reason that can be made small: name -> expected reason."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    (folder / "notes.jpg").write_bytes(b"this is not an image at all\n" * 10)
    buffer = folder / "full.jpg"
    Image.fromarray(smooth_image(rng, 64, 64)).save(buffer, quality=90)
    data = buffer.read_bytes()
    buffer.unlink()
    (folder / "cut.jpg").write_bytes(data[: len(data) // 2])
    Image.fromarray(smooth_image(rng, 8, 12)).save(folder / "thumb.png")
    return {"notes.jpg": "not_an_image", "cut.jpg": "truncated", "thumb.png": "too_small"}


def write_big_png(path: Path, width: int, height: int) -> Path:
    """A valid all-black 8-bit grayscale PNG of any size, written row block by row block.

    Never holds the image in memory, so a test can make a 12000x12000 or a
    20000x20000 file (a decompression bomb of a few hundred KB).
    """
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\0" * (width + 1)  # filter byte 0, then the row's pixels
    block = max(1, 4_000_000 // len(row))
    packer = zlib.compressobj(1)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)))
        for top in range(0, height, block):
            data = packer.compress(row * min(block, height - top))
            if data:
                f.write(chunk(b"IDAT", data))
        f.write(chunk(b"IDAT", packer.flush()) + chunk(b"IEND", b""))
    return path


def write_float_rgb_tiff(path: Path, width: int = 40, height: int = 40) -> Path:
    """A valid uncompressed TIFF of 32-bit floating-point RGB pixels (SampleFormat 3), which
    Pillow cannot open; written by hand so that no TIFF library is needed."""
    import struct

    pixels = np.linspace(0, 1, width * height * 3, dtype="<f4").tobytes()
    tags = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 3, None), (259, 3, 1, 1), (262, 3, 1, 2),
            (273, 4, 1, None), (277, 3, 1, 3), (278, 4, 1, height), (279, 4, 1, len(pixels)),
            (284, 3, 1, 1), (339, 3, 3, None)]
    ifd_size = 2 + 12 * len(tags) + 4
    extra = 8 + ifd_size                      # BitsPerSample, then SampleFormat, then the pixels
    offsets = {258: extra, 339: extra + 6, 273: extra + 12}
    entries = b"".join(struct.pack("<HHI", tag, kind, count)
                       + (struct.pack("<I", offsets[tag]) if value is None and tag != 273 else
                          struct.pack("<I", offsets[273]) if tag == 273 else
                          struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value))
                       for tag, kind, count, value in tags)
    blob = (b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", len(tags)) + entries + b"\0\0\0\0"
            + struct.pack("<HHH", 32, 32, 32) + struct.pack("<HHH", 3, 3, 3) + pixels)
    path.write_bytes(blob)
    return path
