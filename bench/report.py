"""The benchmark's Markdown table, with its goals (met or missed, and why).

Everything here reads the object :func:`bench.run.run_benchmark` returns; nothing is
measured. The same text is printed by ``python -m bench`` and written to
``docs/benchmarks.md`` by ``python -m bench --markdown docs/benchmarks.md``.
"""

from __future__ import annotations

from bench.formatting import fmt, fmt_range, fmt_time, passes, restarts, table, timed
from bench.goals import goals

def _setting_rows(name: str, r: dict, peers: dict) -> list[list]:
    e, ratio, rng = r["exact"], r["ratios"], r["ratio_ranges"]
    grid = r["torch_grid"]
    scaled = "" if grid["timed_fraction"] >= 1 else \
        f", timed on 1/{round(1 / grid['timed_fraction'])}, scaled"

    def fool(entry, ref):
        if entry.get("status"):
            return "-", "-"
        return f"{entry['fooling']:.3f}", f"{entry['fooling'] / ref:.3f}" if ref > 0 else "-"

    rows = [[name, "exact optimum (categories.exact2d)", timed(e),
             f"universal {e['universal']:.3f}, pointwise {e['pointwise']:.3f}", "1", "-"],
            [name, f"brute-force lattice, torch ({grid['deltas']} deltas, spacing "
                   f"{grid['spacing']:.2g}{scaled})", timed(grid),
             f"universal {grid['universal']:.3f}",
             f"{grid['universal'] / e['universal']:.3f}" if e["universal"] > 0 else "-",
             f"exact {fmt_range(rng.get('exact_vs_torch_grid_speedup'))}x faster"]]
    shown = []
    for key in ("uap", "uap_single", "uap_at_art_passes"):
        entry = r.get(key)
        if entry is None or any(entry["passes"] == e["passes"] and entry.get("restarts") ==
                                e.get("restarts") for e in shown):
            continue
        shown.append(entry)
        label = restarts(entry).replace(" in parallel", "") + passes(entry["passes"])
        if key == "uap" and entry.get("restarts"):
            label = "default: " + label
        rows.append([name, f"attacks.universal_perturbation ({label})", timed(entry),
                     *fool(entry, e["universal"]), "-"])
    art = r["art_uap"]
    rows.append([name, f"ART UniversalPerturbation {peers['art']}"
                       + ("" if art.get("status") else f" ({passes(art['passes'])})"),
                 timed(art), *fool(art, e["universal"]),
                 f"ours {fmt_range(rng['uap_vs_art_speedup'])}x faster"
                 if "uap_vs_art_speedup" in rng else "-"])
    p = r["pgd"]
    budget = f"{p['steps']} steps, 1 start, CE"
    rows.append([name, f"attacks.pgd ({budget})", timed(p), *fool(p, e["pointwise"]), "-"])
    for key, label, rkey in (("torchattacks_pgd", f"torchattacks PGD {peers['torchattacks']}",
                              "pgd_vs_torchattacks_time_ratio"),
                             ("art_pgd", f"ART ProjectedGradientDescent {peers['art']}",
                              "pgd_vs_art_time_ratio")):
        entry = r[key]
        rows.append([name, label + ("" if entry.get("status") else f" ({budget})"),
                     timed(entry), *fool(entry, e["pointwise"]),
                     f"ours takes {fmt_range(rng[rkey])}x its time" if rkey in rng else "-"])
    q = r["pgd_restarts"]
    rows.append([name, f"attacks.pgd ({q['steps']} steps, {q['restarts']} starts, margin)",
                 timed(q), *fool(q, e["pointwise"]), "-"])
    return rows


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
    lines += table(["method", f"time to {target:.3f}", "passes to it (per seed)",
                    "training fooling rate after each pass", "final training", "held-out", "ratio"],
                   rows)
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
        zero = sum(1 for c in d["checks"] if c["step"] == 0)
        rng = d.get("ratio_range")
        check = (f"{fmt(d['ratio_median'])}x ({fmt(rng[0])}-{fmt(rng[1])}x)" if rng else "not found")
        notes.append(
            f"ART's DeepFool defect: `{d['file']}` line {d['line']}, `{d['text']}`, subtracts the "
            f"logit of the label's position in the top-{d['nb_grads']} set (a class id 0-"
            f"{d['nb_grads'] - 1}) instead of the label's own logit whenever nb_grads is below "
            f"the number of classes. Check on {len(d['checks'])} training photo{'s' if len(d['checks']) > 1 else ''}: ART's first "
            f"DeepFool step (max_iter=1, nb_grads={d['nb_grads']}) over the distance to the "
            f"decision boundary along it (searched on the torch model): {check}"
            + (f"; {zero} of them a zero step (that class is in the top-{d['nb_grads']} set: "
               "DeepFool stands still for its 100 iterations)" if zero else "") + ".")
    lines += [f"- {n}" for n in notes] + [""]
    return lines


