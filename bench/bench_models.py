"""Benchmark: EfficientNet-Lite forward + input-gradient throughput on this CPU.

For each model, depthwise formulation (the native C++ kernel, shift-and-add in XLA,
XLA's grouped conv) and
batch size: the median time of one jitted forward + input-gradient pass (the
inner step of every attack), images/s, and the achieved FLOP rate as a share of
the float32 matmul peak (a jitted 2048^3 matmul timed in the same rounds, since
the CPU is shared), counting ``2 * forward_flops`` per image (the input-gradient
pass repeats each layer once with the same shape; no weight gradients).

Usage:
    python bench/bench_models.py [--models lite0] [--batches 8 16 32]
        [--depthwise native shift grouped] [--repeats 5] [--json out.json] [--default-malloc]
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

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from imagenet import forward_flops, keep_freed_memory, load_model  # noqa: E402


def timed(fn, *args) -> float:
    """Wall seconds of one call, blocked until the result exists."""
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - start


def loss(logits_fn, x, labels):
    """Mean cross-entropy of the labels, the objective an attack differentiates."""
    logits = logits_fn(x)
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=1))


input_gradient = jax.jit(jax.grad(loss, argnums=1))
matmul = jax.jit(jnp.matmul)
MATMUL_N = 2048


def bench_model(name: str, depthwise: str, batch: int, repeats: int) -> dict:
    """One configuration: forward+input-gradient timed in rounds interleaved with the matmul.

    The CPU is shared, so each round times the model and the 2048^3 matmul back
    to back and takes their ratio; the medians over rounds are reported.
    """
    clf = load_model(name, depthwise=depthwise)
    key_x, key_y, key_a = jax.random.split(jax.random.key(0), 3)
    x = jax.random.uniform(key_x, (batch, clf.resolution, clf.resolution, 3), jnp.float32, 0, 255)
    labels = jax.random.randint(key_y, (batch,), 0, 1000)
    a = jax.random.normal(key_a, (MATMUL_N, MATMUL_N), jnp.float32)
    timed(input_gradient, clf.logits_fn, x, labels)  # compile
    timed(matmul, a, a)
    flops = 2 * forward_flops(name, batch)
    rounds = []
    for _ in range(repeats):
        peak = 2 * MATMUL_N**3 / timed(matmul, a, a)
        seconds = timed(input_gradient, clf.logits_fn, x, labels)
        rounds.append((seconds, peak, flops / seconds / peak))
    seconds = statistics.median(r[0] for r in rounds)
    return {"model": clf.name, "depthwise": depthwise, "batch": batch, "seconds": seconds,
            "images_per_s": batch / seconds, "flop_per_s": flops / seconds,
            "matmul_peak_flop_per_s": statistics.median(r[1] for r in rounds),
            "share_of_peak": statistics.median(r[2] for r in rounds),
            "share_range": (min(r[2] for r in rounds), max(r[2] for r in rounds))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["lite0"])
    parser.add_argument("--batches", nargs="+", type=int, default=[8, 16, 32])
    parser.add_argument("--depthwise", nargs="+", default=["native", "shift", "grouped"],
                        choices=["native", "shift", "grouped"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc malloc as it is (default: imagenet.keep_freed_memory, as the CLI)")
    args = parser.parse_args(argv)
    kept = False if args.default_malloc else keep_freed_memory()

    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (the CPU is shared: figures move with it); "
          f"malloc keeps freed memory: {kept}")
    for name in args.models:
        print(f"{name}: forward {forward_flops(name) / 1e9:.3f} GFLOP/image, forward+input-grad counted as 2x")
    print(f"{'model':20s} {'depthwise':9s} {'batch':>5s} {'ms/batch':>9s} {'img/s':>7s} {'GFLOP/s':>8s} "
          f"{'matmul':>7s} {'of peak':>7s} {'range':>11s}")
    rows = []
    for name in args.models:
        for depthwise in args.depthwise:
            for batch in args.batches:
                row = bench_model(name, depthwise, batch, args.repeats)
                rows.append(row)
                low, high = row["share_range"]
                print(f"{row['model']:20s} {depthwise:9s} {batch:5d} {row['seconds'] * 1e3:9.1f} "
                      f"{row['images_per_s']:7.1f} {row['flop_per_s'] / 1e9:8.1f} "
                      f"{row['matmul_peak_flop_per_s'] / 1e9:7.0f} {row['share_of_peak']:7.1%} "
                      f"{low:5.1%}-{high:5.1%}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"load_average": os.getloadavg()[0], "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
