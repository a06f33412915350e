"""The benchmark's goals (met or missed, and why) and its Markdown table.

Everything here reads the object :func:`bench.run.run_benchmark` returns; nothing is
measured. The same text is printed by ``python -m bench`` and written to
``docs/benchmarks.md`` by ``python -m bench --markdown docs/benchmarks.md``.
"""

from __future__ import annotations

import math
from typing import NamedTuple


class Goal(NamedTuple):
    """One goal of the issues, judged on one run."""

    goal: str
    setting: str | None
    value: float | None
    target: str
    met: bool | None       # None: not measured (peer missing, stage skipped)
    note: str

    def status(self) -> str:
        return {True: "met", False: "**MISSED**", None: "not measured"}[self.met]


def _judge(value, ok) -> bool | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return bool(ok(value))


def _timing_note(entry: dict, budget: str) -> str:
    spread = f"runs {fmt_time(entry['min_s'])}-{fmt_time(entry['max_s'])}"
    return f"{spread}; {budget} run" if budget != "full" else spread


def goals(results: dict) -> list[Goal]:
    """Every goal of the benchmark issue and of the benchmark lines of the other issues."""
    budget = results["budget"]
    out: list[Goal] = []
    add = lambda *a: out.append(Goal(*a))
    for name, r in results["settings"].items():
        ratio = r["ratios"]
        art_missing = "ART not installed" if r["art_uap"].get("status") else ""
        v = ratio["uap_vs_art_speedup"]
        k = r["uap_at_art_passes"]["passes"]
        rng = r["ratio_ranges"]
        note = art_missing
        if not art_missing:
            ours, art = r["uap_at_art_passes"], r["art_uap"]
            how = ""
            if ours.get("batch_size"):
                how = (f" ({_restarts(ours)}{-(-results['task']['points'] // ours['batch_size'])}"
                       f" sequential mini-batch updates of {ours['batch_size']} points, each "
                       f"followed by the fooling rate of all points to keep the best v)")
            note = (f"{passes(k)} each, pairs {_range(rng['uap_vs_art_speedup'])}; per pass: "
                    f"ours {fmt_time(ours['median_s'] / k)}{how}, ART "
                    f"{fmt_time(art['median_s'] / k)} (DeepFool point by point in Python)")
        work = ("same work: one order, same passes"
                if r["uap_at_art_passes"].get("restarts") == 1 else "same passes")
        add(f"universal algorithm vs ART UniversalPerturbation (speedup, {work})", name, v,
            ">= 100", _judge(v, lambda x: x >= 100), note)
        for key, label in (("uap", "default"), ("uap_single", "1 restart, as timed against ART")):
            if key not in r:
                continue
            u = r[key]
            v = ratio.get(f"{key}_over_exact")
            note = (f"{_restarts(u)}{passes(u['passes'])}, fooling {u['fooling']:.3f} of exact "
                    f"{r['exact']['universal']:.3f}")
            if v is not None and v < 0.95:
                note += ("; Algorithm 1 follows DeepFool directions of single points, which can "
                         "stall short of the best shared delta")
            add(f"universal algorithm reaches the exact optimum ({label})", name, v, ">= 0.95",
                _judge(v, lambda x: x >= 0.95), note)
        v = ratio["art_uap_over_exact"]
        ours = ratio["uap_over_exact"]
        add("ART UniversalPerturbation stays below the project's", name, v,
            f"< {ours:.3f}" if ours is not None else "< project's",
            None if ours is None else _judge(v, lambda x: x < ours),
            art_missing or passes(r["art_uap"]["passes"]))
        v = ratio["exact_vs_torch_grid_speedup"]
        g = r["torch_grid"]
        note = (f"pairs {_range(rng['exact_vs_torch_grid_speedup'])}; {g['deltas']} deltas x "
                f"{results['task']['points']} points at spacing {g['spacing']:.2g}")
        if g["timed_fraction"] < 1:
            note += f"; brute force timed on 1/{round(1 / g['timed_fraction'])} of it, scaled"
        add("exact optimum vs brute-force torch grid (speedup)", name, v, ">= 20",
            _judge(v, lambda x: x >= 20), note)
        e = r["exact"]
        n = results["task"]["points"]
        add(f"exact profile + fractions of {n} points, warm", name, e["median_s"], "< 1 s",
            _judge(e["median_s"], lambda x: x < 1.0), _timing_note(e, budget))
        u = r["uap"]
        add(f"universal algorithm on {n} points, warm", name, u["median_s"], "< 2 s",
            _judge(u["median_s"], lambda x: x < 2.0), _timing_note(u, budget))
        v = ratio["pgd_vs_torchattacks_time_ratio"]
        add("per-point PGD time / torchattacks PGD time (same budget)", name, v, "<= 1",
            _judge(v, lambda x: x <= 1.0),
            "torchattacks not installed" if r["torchattacks_pgd"].get("status")
            else f"pairs {_range(rng['pgd_vs_torchattacks_time_ratio'])}; {r['pgd']['steps']} "
                 f"steps, 1 random start, cross-entropy")
        v = ratio["pgd_restarts_over_exact_pointwise"]
        p = r["pgd_restarts"]
        note = (f"PGD {p['steps']} steps x {p['restarts']} starts, margin loss: "
                f"{p['fooling']:.3f} of exact {e['pointwise']:.3f}; at 1 start (cross-entropy) "
                f"{r['pgd']['fooling']:.3f}")
        if v is not None and v < 0.99:
            note += "; PGD ascends to local maxima of the loss that do not cross the boundary"
        add("per-point PGD reaches the exact per-point ceiling", name, v, ">= 0.99",
            _judge(v, lambda x: x >= 0.99), note)
    for name, t in results["presets"].items():
        add("preset training, warm", name, t["median_s"], "<= 3 s",
            _judge(t["median_s"], lambda x: x <= 3.0),
            f"{t['steps']} steps; " + _timing_note(t, budget))
    img = results.get("imagenet")
    if img:
        fg = img["forward_gradient"]
        add("EfficientNet-Lite0 forward+gradient, share of matmul peak", None,
            fg["share_of_peak"], ">= 0.30", _judge(fg["share_of_peak"], lambda x: x >= 0.30),
            f"pairs {_fmt(fg['share_range'][0])}-{_fmt(fg['share_range'][1])} "
            f"(each pass against a {fg['paired_matmul_gflops']:.0f} GFLOP/s matmul run next to "
            f"it); {fg['images_per_s']:.1f} images/s, {fg['gflops']:.1f} GFLOP/s, "
            f"batch {img['batch']}, depthwise {img.get('depthwise', 'shift')}")
        runs = img.get("runs")
        if runs:
            for method, r in runs.items():
                v = r["share_of_forward_gradient"]
                hist = ", ".join(f"{h:.2f}" for h in r["fooling_rate_history"])
                note = (f"{r['images_per_s']:.2f} images/s over a whole run ({r['images']} "
                        f"bundled photos, {len(r['fooling_rate_history'])} of at most "
                        f"{r['passes']} passes, linf 10; fooling rate after each pass {hist})")
                if method == "deepfool" and v < 0.60:
                    uu = img.get("universal_update") or {}
                    cost = uu.get("gradient_passes_per_image")
                    note += ("; an image not yet fooled needs DeepFool: each linearisation is "
                             "1 forward + 9 input gradients (top_k=10), about 5 forward+gradient "
                             "passes, and it takes ~3 of them"
                             + (f" (one step on unfooled images: {cost:.0f} passes an image)"
                                if cost else "")
                             + "; 60% needs <= 1.7 passes an image, so only passes where most "
                               "images are already fooled can come near it")
                name = ("universal algorithm run (sgd, Shafahi et al.), share of forward+gradient "
                        "images/s" if method == "sgd" else "universal algorithm run (deepfool, "
                        "Algorithm 1), share of forward+gradient images/s")
                add(name, None, v, ">= 0.60", _judge(v, lambda x: x >= 0.60), note)
        else:
            add("universal algorithm run, share of forward+gradient images/s", None, None,
                ">= 0.60", None, f"not run in the {budget} budget (compiling the DeepFool "
                                  f"step alone takes ~30 s)")
    app = results.get("app")
    if app:
        if app.get("status") != "measured":
            add("app cold start", None, None, "< 15 s", None, app.get("note", "skipped"))
        else:
            for key, label, limit in (("cold_start_s", "app cold start", 15.0),
                                      ("eps_change_s", "app eps change", 0.5)):
                v = app.get(key)
                add(label, None, v, f"< {limit:g} s", _judge(v, lambda x: x < limit),
                    app.get("note", ""))
    return out


