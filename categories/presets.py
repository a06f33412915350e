"""Training configurations of the tasks, as ``functools.partial`` presets.

Example:
    >>> preset_config("bubbles", seed=2).seed
    2
"""

from __future__ import annotations

import functools

from toymodels import TrainConfig

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


def cache_dir() -> str:
    """Where trained models are kept: ``$ROBUSTNESS_CACHE`` or ``~/.cache/robustness-geometry``."""
    import os

    root = os.environ.get("ROBUSTNESS_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "robustness-geometry")
    return os.path.join(root, "toymodels")


def load_or_train(task, config: TrainConfig, *, reuse: bool = True):
    """Trains ``config`` on a named task, or reuses the ``.npz`` a previous run saved.

    Data-defined tasks (CSV) are always trained afresh.

    Returns:
      ``(logits_fn, clean_accuracy or None when reused)``.
    """
    import dataclasses
    import hashlib
    import json
    import os

    from toymodels import train
    from toymodels.store import load_model, save_model

    if task.points is not None or not reuse:
        t = train(task, config)
        return t.logits_fn, t.accuracy
    digest = hashlib.sha256(json.dumps(dataclasses.asdict(config), sort_keys=True).encode())
    path = os.path.join(cache_dir(), f"{task.name}-{digest.hexdigest()[:16]}.npz")
    if os.path.exists(path):
        try:
            return load_model(path).logits_fn, None
        except ValueError:
            pass  # a stale or foreign file: train again and overwrite it
    t = train(task, config)
    save_model(path, t, task_name=task.name, num_classes=task.num_classes)
    return t.logits_fn, t.accuracy
