"""The machine's limit, measured in the same run: the float32 matmul peak, and FLOP counts.

The peak is the best rate of a jitted square float32 matmul (``2 m^3`` FLOPs) over a few
sizes; every achieved FLOP rate of the table is stated as a share of it. FLOP counts of
the hot paths come from the models' shapes: :func:`mlp_flops` for the plane MLP (2 per
multiply-add of each dense layer) and ``imagenet.forward_flops`` for
EfficientNet-Lite.

Example:
    >>> peak = matmul_peak(sizes=(64,), repeats=2)
    >>> peak["gflops"] > 0
    True
"""

from __future__ import annotations

import datetime
import os
import platform

import jax
import jax.numpy as jnp

from bench.measure import time_call, time_pair


@jax.jit
def _matmul(a, b):
    return a @ b


def matmul_peak(sizes=(2048, 4096), *, repeats: int = 5) -> dict:
    """Measures the float32 matmul rate at each size; the peak is the best run of any size.

    Args:
      sizes: square matrix sizes ``m`` (each run does ``2 m^3`` FLOPs).
      repeats: timed runs per size, after one warm-up (compilation).

    Returns:
      ``{"gflops": peak, "by_size": {m: {"best_gflops", "median_gflops", ...timing}}}``.
    """
    by_size = {}
    for m in sizes:
        ka, kb = jax.random.split(jax.random.key(m))
        a = jax.random.normal(ka, (m, m), jnp.float32)
        b = jax.random.normal(kb, (m, m), jnp.float32)
        t = time_call(lambda: _matmul(a, b), warmup=1, repeats=repeats)
        flops = 2.0 * m ** 3
        by_size[str(m)] = {"best_gflops": flops / t.low / 1e9,
                           "median_gflops": flops / t.median / 1e9, **t.as_dict()}
    return {"gflops": max(s["best_gflops"] for s in by_size.values()), "by_size": by_size}


def share_of_matmul(fn, flops: float, *, repeats: int = 3, size: int = 2048,
                    warmup: int = 1) -> dict:
    """Times ``fn`` in alternation with a float32 matmul; its FLOP rate as a share of the matmul's.

    On a shared CPU the load drifts between a peak measured at the start of a run and a hot
    path timed minutes later; a matmul run just before each call of ``fn`` sees the same
    machine, so the share is taken pair by pair.

    Args:
      fn: the hot path (no arguments; its result is blocked on).
      flops: FLOPs of one call of ``fn``.
      repeats: pairs.
      size: the matmul's size (``2 size^3`` FLOPs).
      warmup: untimed calls of ``fn`` first.

    Returns:
      ``fn``'s timing + ``{"gflops", "share_of_peak" (median over pairs), "share_range",
      "paired_matmul_gflops"}``.
    """
    a = jax.random.normal(jax.random.key(size), (size, size), jnp.float32)
    pair = time_pair(lambda: _matmul(a, a), fn, repeats=repeats, warmup_b=warmup)
    mm = 2.0 * size ** 3
    share = {k: flops / mm * v for k, v in pair.time_ratio().items()}
    return {**pair.b.as_dict(), "gflops": flops / pair.b.median / 1e9,
            "share_of_peak": share["median"], "share_range": [share["min"], share["max"]],
            "paired_matmul_gflops": mm / pair.a.median / 1e9}


def mlp_flops(logits_fn) -> int:
    """FLOPs of the plane MLP on one point: ``2 * in * out`` per dense layer.

    Biases and activations are left out (about 1% for a 64-wide MLP).
    """
    from bench.torch_mlp import flax_mlp

    model = flax_mlp(logits_fn)
    return sum(2 * int(l.kernel.shape[0]) * int(l.kernel.shape[1])
               for l in list(model.hidden) + [model.out])


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    """Date, CPU, core count and library versions: the table's header."""
    import numpy
    import torch

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "jax_devices": [str(d) for d in jax.devices()],
        "python": platform.python_version(),
        "jax": jax.__version__,
        "numpy": numpy.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "load_average": load_average(),
    }


def load_average() -> float | None:
    """The 1-minute load average (other processes competing for the cores), if known."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return None
