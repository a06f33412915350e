"""The one image policy of every command: which files are images, and how they become RGB.

``predict``, ``run``, ``transfer`` and ``normals`` all read files through
:func:`read_image`, so a file is accepted or refused the same way, for the same
reason and with the same message, by each of them:

- the size is read from the header first: a short side below :data:`MIN_SIDE`
  (thumbnails are not blown up into blur) or more than :data:`MAX_PIXELS` pixels (a
  decompression bomb, or a scan too big to decode in bounded memory) is refused
  before any pixel is decoded;
- accepted modes (:data:`MODES`): 1-bit, 8-bit grayscale, palette, RGB, CMYK,
  YCbCr, LAB, HSV, with or without alpha, and 16-bit grayscale (Pillow's ``I;16``
  and ``I`` modes, values taken on the 0-65535 scale).
  Alpha is composited on white (as a viewer shows it); 16-bit values are scaled by
  255/65535 (not clipped: a 16-bit gradient stays a gradient); EXIF orientation is
  applied; an animation gives its first frame. Floating-point images are refused, and
  so is a TIFF of a pixel format Pillow does not read (floating-point RGB), each with
  a message that lists the modes read (:data:`MODES_READ`);
- every refusal is a :class:`ImageRefused` with one reason of :data:`REASONS` and a
  one-line message naming the file.

Example:
    >>> import numpy as np
    >>> to_rgb_array(Image.fromarray(np.full((2, 2), 65535, np.uint16))).tolist()[0][0]
    [255, 255, 255]
"""

from __future__ import annotations

import os
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MIN_SIDE = 32
MAX_PIXELS = 40_000_000  # 40 megapixels: about 1.2 GB at the preprocessing's float32 peak
REASONS = ("not_an_image", "truncated", "too_small", "too_large", "decode_error")
REASON_TEXT = {"not_an_image": "not an image", "truncated": "truncated",
               "too_small": f"too small (short side under {MIN_SIDE} px)",
               "too_large": f"too large (over {MAX_PIXELS // 1_000_000} megapixels)",
               "decode_error": "could not be decoded"}
MODES = frozenset({"1", "L", "P", "RGB", "RGBA", "RGBX", "RGBa", "CMYK", "YCbCr", "LAB", "HSV", "LA", "PA",
                   "I", "I;16", "I;16L", "I;16B", "I;16N"})
# The modes above in words, for the messages of the files refused for their pixel format
MODES_READ = ("1-bit, 8- and 16-bit grayscale, palette, RGB, CMYK, YCbCr, LAB and HSV (the 8-bit ones "
              "with or without alpha)")
_TIFF_MAGIC = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")  # classic and big TIFF, either byte order
_SIXTEEN_BIT = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})
_ALPHA = frozenset({"RGBA", "RGBa", "LA", "PA"})

# Pillow warns from 89 megapixels on; the limit here is lower and refuses with its own message
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


class ImageRefused(ValueError):
    """A file the image policy refuses; ``reason`` is one of :data:`REASONS`, the message one line."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def _check_header(path: str, im: Image.Image, min_side: int) -> None:
    width, height = im.size
    if width * height > MAX_PIXELS:
        raise ImageRefused("too_large", f"{path}: {width}x{height} is {width * height / 1e6:.0f} megapixels, "
                           f"more than the limit of {MAX_PIXELS // 1_000_000}; scale it down first")
    if min(width, height) < min_side:
        raise ImageRefused("too_small", f"{path}: {width}x{height} is too small, the short side must be at "
                           f"least {min_side} px")
    if im.mode not in MODES:
        raise ImageRefused("decode_error", f"{path}: images of mode {im.mode} are not supported; the modes "
                           f"read are {MODES_READ}: save it as 8-bit RGB")


def to_rgb_array(im: Image.Image) -> np.ndarray:
    """A PIL image of an accepted mode to uint8 RGB [h, w, 3] (alpha on white, 16 bits scaled)."""
    if im.mode in _SIXTEEN_BIT:
        a = np.asarray(im).astype(np.float32)
        a = np.clip(np.round(a * (255.0 / 65535.0)), 0, 255).astype(np.uint8)
        return np.repeat(a[:, :, None], 3, axis=-1)
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in _ALPHA:
        im = im.convert("RGBA")
        background = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, im)
    return np.asarray(im.convert("RGB"))


def _unidentified(path: str) -> ImageRefused:
    """The refusal of a file Pillow cannot open: a TIFF of a pixel format it does not read
    (floating-point RGB, say) is told which modes are read; anything else is not an image.

    Args:
      path: the file.

    Returns:
      The :class:`ImageRefused` to raise.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        head = b""
    if head in _TIFF_MAGIC:
        return ImageRefused("decode_error", f"{path}: a TIFF of a pixel format Pillow does not read (floating-"
                            f"point RGB, for one); the modes read are {MODES_READ}: save it as 8-bit RGB")
    return ImageRefused("not_an_image", f"{path}: not an image (no format Pillow reads)")


def read_image(path: str | os.PathLike, *, min_side: int = MIN_SIDE) -> np.ndarray:
    """Read an image file as uint8 RGB [h, w, 3] under the policy above.

    Raises:
      ImageRefused: the file is missing, a folder, or refused; ``reason`` says why.
    """
    path = str(path)
    if os.path.isdir(path):
        raise ImageRefused("not_an_image", f"{path} is a folder, not an image file; name the image files "
                           f"in it (e.g. {os.path.join(path, '*.jpg')})")
    if not os.path.exists(path):
        raise ImageRefused("not_an_image", f"image not found: {path}")
    try:
        with Image.open(path) as im:
            im.seek(0)
            _check_header(path, im, min_side)
            im.load()
            im = ImageOps.exif_transpose(im)
            return to_rgb_array(im)
    except ImageRefused:
        raise
    except Image.DecompressionBombError:
        raise ImageRefused("too_large", f"{path}: more than {2 * Image.MAX_IMAGE_PIXELS // 1_000_000} "
                           "megapixels (a decompression bomb?); scale it down first") from None
    except UnidentifiedImageError:
        raise _unidentified(path) from None
    except MemoryError:
        raise ImageRefused("too_large", f"{path}: too large to decode in the memory available") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError,
            ZeroDivisionError, OverflowError, RuntimeError) as err:
        text = " ".join(str(err).split())[:160]
        if "truncat" in text.lower() or isinstance(err, EOFError) or "broken data stream" in text.lower():
            raise ImageRefused("truncated", f"{path}: the file is truncated ({text})") from None
        raise ImageRefused("decode_error", f"{path}: cannot decode it ({type(err).__name__}: {text})") from None
