"""Saving and loading trained plane models as ``.npz`` (never pickle).

The file holds every parameter array under its path in the NNX state, plus a
``__config__`` entry: the JSON of the :class:`~toymodels.train.TrainConfig`, the task
name and the number of classes, so that the model can be rebuilt and checked.

Example:
    >>> import tempfile, os
    >>> from toymodels.datasets import get_task
    >>> from toymodels.train import TrainConfig, train
    >>> t = train(get_task("margins"), TrainConfig(steps=50))
    >>> path = os.path.join(tempfile.mkdtemp(), "m.npz")
    >>> save_model(path, t, task_name="margins", num_classes=3)
    >>> load_model(path).config == t.config
    True
"""

from __future__ import annotations

import dataclasses
import io
import json
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from store import write_bytes

from toymodels.mlp import apply_state, create_model
from toymodels.train import TrainConfig


class LoadedModel(NamedTuple):
    logits_fn: jax.tree_util.Partial
    config: TrainConfig
    task_name: str
    num_classes: int


def _flat(state) -> dict[str, np.ndarray]:
    leaves = jax.tree_util.tree_leaves_with_path(state)
    return {jax.tree_util.keystr(p): np.asarray(v) for p, v in leaves}


def model_bytes(trained, *, task_name: str, num_classes: int) -> bytes:
    """The ``.npz`` file of a trained model, as bytes (for downloads)."""
    state = trained.logits_fn.args[1]
    meta = {"config": dataclasses.asdict(trained.config), "task": task_name,
            "num_classes": num_classes}
    buf = io.BytesIO()
    np.savez(buf, __config__=np.array(json.dumps(meta)), **_flat(state))
    return buf.getvalue()


def save_model(path: str, trained, *, task_name: str, num_classes: int) -> None:
    """Writes the model atomically (:func:`store.write_bytes`)."""
    write_bytes(path, model_bytes(trained, task_name=task_name, num_classes=num_classes))


def load_model(path) -> LoadedModel:
    """Rebuilds a model saved by :func:`save_model` (no code execution on load).

    Raises:
      ValueError: if the file is not such a model.
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:  # noqa: BLE001 - any unreadable file gets one message
        raise ValueError(f"{path}: not a readable .npz model file ({e})") from None
    if "__config__" not in arrays:
        raise ValueError(f"{path}: no __config__ entry; not a model saved by this project")
    meta = json.loads(str(arrays.pop("__config__")))
    config = TrainConfig(**meta["config"])
    model = create_model(num_classes=meta["num_classes"], width=config.width, depth=config.depth,
                         activation=config.activation, rngs=nnx.Rngs(0))
    graphdef, state = nnx.split(model)
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(state)]
    if sorted(paths) != sorted(arrays):
        raise ValueError(f"{path}: parameters do not match a {config.depth}x{config.width} MLP")
    leaves = [jnp.asarray(arrays[p]) for p in paths]
    state = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(state), leaves)
    return LoadedModel(jax.tree_util.Partial(apply_state, graphdef, state), config,
                       meta["task"], meta["num_classes"])
