"""The benchmark's Markdown table, with its goals (met or missed, and why).

Everything here reads the object :func:`bench.run.run_benchmark` returns; nothing is
measured. The same text is printed by ``python -m bench`` and written to
``docs/benchmarks.md`` by ``python -m bench --markdown docs/benchmarks.md``.
"""

from __future__ import annotations

from bench.formatting import fmt, fmt_range, fmt_time, passes, restarts, table, timed
from bench.goals import goals
from bench.imagenet_art_report import imagenet_art_lines

__all__ = ["goals", "imagenet_art_lines", "markdown"]


def _setting_rows(name: str, r: dict, peers: dict) -> list[list]:
    e, rng = r["exact"], r["ratio_ranges"]
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
    rows += _time_to_rate_rows(name, r)
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


def _time_to_rate_rows(name: str, r: dict) -> list[list]:
    """Each side's time to ART's final fooling rate (none where ART did not run, or in a
    saved run from before the figure existed)."""
    t = r.get("time_to_art_rate")
    if not t or t.get("status") or t["art"].get("status"):
        return []
    art, uap, ref = t["art"], t["uap"], r["exact"]["universal"]
    share = lambda v: f"{v / ref:.3f}" if ref > 0 else "-"
    rows = [[name, f"ART UniversalPerturbation to its final rate (end of pass {art['passes']} "
                   f"of {art['of_passes']})", timed(art), f"{t['rate']:.3f}", share(t["rate"]),
             "-"]]
    if uap.get("status"):
        return rows + [[name, "attacks.universal_perturbation to ART's final rate (1 restart)",
                        uap["status"], "-", "-", "-"]]
    return rows + [[name, "attacks.universal_perturbation to ART's final rate (1 restart, "
                          f"{passes(uap['passes'])})", timed(uap), f"{uap['fooling']:.3f}",
                    share(uap["fooling"]), f"ours {fmt(t['speedup'])}x faster (medians)"]]


def _remeasured(results: dict) -> list[str]:
    """A line naming the stages measured again later (``results["remeasured"]``: stage -> note)."""
    again = results.get("remeasured") or {}
    if not again:
        return []
    return ["Stages measured again later, each in one run (their figures below replace the run "
            "above's): " + "; ".join(f"**{stage}** {note}" for stage, note in again.items()) + ".", ""]


def _load_note(m: dict) -> str:
    """The load average around the run, so a reader can tell a noisy run from a quiet one."""
    if m.get("load_average") is None:
        return ""
    return (f" Load average {m['load_average']:.1f} at the start and "
            f"{m.get('load_average_end') or 0:.1f} at the end (the 1-minute average on "
            f"{m['cores']} cores; it counts this run's own threads, so well above "
            f"{m['cores']} means other work competed for the CPU and times are noisy).")


def _header_lines(results: dict) -> list[str]:
    """The title, how to reproduce the run, and the machine and versions it ran on."""
    m, peers = results["machine"], results["peers"]
    return ["# Benchmarks", "",
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
            f"{results['seconds']:.0f} s in all." + _load_note(m), ""]


