"""Where EfficientNet-Lite0's forward + input-gradient pass spends its time, by kind of op.

``python -m bench.profile_imagenet [--batch 8] [--calls 5]`` traces a few calls of the
jitted pass (the one ``python -m bench`` times) with ``jax.profiler`` and sums XLA's
executed thunks by kind: the 1x1 convolutions (matrix multiplications, which XLA:CPU
runs as library calls), the native depthwise kernel (custom calls; with
``--depthwise shift``, XLA's shift-and-add loops instead), the dense stem convolution,
and the elementwise loop fusions (named by XLA after their first ops: ReLU6 and its
masks, residual adds, padding). It prints milliseconds per call and each kind's share. It keeps glibc's
malloc defaults: with ``imagenet.keep_freed_memory`` (one arena, as ``python -m
bench`` and the imagenet command line run) the tracer's own allocations inflated every
op about fourfold; the shares stayed the same.

Example:
    python -m bench.profile_imagenet --batch 8
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import re
import tempfile

import jax
import jax.numpy as jnp


def kind_of(name: str) -> str | None:
    """The kind of an executed XLA thunk, or None for bookkeeping events."""
    if name.startswith("$") or any(w in name for w in ("Thunk", "Pjit", "Slinky", "PjRt",
                                                         "Handle", "Allocate", "Parse", "end:")):
        return None
    base = re.sub(r"\.\d+$", "", name)
    if base.startswith(("ynn_fusion", "xnn_fusion", "dot")):
        return "matmul (1x1 convolutions, the classifier)"
    if base.startswith(("ffi_call", "custom-call", "custom_call")):
        return "native depthwise kernel (imagenet.depthwise_native)"
    if "conv" in base:
        return "dense convolution (stem)"
    if "fusion" in base or base.startswith("wrapped_"):
        return f"elementwise loop: {base}"
    return base


def profile(batch: int = 8, calls: int = 5, depthwise: str = "auto") -> dict[str, float]:
    """Milliseconds per call of each kind of op (see :func:`kind_of`), largest first."""
    from bench.imagenet_bench import MODEL, forward_gradient, photo_batch
    from imagenet import load_model

    classifier = load_model(MODEL, depthwise=depthwise)
    f = classifier.logits_fn
    x = jnp.asarray(photo_batch(batch, classifier.resolution))
    labels = jnp.argmax(f(x), -1)
    jax.block_until_ready(forward_gradient(f, x, labels))  # compile outside the trace
    with tempfile.TemporaryDirectory(prefix="lite0-trace-") as folder:
        with jax.profiler.trace(folder, create_perfetto_trace=True):
            for _ in range(calls):
                jax.block_until_ready(forward_gradient(f, x, labels))
        trace = json.load(gzip.open(glob.glob(f"{folder}/**/*.trace.json.gz", recursive=True)[0]))
    totals = collections.Counter()
    for event in trace["traceEvents"]:
        kind = kind_of(event.get("name", "")) if event.get("ph") == "X" else None
        if kind:
            totals[kind] += event["dur"] / 1000.0 / calls
    return dict(totals.most_common())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile_imagenet", description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--calls", type=int, default=5)
    p.add_argument("--depthwise", default="auto", choices=["auto", "native", "shift", "grouped"])
    args = p.parse_args(argv)
    if args.batch < 1 or args.calls < 1:
        p.error("--batch and --calls must be at least 1")
    ms = profile(args.batch, args.calls, args.depthwise)
    total = sum(ms.values())
    elementwise = sum(v for k, v in ms.items() if k.startswith("elementwise"))
    print(f"EfficientNet-Lite0 forward+input gradient, batch {args.batch}: {total:.1f} ms of ops a call")
    for kind, v in ms.items():
        if v >= 0.01 * total:
            print(f"{v:8.1f} ms  {v / total:5.1%}  {kind}")
    print(f"{elementwise:8.1f} ms  {elementwise / total:5.1%}  all elementwise loops")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