def _remeasured(results: dict) -> list[str]:
    """A line naming the stages measured again later (``results["remeasured"]``: stage -> note)."""
    again = results.get("remeasured") or {}
    if not again:
        return []
    return ["Stages measured again later, each in one run (their figures below replace the run "
            "above's): " + "; ".join(f"**{stage}** {note}" for stage, note in again.items()) + ".", ""]


def markdown(results: dict) -> str:
    """The whole report: header, comparison tables, hot paths, foundation, goals."""
    m, task = results["machine"], results["task"]
    peers = results["peers"]
    load = ""
    if m.get("load_average") is not None:
        load = (f" Load average {m['load_average']:.1f} at the start and "
                f"{m.get('load_average_end') or 0:.1f} at the end (the 1-minute average on "
                f"{m['cores']} cores; it counts this run's own threads, so well above "
                f"{m['cores']} means other work competed for the CPU and times are noisy).")
    lines = ["# Benchmarks", "",
             "Reproduce: `pip install -r requirements-bench.txt`, then `pip install --no-deps "
             "torchattacks==3.5.1` (its declared dependencies would pull in torchvision and a "
             "CUDA torch), then `python -m bench --markdown docs/benchmarks.md` (the full "
             "table, about 10 minutes on a quiet 2-core machine, 30 under load) or "
             "`python -m bench --quick` (about two "
             "minutes); `--json` prints one object instead, `--skip app` leaves a stage "
             "out. A missing peer shows as 'not installed' and its ratios as null.", "",
             f"Measured {m['date']} on {m['cpu']}, {m['cores']} cores "
             f"({', '.join(m['jax_devices'])}), Python {m['python']}, jax {m['jax']}, "
             f"torch {m['torch']} ({m['torch_threads']} threads), ART {peers['art']}, "
             f"torchattacks {peers['torchattacks']}. Budget: **{results['budget']}** "
             f"(`python -m bench{'' if results['budget'] == 'full' else ' --' + results['budget']}`), "
             f"{results['seconds']:.0f} s in all." + load, "",
             *_remeasured(results),
             f"Machine limit: float32 matmul peak **{results['matmul_peak_gflops']:.1f} GFLOP/s** "
             f"(best run; " + ", ".join(f"{k}^2: {v['best_gflops']:.1f} best, "
                                        f"{v['median_gflops']:.1f} median"
                                        for k, v in results["matmul"].items()) + ").", "",
             f"Shared task: `{task['name']}` (three blobs and a wavy strip), {task['points']} "
             f"points of D, {task['model']} trained {task['steps']} steps (clean accuracy "
             f"{task['accuracy']:.3f}); the peers attack the same weights as a torch MLP. "
             "Times are medians after a warm-up (range and number of runs in brackets); "
             "each ratio is the median (and range) over pairs of runs timed in alternation; "
             "results are shares of the correctly classified points flipped; "
             "'/ exact' divides by the exact universal (universal rows) or pointwise "
             "(PGD rows) fraction.", "",
             "## Shared task: exact, universal and per-point attacks", ""]
    rows = []
    for name, r in results["settings"].items():
        rows += _setting_rows(name, r, peers)
    lines += table(["setting", "method", "time", "result", "/ exact", "ratio"], rows)

    df = results["deepfool"]
    rows = []
    for key, label in (("deepfool", "attacks.deepfool"), ("art_deepfool", f"ART DeepFool {peers['art']}")):
        entry = df[key]
        rows.append([label, timed(entry), "-" if entry.get("status") else f"{entry['fooling']:.3f}",
                     "-" if entry.get("status") else f"{entry['median_l2']:.4f}"])
    rows[0].append("-")
    rows[1].append(f"ours {fmt_range(df['speedup'])}x faster" if df["speedup"] else "-")
    lines += ["## DeepFool (l2, minimal perturbation of every point)", ""]
    lines += table(["method", "time", "flipped", "median l2 size", "ratio"], rows)

    peak = results["matmul_peak_gflops"]
    hot = results["hot_paths"]

    def paired(label, entry, time_text=None):
        return [label, time_text or timed(entry), f"{entry['gflops']:.1f}",
                f"{entry['paired_matmul_gflops']:.0f}",
                f"{entry['share_of_peak']:.0%} ({entry['share_range'][0]:.0%}-"
                f"{entry['share_range'][1]:.0%})"]

    g = hot["grid"]
    rows = [paired(f"grid evaluation, {g['res']}^2 points (toymodels.classify_grid)", g)]
    for name in results["settings"]:
        e = hot[f"exact {name}"]
        rows.append(paired(f"exact scan + fractions, {name} ({e['evaluations']:,} MLP "
                           f"evaluations)", e))
    img = results.get("imagenet")
    if img:
        fg = img["forward_gradient"]
        rows.append(paired(f"EfficientNet-Lite0 forward+input gradient, batch {img['batch']}, "
                           f"{img.get('depthwise', 'shift')} depthwise ({fg['images_per_s']:.1f} images/s)", fg))
    for name, r in results["settings"].items():
        t = r["torch_grid"]
        rows.append([f"(peer) brute-force torch lattice, {name} ({t['evaluations']:,} MLP "
                     f"evaluations)", fmt_time(t["median_s"]), f"{t['gflops']:.1f}",
                     f"{peak:.0f} (run's peak)", f"{t['gflops'] / peak:.0%}"])
    if img and img.get("universal_update"):
        uu = img["universal_update"]
        rows.append([f"attacks.universal_update, batch {img['batch']} "
                     f"({uu['images_per_s']:.2f} images/s: {uu['share_of_forward_gradient']:.1%} "
                     f"({uu['share_range'][0]:.1%}-{uu['share_range'][1]:.1%}) of "
                     f"forward+gradient, paired)", timed(uu), "-", "-", "-"])
    lines += [f"## The machine's limit and the hot paths (MLP: {task['mlp_flops_per_point']} "
              "FLOPs a point; EfficientNet: 2 x forward FLOPs)", ""]
    lines += table(["hot path", "time", "GFLOP/s", "matmul beside it, GFLOP/s",
                     "share of the matmul's rate (pairs)"], rows)

    lines += imagenet_art_lines(results.get("imagenet_vs_art"), peers["art"])

    cert = results.get("certified")
    if cert:
        rows = []
        for name, c in cert.items():
            ours = results["settings"].get(name, {})
            for key, label in (("universal", "universal optimum (branch-and-bound)"),
                               ("pointwise", "pointwise / robust"), ("random", "random")):
                e = c[key]
                rows.append([name, f"certified {label}", timed(e),
                             f"[{e['lo']:.4f}, {e['hi']:.4f}]", f"{e['width']:.4f}"])
            rows.append([name, "all four brackets", timed(c["all"]), "-", "-"])
            cv = c["curve"]
            rows.append([name, f"certified curve, {cv['radii']} radii", timed(cv), "-",
                         f"{max(cv['max_width'].values()):.4f} (widest)"])
            if ours:
                rows.append([name, "today's exact_at (resolution-limited, for comparison)",
                             timed(ours["exact"]), f"universal {ours['exact']['universal']:.4f}",
                             "-"])
                rows.append([name, "brute-force torch lattice (for comparison)",
                             timed(ours["torch_grid"]),
                             f"universal {ours['torch_grid']['universal']:.4f}", "-"])
        lines += ["## Certified brackets (categories.certified)", ""]
        lines += table(["setting", "what", "time", "bracket [lo, hi]", "width"], rows)

    rows = [[f"train preset `{name}` ({t['steps']} steps, warm)", timed(t)]
            for name, t in results["presets"].items()]
    rows.append([f"train `{task['name']}` once, cold (with compilation)",
                 fmt_time(task["cold_train_s"])])
    app = results.get("app")
    if app:
        if app.get("status") == "measured":
            rows += [[f"app: {k}", fmt_time(v) if k.endswith("_s") else fmt(v)]
                     for k, v in app.items() if k not in ("status", "note")]
        else:
            rows.append(["app timing", f"skipped: {app.get('note', '')}"])
    lines += ["## Foundation", ""] + table(["what", "time"], rows)

    rows = [[g.goal, g.setting or "-", fmt(g.value), g.target, g.status(), g.note]
            for g in goals(results)]
    lines += ["## Goals", ""] + table(["goal", "setting", "measured", "target", "status", "note"], rows)
    lines += ["## How the figures are made", ""] + [f"- {note}" for note in NOTES]
    return "\n".join(lines)


