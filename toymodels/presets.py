"""Training configurations of the tasks, as ``functools.partial`` presets.

Example:
    >>> preset_config("bubbles", seed=2).seed
    2
"""

from __future__ import annotations

import functools

from toymodels.train import TrainConfig

_PRESET = functools.partial(TrainConfig, width=64, depth=3, activation="relu", steps=2000,
                            learning_rate=0.01, batch_size=256)
# The classic sets and CSVs train like the presets: the app's default model (64x3, 2000
# steps), so a classic set opened in the app and on the command line is the same model.
_CLASSIC = _PRESET

CONFIGS = {
    "margins": _PRESET,
    "wrinkles": _PRESET,
    "pancakes": _PRESET,
    "bubbles": _PRESET,
    "circle": _CLASSIC,
    "xor": _CLASSIC,
    "gauss": _CLASSIC,
    "spiral": _CLASSIC,
    "moons": _CLASSIC,
    "blobs-strip": functools.partial(_PRESET, steps=2000),
}


def preset_config(name: str, *, seed: int = 0) -> TrainConfig:
    """The training configuration of task ``name`` with ``seed`` (CSV tasks and other
    unnamed sets get the classic sets' configuration)."""
    return CONFIGS.get(name, _CLASSIC)(seed=seed)
