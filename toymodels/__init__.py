"""The 2D world: data sets, the Flax MLP, Optax training, grids over the plane."""

from toymodels.csvdata import DataError, load_csv, parse_csv
from toymodels.datasets import CLASSICS, DEFAULT_EPS, PRESETS, TASK_NAMES, Task, get_task
from toymodels.grid import Grid, classify_grid, plane_grid
from toymodels.mlp import MLP, create_model, logits_fn_of
from toymodels.train import TrainConfig, Trained, TrainingDiverged, train, training_set

__all__ = ["CLASSICS", "DEFAULT_EPS", "PRESETS", "TASK_NAMES", "DataError", "Grid", "MLP",
           "Task", "TrainConfig", "Trained", "TrainingDiverged", "classify_grid", "create_model",
           "get_task", "load_csv", "logits_fn_of", "parse_csv", "plane_grid", "train",
           "training_set"]