# ---------------------------------------------------------------------------- formatting

def fmt_time(s: float | None) -> str:
    """Seconds in a readable unit."""
    if s is None:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.0f} us"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


def _restarts(entry: dict) -> str:
    """``"4 restarts in parallel, "`` (empty when the run did not record it)."""
    k = entry.get("restarts")
    if not k:
        return ""
    return "1 restart, " if k == 1 else f"{k} restarts in parallel, "


def passes(k: int) -> str:
    """``"1 pass"``, ``"10 passes"``."""
    return f"{k} pass" if k == 1 else f"{k} passes"


def _fmt(v, digits=3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if abs(v) >= 100:
            return f"{v:.0f}"
        return f"{v:.{digits}g}"
    return str(v)


def _timed(entry: dict) -> str:
    if entry.get("status"):
        return entry["status"]
    return (f"{fmt_time(entry['median_s'])} ({fmt_time(entry['min_s'])}-"
            f"{fmt_time(entry['max_s'])}, {entry['runs']} runs)")


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines + [""]


def _range(rng: dict | None) -> str:
    """``"x (lo-hi)"`` of a ratio's median and range over the pairs."""
    if not rng:
        return "-"
    return f"{_fmt(rng['median'])} ({_fmt(rng['min'])}-{_fmt(rng['max'])})"


def _setting_rows(name: str, r: dict, peers: dict) -> list[list]:
    e, ratio, rng = r["exact"], r["ratios"], r["ratio_ranges"]
    grid = r["torch_grid"]
    scaled = "" if grid["timed_fraction"] >= 1 else \
        f", timed on 1/{round(1 / grid['timed_fraction'])}, scaled"

    def fool(entry, ref):
        if entry.get("status"):
            return "-", "-"
        return f"{entry['fooling']:.3f}", f"{entry['fooling'] / ref:.3f}" if ref > 0 else "-"

    rows = [[name, "exact optimum (categories.exact2d)", _timed(e),
             f"universal {e['universal']:.3f}, pointwise {e['pointwise']:.3f}", "1", "-"],
            [name, f"brute-force lattice, torch ({grid['deltas']} deltas, spacing "
                   f"{grid['spacing']:.2g}{scaled})", _timed(grid),
             f"universal {grid['universal']:.3f}",
             f"{grid['universal'] / e['universal']:.3f}" if e["universal"] > 0 else "-",
             f"exact {_range(rng.get('exact_vs_torch_grid_speedup'))}x faster"]]
    shown = []
    for key in ("uap", "uap_single", "uap_at_art_passes"):
        entry = r.get(key)
        if entry is None or any(entry["passes"] == e["passes"] and entry.get("restarts") ==
                                e.get("restarts") for e in shown):
            continue
        shown.append(entry)
        label = _restarts(entry).replace(" in parallel", "") + passes(entry["passes"])
        if key == "uap" and entry.get("restarts"):
            label = "default: " + label
        rows.append([name, f"attacks.universal_perturbation ({label})", _timed(entry),
                     *fool(entry, e["universal"]), "-"])
    art = r["art_uap"]
    rows.append([name, f"ART UniversalPerturbation {peers['art']}"
                       + ("" if art.get("status") else f" ({passes(art['passes'])})"),
                 _timed(art), *fool(art, e["universal"]),
                 f"ours {_range(rng['uap_vs_art_speedup'])}x faster"
                 if "uap_vs_art_speedup" in rng else "-"])
    p = r["pgd"]
    budget = f"{p['steps']} steps, 1 start, CE"
    rows.append([name, f"attacks.pgd ({budget})", _timed(p), *fool(p, e["pointwise"]), "-"])
    for key, label, rkey in (("torchattacks_pgd", f"torchattacks PGD {peers['torchattacks']}",
                              "pgd_vs_torchattacks_time_ratio"),
                             ("art_pgd", f"ART ProjectedGradientDescent {peers['art']}",
                              "pgd_vs_art_time_ratio")):
        entry = r[key]
        rows.append([name, label + ("" if entry.get("status") else f" ({budget})"),
                     _timed(entry), *fool(entry, e["pointwise"]),
                     f"ours takes {_range(rng[rkey])}x its time" if rkey in rng else "-"])
    q = r["pgd_restarts"]
    rows.append([name, f"attacks.pgd ({q['steps']} steps, {q['restarts']} starts, margin)",
                 _timed(q), *fool(q, e["pointwise"]), "-"])
    return rows


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
    lines += _table(["setting", "method", "time", "result", "/ exact", "ratio"], rows)

    df = results["deepfool"]
    rows = []
    for key, label in (("deepfool", "attacks.deepfool"), ("art_deepfool", f"ART DeepFool {peers['art']}")):
        entry = df[key]
        rows.append([label, _timed(entry), "-" if entry.get("status") else f"{entry['fooling']:.3f}",
                     "-" if entry.get("status") else f"{entry['median_l2']:.4f}"])
    rows[0].append("-")
    rows[1].append(f"ours {_range(df['speedup'])}x faster" if df["speedup"] else "-")
    lines += ["## DeepFool (l2, minimal perturbation of every point)", ""]
    lines += _table(["method", "time", "flipped", "median l2 size", "ratio"], rows)

    peak = results["matmul_peak_gflops"]
    hot = results["hot_paths"]

    def paired(label, entry, time_text=None):
        return [label, time_text or _timed(entry), f"{entry['gflops']:.1f}",
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
                     f"forward+gradient, paired)", _timed(uu), "-", "-", "-"])
    lines += [f"## The machine's limit and the hot paths (MLP: {task['mlp_flops_per_point']} "
              "FLOPs a point; EfficientNet: 2 x forward FLOPs)", ""]
    lines += _table(["hot path", "time", "GFLOP/s", "matmul beside it, GFLOP/s",
                     "share of the matmul's rate (pairs)"], rows)

    rows = [[f"train preset `{name}` ({t['steps']} steps, warm)", _timed(t)]
            for name, t in results["presets"].items()]
    rows.append([f"train `{task['name']}` once, cold (with compilation)",
                 fmt_time(task["cold_train_s"])])
    app = results.get("app")
    if app:
        if app.get("status") == "measured":
            rows += [[f"app: {k}", fmt_time(v) if k.endswith("_s") else _fmt(v)]
                     for k, v in app.items() if k not in ("status", "note")]
        else:
            rows.append(["app timing", f"skipped: {app.get('note', '')}"])
    lines += ["## Foundation", ""] + _table(["what", "time"], rows)

    rows = [[g.goal, g.setting or "-", _fmt(g.value), g.target, g.status(), g.note]
            for g in goals(results)]
    lines += ["## Goals", ""] + _table(["goal", "setting", "measured", "target", "status", "note"], rows)
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
    "`imagenet.models.forward_flops` for a forward + input-gradient pass.",
    "On a loaded machine (see the load average above) torch's OpenMP threads lose more to "
    "contention than XLA's, which inflates the ratios against the torch-based peers: judge "
    "them on a quiet run.",
)
