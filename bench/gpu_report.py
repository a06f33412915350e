"""The GPU check's reference figures and its Markdown table (see :mod:`bench.gpu`).

:data:`PEAKS` holds NVIDIA's nominal dense peaks (datasheets; the bfloat16 figure is the
tensor-core rate without structured sparsity, half the headline figure where the
datasheet quotes the sparse one). :func:`nominal_peak` finds a device's row from JAX's
``device_kind``; an unknown device has none, and its shares of peak are left out.

Example:
    >>> nominal_peak("NVIDIA H100 80GB HBM3")
    {'gpu': 'H100 SXM', 'float32_tflops': 67.0, 'bfloat16_tflops': 989.5}
    >>> nominal_peak("cpu") is None
    True
"""

from __future__ import annotations

import re

# gpu: (float32 TFLOP/s without tensor cores, bfloat16 dense tensor-core TFLOP/s or None:
# no bfloat16 tensor cores, XLA emulates it)
PEAKS = {
    "H200 SXM": (67.0, 989.5),
    "H200 NVL": (60.0, 835.5),
    "H100 SXM": (67.0, 989.5),
    "H100 NVL": (60.0, 835.5),
    "H100 PCIe": (51.0, 756.5),
    "A100": (19.5, 312.0),       # SXM4 and PCIe, 40 and 80 GB alike
    "L40S": (91.6, 362.05),
    "L4": (30.3, 121.0),
    "A10": (31.2, 125.0),
    "V100 SXM2": (15.7, None),
    "V100 PCIe": (14.0, None),
    "T4": (8.1, None),
}


def gpu_model(device_kind: str) -> str | None:
    """The :data:`PEAKS` row of a JAX ``device_kind`` (``"NVIDIA A100-SXM4-80GB"``,
    ``"Tesla T4"``, ...), matched on whole words, or None for any other device.

    Whole words keep the A10 apart from the A100 and the L4 from the L40S; an H100 or
    H200 is the SXM part unless its name says PCIe or NVL.
    """
    words = set(re.split(r"[\s_\-/]+", str(device_kind).upper()))
    for chip in ("H200", "H100"):
        if chip in words:
            if "NVL" in words:
                return f"{chip} NVL"
            if "PCIE" in words:
                return "H100 PCIe" if chip == "H100" else None
            return f"{chip} SXM"
    if "V100" in words:
        return "V100 PCIe" if "PCIE" in words else "V100 SXM2"
    return next((name for name in ("A100", "L40S", "L4", "A10", "T4") if name.upper() in words), None)


def nominal_peak(device_kind: str) -> dict | None:
    """NVIDIA's nominal dense peaks of the device, in TFLOP/s.

    Args:
      device_kind: ``jax.devices()[0].device_kind``.

    Returns:
      ``{"gpu", "float32_tflops", "bfloat16_tflops" (None without bfloat16 tensor
      cores)}``, or None for a device not in :data:`PEAKS`.
    """
    name = gpu_model(device_kind)
    if name is None:
        return None
    f32, bf16 = PEAKS[name]
    return {"gpu": name, "float32_tflops": f32, "bfloat16_tflops": bf16}


def peak_gflops(peak: dict | None, dtype: str) -> float | None:
    """The nominal peak of ``dtype`` (``"float32"`` or ``"bfloat16"``) in GFLOP/s, if known."""
    tflops = (peak or {}).get(f"{dtype}_tflops")
    return None if tflops is None else 1000.0 * tflops


def _num(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 10 ** digits else f"{value:.0f}"
    return str(value)


def _share(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def markdown(results: dict) -> str:
    """The check's figures as a short Markdown page: device, tests, one row per model and
    dtype (at its best batch), one row per universal-perturbation run."""
    d, peak = results["device"], results["nominal_peak"]
    lines = [f"# GPU check: {d['kind']} ({d['platform']}, {d['count']} device(s))", "",
             f"{results['date']}; jax {results['versions']['jax']}, jaxlib "
             f"{results['versions']['jaxlib']}, Python {results['versions']['python']}; "
             f"models {', '.join(results['models'])}; {results['seconds']:.0f} s in all.", ""]
    if peak:
        bf16 = "-" if peak["bfloat16_tflops"] is None else f"{peak['bfloat16_tflops']:g}"
        lines.append(f"Nominal peak ({peak['gpu']}): float32 {peak['float32_tflops']:g} TFLOP/s, "
                     f"bfloat16 tensor cores {bf16} TFLOP/s (dense).")
    else:
        lines.append("Nominal peak: unknown device, shares of peak left out.")
    t = results["tests"]
    if t["status"] == "skipped":
        lines.append(f"Tests: skipped ({t['reason']}).")
    else:
        lines.append(f"Tests ({' '.join(t['patterns'])}): {t['status']}, {t['passed']} passed, "
                     f"{t['failed']} failed, {t['errors']} errors, {t['skipped']} skipped, "
                     f"{t['seconds']:.0f} s.")
    lines += ["", "Forward + input gradient (2 x forward FLOPs an image), at the best batch of "
              "the ladder:", "",
              "| model | dtype | depthwise | best batch | images/s | GFLOP/s | share of peak | "
              "ladder (batch: images/s) |", "|---|---|---|---|---|---|---|---|"]
    for model, by_dtype in results["forward_gradient"].items():
        for dtype, r in by_dtype.items():
            ladder = ", ".join(f"{row['batch']}: " + (_num(row["images_per_s"]) if "images_per_s" in row
                                                      else row["error"]) for row in r["ladder"])
            lines.append(f"| {model} | {dtype} | {r['depthwise']} | {_num(r['best_batch'])} | "
                         f"{_num(r['images_per_s'])} | {_num(r['gflops'])} | "
                         f"{_share(r['share_of_peak'])} | {ladder} |")
    runs = results["runs"]
    lines += ["", f"Universal-perturbation runs (imagenet.run_universal, {runs['model']}, "
              f"linf eps {runs['eps']:g}, {runs['images']} training and {runs['val']} held-out "
              f"bundled photos, batch {runs['batch']}):", "",
              "| method | passes | attack images/s | fooling rate by pass | held out | wall |",
              "|---|---|---|---|---|---|"]
    for method, r in runs["methods"].items():
        history = ", ".join(f"{h:.3f}" for h in r["fooling_rate_history"])
        lines.append(f"| {method} | {r['passes']} | {_num(r['images_per_s'])} | {history} | "
                     f"{_num(r['fooling_rate_heldout'])} | {r['wall_s']:.1f} s |")
    c = results.get("categories")
    if c:
        lines += ["", f"The four fractions (imagenet categories, {c['model']}, linf, {c['images']} "
                  f"training and {c['val']} held-out photos, {c['counted']} counted; "
                  f"{c['wall_s']:.1f} s):", "",
                  "| eps | robust (≤) | pointwise (≥) | universal (≥) | random (≈, 95%) | verdict |",
                  "|---|---|---|---|---|---|"]
        for r in c["curve"]:
            lo, hi = r["random_interval"]
            lines.append(f"| {r['eps']:g} | {r['robust']:.3f} | {r['pointwise']:.3f} | "
                         f"{r['universal']:.3f} | {r['random']:.3f} [{lo:.3f}, {hi:.3f}] | "
                         f"{r['verdict']} |")
    return "\n".join(lines)
