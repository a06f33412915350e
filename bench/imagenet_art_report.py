"""The benchmark report's section on ImageNet universal perturbations against ART.

It reads the ``imagenet_vs_art`` entry of a run (:func:`bench.imagenet_art.measure_imagenet_art`);
nothing is measured. :func:`bench.report.markdown` places it among the other sections.
"""

from __future__ import annotations

from bench.formatting import fmt, fmt_time, passes, table


def _art_method_rows(r: dict, art_version: str) -> list[list]:
    """One row per side of the ART comparison: time and passes to the target, rates, speedup.

    Args:
      r: a measured ``imagenet_vs_art``.
      art_version: ART's version.

    Returns:
      Table rows: ART, Algorithm 1, then sgd.
    """
    rows = []
    for side, label, prefix, speedup in (
            ("art", f"ART UniversalPerturbation {art_version} (DeepFool, ART's defaults)", "art_", None),
            ("deepfool", "imagenet.run_universal (deepfool, Algorithm 1)", "", "speedup"),
            ("sgd", "imagenet.run_universal (sgd)", "sgd_", "sgd_speedup")):
        ratio = "-" if r.get(speedup) is None else f"ours {r[speedup]:.1f}x faster"
        rows.append([label, fmt_time(r["time_to_target_s"][side]),
                     "/".join("-" if k is None else str(k) for k in r["passes_to_target"][side]),
                     ", ".join(f"{h:.3f}" for h in r["history_mean"][side]),
                     fmt(r[f"{prefix}fooling_rate"]), fmt(r[f"{prefix}heldout_fooling_rate"]), ratio])
    return rows


def _art_defect_note(d: dict) -> str:
    """The note on ART's DeepFool defect, with the check that measured it on the photos.

    Args:
      d: the run's ``defect`` (file, line, text, nb_grads and the per-photo checks).

    Returns:
      One Markdown sentence.
    """
    zero = sum(1 for c in d["checks"] if c["step"] == 0)
    rng = d.get("ratio_range")
    check = (f"{fmt(d['ratio_median'])}x ({fmt(rng[0])}-{fmt(rng[1])}x)" if rng else "not found")
    return (
        f"ART's DeepFool defect: `{d['file']}` line {d['line']}, `{d['text']}`, subtracts the "
        f"logit of the label's position in the top-{d['nb_grads']} set (a class id 0-"
        f"{d['nb_grads'] - 1}) instead of the label's own logit whenever nb_grads is below "
        f"the number of classes. Check on {len(d['checks'])} training photo{'s' if len(d['checks']) > 1 else ''}: ART's first "
        f"DeepFool step (max_iter=1, nb_grads={d['nb_grads']}) over the distance to the "
        f"decision boundary along it (searched on the torch model): {check}"
        + (f"; {zero} of them a zero step (that class is in the top-{d['nb_grads']} set: "
           "DeepFool stands still for its 100 iterations)" if zero else "") + ".")


def _art_notes(r: dict) -> list[str]:
    """The notes under the ART table: where the time goes, ART's own rates, its defect.

    Args:
      r: a measured ``imagenet_vs_art``.

    Returns:
      Markdown bullet texts (without the bullet).
    """
    notes = [f"Where the time goes: ART {r['art_torch_share']:.0%} in torch forward and backward "
             f"passes (PyTorchClassifier predict and class_gradient), "
             f"{r['art_gradients_per_image_pass']:.0f} class gradients (each a forward and a "
             f"backward pass of one image) per image and pass; the project "
             f"{fmt(r['images_per_s']['deepfool'])} images/s (deepfool) and "
             f"{fmt(r['images_per_s']['sgd'])} images/s (sgd), decoding included, compilation "
             "left out (one untimed run first).",
             "ART's own fooling rates (on x + v clipped to [0, 1]), per seed: "
             + "; ".join(", ".join(f"{h:.3f}" for h in hs) for hs in r["history"]["art_own"]) + "."]
    d = r.get("defect") or {}
    if d.get("line"):
        notes.append(_art_defect_note(d))
    return notes


def imagenet_art_lines(r: dict | None, art_version: str) -> list[str]:
    """The section "ImageNet: universal perturbations against ART" (none if the stage was skipped).

    Args:
      r: the run's ``imagenet_vs_art`` (:func:`bench.imagenet_art.measure_imagenet_art`).
      art_version: ART's version, or ``"not installed"``.

    Returns:
      Markdown lines.
    """
    if not r:
        return []
    lines = ["## ImageNet: universal perturbations against ART", ""]
    if r.get("status") != "measured":
        return lines + [f"ART {r.get('status', 'not measured')}: not measured "
                        "(`pip install -r requirements-bench.txt`).", ""]
    target = r["target_rate"]
    reached = ("0.8" if target >= 0.8 else
               f"{target:.3f}, the best rate ART and Algorithm 1 both reach on every seed")
    lines += [f"EfficientNet-Lite0, linf eps 10 pixel units (10/255 on ART's [0, 1] inputs), "
              f"{r['images']} bundled training photos and {r['val']} held out, at most "
              f"{passes(r['passes'])}, {r['seeds']} seed{'s averaged' if r['seeds'] > 1 else ''}; "
              f"every rate by {r['evaluator']}. Target rate: {reached}.", ""]
    lines += table(["method", f"time to {target:.3f}", "passes to it (per seed)",
                    "training fooling rate after each pass", "final training", "held-out", "ratio"],
                   _art_method_rows(r, art_version))
    lines += [f"- {n}" for n in _art_notes(r)] + [""]
    return lines
