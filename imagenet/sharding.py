"""Data parallelism over every device JAX sees, on one host or several.

A 1-D :class:`jax.sharding.Mesh` with axis ``"data"`` spans ``jax.devices()``
(all devices of all processes). Batches are split along their leading axis
(``NamedSharding(mesh, P("data"))``); the perturbation and the model's weights
are replicated (``P()``). Jitted code then runs SPMD: each device attacks its
rows and the sums over the batch become all-reduces.

Each process decodes only its own rows of a global batch (:func:`local_rows`)
and :func:`put_batch` assembles the global array from the per-process pieces
(``jax.make_array_from_process_local_data``), so the same code serves one CPU,
one host with 8 GPUs and a cluster started with :func:`initialize_distributed`.
A global batch is padded to a multiple of the device count; padding rows are
masked out of every count and update.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

AXIS = "data"
DISTRIBUTED_ENV = "IMAGENET_DISTRIBUTED"


class DataParallel(NamedTuple):
    """The mesh and the two shardings a data-parallel run uses."""

    mesh: Mesh
    batch: NamedSharding  # split along the leading axis
    replicated: NamedSharding

    @property
    def n_devices(self) -> int:
        return self.mesh.devices.size


def initialize_distributed(enable: bool | None = None) -> bool:
    """Join a multi-host run (``jax.distributed.initialize()``) when asked.

    Asked means ``enable`` is True, or ``enable`` is None and the environment
    variable ``IMAGENET_DISTRIBUTED=1`` is set. The coordinator address, process
    count and id come from the cluster (SLURM, Open MPI, Cloud TPU) or from
    ``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID``.
    Must run before any other JAX call.

    Returns:
      whether this process joined a distributed run.
    """
    if enable is None:
        enable = os.environ.get(DISTRIBUTED_ENV, "") not in ("", "0")
    if not enable:
        return False
    kwargs = {}
    if "JAX_COORDINATOR_ADDRESS" in os.environ:
        kwargs = dict(coordinator_address=os.environ["JAX_COORDINATOR_ADDRESS"],
                      num_processes=int(os.environ["JAX_NUM_PROCESSES"]),
                      process_id=int(os.environ["JAX_PROCESS_ID"]))
    jax.distributed.initialize(**kwargs)
    return True


def make_data_parallel(devices=None) -> DataParallel:
    """A data-parallel layout over ``devices`` (default: all devices of all processes)."""
    devices = sorted(jax.devices() if devices is None else devices, key=lambda d: (d.process_index, d.id))
    mesh = Mesh(np.asarray(devices), (AXIS,))
    return DataParallel(mesh, NamedSharding(mesh, P(AXIS)), NamedSharding(mesh, P()))


def padded_batch_size(batch: int, dp: DataParallel) -> int:
    """``batch`` rounded up to a multiple of the device count."""
    n = dp.n_devices
    return -(-batch // n) * n


def local_rows(padded: int, dp: DataParallel) -> slice:
    """The rows of a global batch of ``padded`` rows that this process supplies.

    The mesh orders devices by process, so each process owns one contiguous
    block of rows: the union of its devices' shards.
    """
    shards = dp.batch.addressable_devices_indices_map((padded,)).values()
    starts = [s[0].start or 0 for s in shards]
    stops = [padded if s[0].stop is None else s[0].stop for s in shards]
    return slice(min(starts), max(stops))


def put_batch(dp: DataParallel, local: np.ndarray) -> jax.Array:
    """This process's rows of a global batch -> a global array split over ``"data"``."""
    global_shape = (local.shape[0] * jax.process_count(),) + local.shape[1:]
    return jax.make_array_from_process_local_data(dp.batch, np.asarray(local), global_shape)


def put_replicated(dp: DataParallel, tree):
    """A pytree (perturbation, weights) replicated on every device of the mesh."""
    return jax.device_put(tree, dp.replicated)


def fetch(x: jax.Array) -> np.ndarray:
    """A replicated (or fully addressable) array as a host numpy array."""
    if not isinstance(x, jax.Array) or x.is_fully_addressable:
        return np.asarray(x)
    return np.asarray(x.addressable_data(0))