def _shared_task_lines(results: dict) -> list[str]:
    """The machine's matmul peak, the shared toy task, and the table of its settings."""
    task = results["task"]
    lines = [f"Machine limit: float32 matmul peak **{results['matmul_peak_gflops']:.1f} GFLOP/s** "
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
        rows += _setting_rows(name, r, results["peers"])
    return lines + table(["setting", "method", "time", "result", "/ exact", "ratio"], rows)


def _deepfool_lines(results: dict) -> list[str]:
    """DeepFool against ART's on the same points: time, points flipped, median size."""
    df, peers = results["deepfool"], results["peers"]
    rows = []
    for key, label in (("deepfool", "attacks.deepfool"), ("art_deepfool", f"ART DeepFool {peers['art']}")):
        entry = df[key]
        rows.append([label, timed(entry), "-" if entry.get("status") else f"{entry['fooling']:.3f}",
                     "-" if entry.get("status") else f"{entry['median_l2']:.4f}"])
    rows[0].append("-")
    rows[1].append(f"ours {fmt_range(df['speedup'])}x faster" if df["speedup"] else "-")
    lines = ["## DeepFool (l2, minimal perturbation of every point)", ""]
    return lines + table(["method", "time", "flipped", "median l2 size", "ratio"], rows)


def _paired(label: str, entry: dict, time_text: str | None = None) -> list:
    """A hot path's row, its rate judged against the matmul run beside it (not the peak)."""
    return [label, time_text or timed(entry), f"{entry['gflops']:.1f}",
            f"{entry['paired_matmul_gflops']:.0f}",
            f"{entry['share_of_peak']:.0%} ({entry['share_range'][0]:.0%}-"
            f"{entry['share_range'][1]:.0%})"]


def _hot_path_rows(results: dict) -> list[list]:
    """The hot paths: grid, exact scans, EfficientNet's pass, the torch lattice, the update.

    Args:
      results: the run.

    Returns:
      Table rows in that order; the ImageNet rows only where that stage ran.
    """
    peak, hot = results["matmul_peak_gflops"], results["hot_paths"]
    g = hot["grid"]
    rows = [_paired(f"grid evaluation, {g['res']}^2 points (toymodels.classify_grid)", g)]
    for name in results["settings"]:
        e = hot[f"exact {name}"]
        rows.append(_paired(f"exact scan + fractions, {name} ({e['evaluations']:,} MLP "
                            f"evaluations)", e))
    img = results.get("imagenet")
    if img:
        fg = img["forward_gradient"]
        rows.append(_paired(f"EfficientNet-Lite0 forward+input gradient, batch {img['batch']}, "
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
    return rows


def _hot_path_lines(results: dict) -> list[str]:
    """The section on the machine's limit and the hot paths' share of it."""
    lines = [f"## The machine's limit and the hot paths (MLP: "
             f"{results['task']['mlp_flops_per_point']} "
             "FLOPs a point; EfficientNet: 2 x forward FLOPs)", ""]
    return lines + table(["hot path", "time", "GFLOP/s", "matmul beside it, GFLOP/s",
                          "share of the matmul's rate (pairs)"], _hot_path_rows(results))


def _art_lines(results: dict) -> list[str]:
    """The ImageNet-against-ART section of a whole run."""
    return imagenet_art_lines(results.get("imagenet_vs_art"), results["peers"]["art"])


# the certified brackets each setting has, in the table's order
CERTIFIED_BRACKETS = (("universal", "universal optimum (branch-and-bound)"),
                      ("pointwise", "pointwise / robust"), ("random", "random"))


def _certified_rows(name: str, c: dict, ours: dict) -> list[list]:
    """One setting's certified brackets, then today's exact and lattice values beside them.

    Args:
      name: the setting.
      c: its entry of ``results["certified"]``.
      ours: its entry of ``results["settings"]`` (empty: no comparison rows).

    Returns:
      Table rows.
    """
    rows = []
    for key, label in CERTIFIED_BRACKETS:
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
    return rows


def _certified_lines(results: dict) -> list[str]:
    """The certified brackets' section (none where the stage was skipped)."""
    cert = results.get("certified")
    if not cert:
        return []
    rows = []
    for name, c in cert.items():
        rows += _certified_rows(name, c, results["settings"].get(name, {}))
    lines = ["## Certified brackets (categories.certified)", ""]
    return lines + table(["setting", "what", "time", "bracket [lo, hi]", "width"], rows)


def _foundation_lines(results: dict) -> list[str]:
    """Training the presets, the shared task's cold training, and the app's timings."""
    task = results["task"]
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
    return ["## Foundation", ""] + table(["what", "time"], rows)


def _goal_lines(results: dict) -> list[str]:
    """The goals table (:func:`bench.goals.goals`), each met, missed or not measured."""
    rows = [[g.goal, g.setting or "-", fmt(g.value), g.target, g.status(), g.note]
            for g in goals(results)]
    return ["## Goals", ""] + table(["goal", "setting", "measured", "target", "status", "note"], rows)


def _how_lines(results: dict) -> list[str]:
    """How the figures are made (:data:`NOTES`), the same for every run."""
    return ["## How the figures are made", ""] + [f"- {note}" for note in NOTES]


# the report's sections in order, each a function of the run giving its Markdown lines
SECTIONS = (_header_lines, _remeasured, _shared_task_lines, _deepfool_lines, _hot_path_lines,
            _art_lines, _certified_lines, _foundation_lines, _goal_lines, _how_lines)


def markdown(results: dict) -> str:
    """The whole report: header, comparison tables, hot paths, foundation, goals.

    Args:
      results: a run (:func:`bench.run.run_benchmark`), or one read back from its JSON.

    Returns:
      The Markdown text, its sections in the order of :data:`SECTIONS`.
    """
    return "\n".join(line for section in SECTIONS for line in section(results))


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
    "Time to ART's final fooling rate: ART's is the end of the first of its passes whose "
    "perturbation reaches it, read inside its timed runs (median over them); ours is "
    "`universal_perturbation` with one restart at the fewest passes (1, 2, ...) reaching that "
    "rate, each budget a run of its own, timed warm (median of its repeats); the ratio is of "
    "the two medians, not paired.",
    "On a loaded machine (see the load average above) torch's OpenMP threads lose more to "
    "contention than XLA's, which inflates the ratios against the torch-based peers: judge "
    "them on a quiet run.",
)
