"""Benchmark: EfficientNet-Lite forward + input-gradient throughput on this CPU.

Measures the float32 matmul peak (jitted square matmul), then, for each model,
depthwise formulation (shift-and-add vs XLA grouped conv) and batch size, the
median time of one jitted forward + input-gradient pass (the inner step of every
attack). Reports images/s and the achieved FLOP rate as a share of the matmul
peak, counting ``2 * forward_flops`` per image (the input-gradient pass repeats
each layer once with the same shape; no weight gradients are formed).

Usage:
    python bench/bench_models.py [--models lite0] [--batches 8 16 32]
        [--depthwise shift grouped] [--repeats 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from imagenet.models import forward_flops, load_model  # noqa: E402


def median_seconds(fn, *args, repeats: int = 5) -> float:
    """Median wall time of ``fn(*args)`` over ``repeats`` runs after one warm-up (compile) run."""
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_peak(n: int = 2048, repeats: int = 5) -> float:
    """Measured float32 matmul rate in FLOP/s (an n x n by n x n product)."""
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
    seconds = median_seconds(jax.jit(jnp.matmul), a, b, repeats=repeats)
    return 2 * n**3 / seconds


def loss(logits_fn, x, labels):
    """Mean cross-entropy of the labels, the objective an attack differentiates."""
    logits = logits_fn(x)
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=1))


input_gradient = jax.jit(jax.grad(loss, argnums=1))


def bench_model(name: str, depthwise: str, batch: int, repeats: int) -> dict:
    """One measurement: seconds per forward+input-gradient pass, images/s, FLOP/s."""
    clf = load_model(name, depthwise=depthwise)
    key_x, key_y = jax.random.split(jax.random.key(0))
    x = jax.random.uniform(key_x, (batch, clf.resolution, clf.resolution, 3), jnp.float32, 0, 255)
    labels = jax.random.randint(key_y, (batch,), 0, 1000)
    seconds = median_seconds(input_gradient, clf.logits_fn, x, labels, repeats=repeats)
    flops = 2 * forward_flops(name, batch)
    return {"model": clf.name, "depthwise": depthwise, "batch": batch, "seconds": seconds,
            "images_per_s": batch / seconds, "flop_per_s": flops / seconds}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["lite0"])
    parser.add_argument("--batches", nargs="+", type=int, default=[8, 16, 32])
    parser.add_argument("--depthwise", nargs="+", default=["shift", "grouped"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)

    peak = matmul_peak(repeats=args.repeats)
    print(f"float32 matmul peak (2048^3, jitted): {peak / 1e9:.1f} GFLOP/s on {os.cpu_count()} cores")
    for name in args.models:
        print(f"{name}: forward {forward_flops(name) / 1e9:.3f} GFLOP/image, forward+input-grad counted as 2x")
    print(f"{'model':20s} {'depthwise':9s} {'batch':>5s} {'ms/batch':>9s} {'img/s':>7s} {'GFLOP/s':>8s} {'of peak':>7s}")
    rows = []
    for name in args.models:
        for depthwise in args.depthwise:
            for batch in args.batches:
                row = bench_model(name, depthwise, batch, args.repeats)
                row["share_of_peak"] = row["flop_per_s"] / peak
                rows.append(row)
                print(f"{row['model']:20s} {depthwise:9s} {batch:5d} {row['seconds'] * 1e3:9.1f} "
                      f"{row['images_per_s']:7.1f} {row['flop_per_s'] / 1e9:8.1f} {row['share_of_peak']:7.1%}",
                      flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"matmul_peak_flop_per_s": peak, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
