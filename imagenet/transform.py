"""The EfficientNet eval transform (:func:`preprocess`): center crop, bicubic resize, pixel scale.

The TF EfficientNet eval transform: crop the central ``res / (res + 32)`` of the
short side (offset rounded up, as in TF), resize bicubically to ``res x res``.
The result stays in pixel scale [0, 255]; the model itself applies
``(x - 127) / 128``, so perturbation budgets are in pixel units.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from imagenet.images import read_image

CROP_PADDING = 32


def to_rgb(image: np.ndarray) -> np.ndarray:
    """Grayscale (HxW or HxWx1) to RGB, RGBA to RGB; f32[h, w, 3], values unchanged.

    Raises:
      ValueError: not a 2D image with 1, 3 or 4 channels.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[-1] not in (1, 3, 4) or min(image.shape[:2]) < 1:
        raise ValueError(f"expected an image of shape HxW, HxWx1, HxWx3 or HxWx4, got {image.shape}")
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    return image[:, :, :3].astype(np.float32)


def center_crop_box(height: int, width: int, resolution: int) -> tuple[int, int, int]:
    """(top, left, size) of the square eval crop: ``res / (res + 32)`` of the short side."""
    size = max(1, int(resolution / (resolution + CROP_PADDING) * min(height, width)))
    return (height - size + 1) // 2, (width - size + 1) // 2, size


def preprocess(image: np.ndarray, resolution: int) -> np.ndarray:
    """One image to the model's input.

    Args:
      image: uint8 or float array HxW, HxWx1, HxWx3 or HxWx4 in pixel scale
        [0, 255] (float input is taken as pixels too, not [0, 1]).
      resolution: output side (224 / 240 / 260).

    Returns:
      f32[resolution, resolution, 3] RGB in [0, 255] (bicubic overshoot clipped).
    """
    rgb = to_rgb(image)
    top, left, size = center_crop_box(rgb.shape[0], rgb.shape[1], resolution)
    crop = rgb[top : top + size, left : left + size]
    # resize each channel as a float image: no rounding to uint8 in between
    channels = [
        np.asarray(Image.fromarray(np.ascontiguousarray(crop[:, :, c])).resize(
            (resolution, resolution), Image.Resampling.BICUBIC))
        for c in range(3)
    ]
    return np.clip(np.stack(channels, axis=-1), 0.0, 255.0).astype(np.float32)


def preprocess_batch(images, resolution: int) -> np.ndarray:
    """Several images (any sizes) to f32[n, resolution, resolution, 3] in [0, 255]."""
    return np.stack([preprocess(image, resolution) for image in images]).reshape(-1, resolution, resolution, 3)


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as uint8 RGB [h, w, 3] under the one image policy (:mod:`imagenet.images`).

    Raises:
      imagenet.images.ImageRefused (a ValueError): missing, a folder, not an image,
        truncated, too small, too large; the message is one line naming the file.
    """
    return read_image(path)