NOTES = (
    "Same work: the peers attack a torch `nn.Sequential` holding the Flax MLP's weights "
    "(kernels transposed; logits agree to 1e-5, `tests/test_bench.py`), on the same points, "
    "with the same budgets: PGD steps, step size `2.5 eps / steps` and one random start; "
    "DeepFool's overshoot 0.02, 10 candidate classes and iteration cap; the universal "
    "algorithm's passes (ART with `delta=0`, so that, like ours, it stops only when every "
    "point is fooled).",
    "torchattacks clamps its inputs to [0, 1]: its model is the MLP after a fixed affine map "
    "of the unit box onto [-2, 2]^2, and eps and the step are divided by 4, so the clamp "
    "never binds on these radii.",
    "Every result is scored by the project on the Flax model: the share of correctly "
    "classified points whose label the perturbation changes.",
    "The brute-force baseline evaluates the torch MLP at every point plus every delta of a "
    "square lattice over B_eps whose spacing is the exact search's final resolution; its "
    "best value checks the exact optimum from the other side.",
    "FLOP counts: 2 per multiply-add of the MLP's dense layers times the classifier "
    "evaluations (counted from categories.exact2d's grid sizes), and 2 x "
    "`imagenet.forward_flops` for a forward + input-gradient pass.",
    "On a loaded machine (see the load average above) torch's OpenMP threads lose more to "
    "contention than XLA's, which inflates the ratios against the torch-based peers: judge "
    "them on a quiet run.",
)
