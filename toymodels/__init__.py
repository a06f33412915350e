"""The 2D world: data sets, the Flax MLP, Optax training, grids over the plane, and the
setting (task, training configuration, seed) -> trained model, sample of D, key.

Example:
    >>> from toymodels import get_task, preset_config
    >>> get_task("pancakes").num_classes, preset_config("pancakes").width
    (2, 64)
"""

from toymodels.csvdata import DataError, drawn_task, load_csv, parse_csv, points_task
from toymodels.datasets import (CLASSICS, DEFAULT_EPS, DEFAULT_POINTS, PRESETS, TASK_NAMES, Task,
                                get_task)
from toymodels.grid import Grid, classify_grid, plane_grid, predict_in_chunks
from toymodels.mlp import ACTIVATIONS, MLP, apply_state, create_model, logits_fn_of
from toymodels.modelfile import LoadedModel, load_model, model_bytes, save_model
from toymodels.presets import preset_config
from toymodels.setting import (Model, Setting, check_points, load_or_train, make_setting,
                               model_path, sample_of_d)
from toymodels.variant import task_variant
from toymodels.train import (Snapshot, TrainConfig, Trained, TrainingDiverged, snapshot_steps, train,
                             train_chunk, training_set)

__all__ = ["ACTIVATIONS", "CLASSICS", "DEFAULT_EPS", "DEFAULT_POINTS", "PRESETS", "TASK_NAMES", "DataError",
           "Grid", "LoadedModel", "MLP", "Model", "Setting", "Snapshot", "Task", "TrainConfig", "Trained",
           "TrainingDiverged", "apply_state", "check_points", "classify_grid", "create_model", "drawn_task", "get_task",
           "load_csv", "load_model", "load_or_train", "logits_fn_of", "make_setting",
           "model_bytes", "model_path", "parse_csv", "plane_grid", "points_task", "predict_in_chunks",
           "preset_config", "sample_of_d", "save_model", "snapshot_steps", "task_variant", "train", "train_chunk", "training_set"]
