"""The benchmark's goals: each figure the issues ask for, judged met or missed on one run.

Everything here reads the object :func:`bench.run.run_benchmark` returns; nothing is
measured. The goals are data: each section of the run (the toy settings, the certified
brackets, the presets, ...) has a table of :class:`~bench.goal_rules.Rule` rows, read at
every entry of its section by :func:`goals`, so a goal is added or changed in one row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from bench.formatting import fmt, fmt_range, fmt_time, passes, restarts
from bench.goal_rules import (Goal, Rule, Scope, at_least, at_most, below, evaluate, measured,
                              median, points, ratio, timing_note)
from bench.imagenet_art_goals import ART_RULES, imagenet_art_goals

__all__ = ["Goal", "goals", "imagenet_art_goals"]


# --- the toy settings: one entry per setting of results["settings"]

def _art_missing(s: Scope) -> str:
    return "ART not installed" if s.entry["art_uap"].get("status") else ""


def _art_speedup_goal(s: Scope) -> str:
    work = ("same work: one order, same passes"
            if s.entry["uap_at_art_passes"].get("restarts") == 1 else "same passes")
    return f"universal algorithm vs ART UniversalPerturbation (speedup, {work})"


def _art_speedup_note(s: Scope) -> str:
    """The pairs' spread and each side's time per pass: what the speedup is made of."""
    r = s.entry
    k = r["uap_at_art_passes"]["passes"]
    if _art_missing(s):
        return _art_missing(s)
    ours, art = r["uap_at_art_passes"], r["art_uap"]
    how = ""
    if ours.get("batch_size"):
        how = (f" ({restarts(ours)}{-(-points(s) // ours['batch_size'])}"
               f" sequential mini-batch updates of {ours['batch_size']} points, each "
               f"followed by the fooling rate of all points to keep the best v)")
    return (f"{passes(k)} each, pairs {fmt_range(r['ratio_ranges']['uap_vs_art_speedup'])}; "
            f"per pass: ours {fmt_time(ours['median_s'] / k)}{how}, ART "
            f"{fmt_time(art['median_s'] / k)} (DeepFool point by point in Python)")


def _time_to_rate_note(s: Scope) -> str:
    """Both times to ART's final rate, and where the ratio misses, what bounds it."""
    t = s.entry["time_to_art_rate"]
    if t.get("status") or t["art"].get("status"):
        return f"ART {(t if t.get('status') else t['art'])['status']}"
    art, uap = t["art"], t["uap"]
    text = (f"to ART's fooling rate after {passes(art['of_passes'])}, {t['rate']:.3f}: ART "
            f"{fmt_time(art['median_s'])} (end of its pass {art['passes']}, from its "
            f"{art['runs']} timed runs), ours ")
    if uap.get("status"):
        return text + uap["status"]
    text += (f"{fmt_time(uap['median_s'])} at {passes(uap['passes'])}, 1 restart (medians, "
             "not paired)")
    if t["speedup"] < 1000:
        b = s.entry["uap_at_art_passes"].get("batch_size", 16)
        text += (f"; ours stops at the first update that reaches it (mini-batches of {b} "
                 f"points, each followed by the fooling rate of all {points(s)}), so ART's "
                 f"{passes(art['passes'])} against those updates bound the ratio")
    return text


def _uap_exact_rule(key: str, label: str) -> Rule:
    """The rule "the universal algorithm reaches the exact optimum" for one of its runs.

    Args:
      key: the run's entry in the setting (``uap``, ``uap_single``).
      label: how the goal names the run.

    Returns:
      A rule that applies where the setting has the run.
    """
    def note(s: Scope) -> str:
        u, v = s.entry[key], s.entry["ratios"].get(f"{key}_over_exact")
        text = (f"{restarts(u)}{passes(u['passes'])}, fooling {u['fooling']:.3f} of exact "
                f"{s.entry['exact']['universal']:.3f}")
        if v is not None and v < 0.95:
            text += ("; Algorithm 1 follows DeepFool directions of single points, which can "
                     "stall short of the best shared delta")
        return text

    return Rule(f"universal algorithm reaches the exact optimum ({label})",
                lambda s: s.entry["ratios"].get(f"{key}_over_exact"), ">= 0.95",
                at_least(0.95), note, lambda s: key in s.entry)


def _ours_over_exact(s: Scope) -> float | None:
    return s.entry["ratios"]["uap_over_exact"]


def _grid_note(s: Scope) -> str:
    g = s.entry["torch_grid"]
    note = (f"pairs {fmt_range(s.entry['ratio_ranges']['exact_vs_torch_grid_speedup'])}; "
            f"{g['deltas']} deltas x {points(s)} points at spacing {g['spacing']:.2g}")
    if g["timed_fraction"] < 1:
        note += f"; brute force timed on 1/{round(1 / g['timed_fraction'])} of it, scaled"
    return note


def _torchattacks_note(s: Scope) -> str:
    r = s.entry
    if r["torchattacks_pgd"].get("status"):
        return "torchattacks not installed"
    return (f"pairs {fmt_range(r['ratio_ranges']['pgd_vs_torchattacks_time_ratio'])}; "
            f"{r['pgd']['steps']} steps, 1 random start, cross-entropy")


def _pgd_restarts_note(s: Scope) -> str:
    r, p = s.entry, s.entry["pgd_restarts"]
    note = (f"PGD {p['steps']} steps x {p['restarts']} starts, margin loss: "
            f"{p['fooling']:.3f} of exact {r['exact']['pointwise']:.3f}; at 1 start "
            f"(cross-entropy) {r['pgd']['fooling']:.3f}")
    v = r["ratios"]["pgd_restarts_over_exact_pointwise"]
    if v is not None and v < 0.99:
        note += "; PGD ascends to local maxima of the loss that do not cross the boundary"
    return note


SETTING_RULES = (
    Rule(_art_speedup_goal, ratio("uap_vs_art_speedup"), ">= 100", at_least(100),
         _art_speedup_note),
    Rule("universal algorithm vs ART UniversalPerturbation (speedup to ART's final fooling "
         "rate, each its own passes)", ratio("uap_vs_art_time_to_rate_speedup"), ">= 1000",
         at_least(1000), _time_to_rate_note, lambda s: "time_to_art_rate" in s.entry),
    _uap_exact_rule("uap", "default"),
    _uap_exact_rule("uap_single", "1 restart, as timed against ART"),
    Rule("ART UniversalPerturbation stays below the project's", ratio("art_uap_over_exact"),
         lambda s: (f"< {_ours_over_exact(s):.3f}" if _ours_over_exact(s) is not None
                    else "< project's"),
         lambda x, s: None if _ours_over_exact(s) is None else x < _ours_over_exact(s),
         lambda s: _art_missing(s) or passes(s.entry["art_uap"]["passes"])),
    Rule("exact optimum vs brute-force torch grid (speedup)",
         ratio("exact_vs_torch_grid_speedup"), ">= 20", at_least(20), _grid_note),
    Rule(lambda s: f"exact profile + fractions of {points(s)} points, warm", median("exact"),
         "< 1 s", below(1.0), lambda s: timing_note(s.entry["exact"], s.results["budget"])),
    Rule(lambda s: f"universal algorithm on {points(s)} points, warm", median("uap"),
         "< 2 s", below(2.0), lambda s: timing_note(s.entry["uap"], s.results["budget"])),
    Rule("per-point PGD time / torchattacks PGD time (same budget)",
         ratio("pgd_vs_torchattacks_time_ratio"), "<= 1", at_most(1.0), _torchattacks_note),
    Rule("per-point PGD reaches the exact per-point ceiling",
         ratio("pgd_restarts_over_exact_pointwise"), ">= 0.99", at_least(0.99),
         _pgd_restarts_note),
)


# --- the certified brackets: one entry per setting of results["certified"]

def _certified_note(s: Scope) -> str:
    u, ours = s.entry["universal"], s.results["settings"].get(s.setting, {})
    against = ""
    if ours:
        against = (f"; exact_at {fmt_time(ours['exact']['median_s'])}, torch lattice "
                   f"{fmt_time(ours['torch_grid']['median_s'])}")
    return f"[{u['lo']:.4f}, {u['hi']:.4f}], {u['boxes']} (box, point) pairs bounded" + against


def _bracket_rule(key: str, label: str) -> Rule:
    """The rule "a certified bracket is timed under 2 s" for one of the brackets.

    Args:
      key: the bracket's entry (``pointwise``, ``random``).
      label: how the goal names it.

    Returns:
      The rule, its note the bracket and its width.
    """
    def note(s: Scope) -> str:
        e = s.entry[key]
        return (f"[{e['lo']:.4f}, {e['hi']:.4f}], width {e['width']:.4f} (target "
                + ("1/n)" if key == "pointwise" else "0.005)"))

    return Rule(f"certified {label}, warm", median(key), "< 2 s", below(2.0), note)


CERTIFIED_RULES = (
    Rule(lambda s: f"certified universal optimum of {points(s)} points, warm",
         median("universal"), "< 2 s", below(2.0), _certified_note),
    Rule("certified universal exact to the point (hi - lo <= 1/n)",
         lambda s: s.entry["universal"]["width"], lambda s: f"<= {1 / points(s):.4g}",
         lambda x, s: x <= 1 / points(s) + 1e-12),
    _bracket_rule("pointwise", "pointwise/robust bracket"),
    _bracket_rule("random", "random bracket"),
    Rule(lambda s: f"certified curve over {s.entry['curve']['radii']} radii (all four "
                   "brackets), warm", median("curve"), "< 20 s", below(20.0),
         lambda s: "widest brackets: " + ", ".join(
             f"{k} {v:.4f}" for k, v in s.entry["curve"]["max_width"].items())),
)

PRESET_RULES = (
    Rule("preset training, warm", median(), "<= 3 s", at_most(3.0),
         lambda s: f"{s.entry['steps']} steps; " + timing_note(s.entry, s.results["budget"])),
)


def _timeline_note(s: Scope) -> str:
    tl, r = s.entry, s.entry["ratio"]
    return (f"{tl['snapshots']} snapshots with their frames, {tl['steps']} steps; pairs "
            f"{fmt(r['min'])}-{fmt(r['max'])}; plain {fmt_time(tl['plain']['median_s'])}, "
            f"timeline {fmt_time(tl['timeline']['median_s'])}")


TIMELINE_RULES = (
    Rule("training with the timeline's snapshots, time over plain training",
         lambda s: s.entry["ratio"]["median"], "<= 1.5", at_most(1.5), _timeline_note),
)


# --- ImageNet: the forward+gradient pass, then the whole universal runs

def _forward_gradient_note(s: Scope) -> str:
    img, fg = s.entry, s.entry["forward_gradient"]
    return (f"pairs {fmt(fg['share_range'][0])}-{fmt(fg['share_range'][1])} "
            f"(each pass against a {fg['paired_matmul_gflops']:.0f} GFLOP/s matmul run next to "
            f"it); {fg['images_per_s']:.1f} images/s, {fg['gflops']:.1f} GFLOP/s, "
            f"batch {img['batch']}, depthwise {img.get('depthwise', 'shift')}")


IMAGENET_RULES = (
    Rule("EfficientNet-Lite0 forward+gradient, share of matmul peak",
         lambda s: s.entry["forward_gradient"]["share_of_peak"], ">= 0.30", at_least(0.30),
         _forward_gradient_note),
    Rule("universal algorithm run, share of forward+gradient images/s", lambda s: None,
         ">= 0.60 (sgd), >= 0.15 (Algorithm 1)", at_least(0.0),
         lambda s: (f"not run in the {s.results['budget']} budget (compiling the DeepFool "
                    f"step alone takes ~30 s)"),
         lambda s: not s.entry.get("runs")),
)


def _run_share_goal(s: Scope) -> float:
    """The share of the forward+gradient rate a run should keep: sgd makes one pass an
    image; Algorithm 1 several an unfooled one (DeepFool's linearisations)."""
    return 0.60 if s.key == "sgd" else 0.15


def _run_note(s: Scope) -> str:
    r = s.entry
    hist = ", ".join(f"{h:.2f}" for h in r["fooling_rate_history"])
    note = (f"{r['images_per_s']:.2f} images/s over a whole run ({r['images']} "
            f"bundled photos, {len(r['fooling_rate_history'])} of at most "
            f"{r['passes']} passes, linf 10; fooling rate after each pass {hist})")
    if s.key == "deepfool":
        note += ("; an image not yet fooled needs DeepFool (the runner's 5 candidate "
                 "classes: 1 forward + 4 input gradients a linearisation); the push keeps "
                 "images fooled and only the unfooled pay, so most of a run's images cost "
                 "one forward pass")
    return note


RUN_RULES = (
    Rule(lambda s: ("universal algorithm run (sgd, Shafahi et al.), share of forward+gradient "
                    "images/s" if s.key == "sgd" else "universal algorithm run (deepfool, "
                    "Algorithm 1), share of forward+gradient images/s"),
         lambda s: s.entry["share_of_forward_gradient"],
         lambda s: f">= {_run_share_goal(s):.2f}", lambda x, s: x >= _run_share_goal(s),
         _run_note),
)


# --- the app, timed in a browser

def _app_rule(key: str, goal: str, limit: float) -> Rule:
    """A timing of the app under a limit in seconds (``key`` its figure in the run)."""
    return Rule(goal, lambda s: s.entry.get(key), f"< {limit:g} s", below(limit),
                lambda s: s.entry.get("note", ""), measured)


APP_RULES = (
    Rule("app cold start", lambda s: None, "< 15 s", below(15.0),
         lambda s: s.entry.get("note", "skipped"), lambda s: not measured(s)),
    _app_rule("cold_start_s", "app cold start", 15.0),
    _app_rule("eps_change_s", "app eps change", 0.5),
    _app_rule("probe_click_s", "app click on the plane to probe", 0.5),
    _app_rule("delta_click_s", "app click on the delta pad", 0.5),
    _app_rule("timeline_frame_s", "app timeline frame to frame", 0.2),
)


# --- where each table reads: a function of the run yielding one Scope per entry

def _settings(results: dict) -> Iterator[Scope]:
    for name, r in results["settings"].items():
        yield Scope(results, name, r)


def _certified(results: dict) -> Iterator[Scope]:
    for name, c in (results.get("certified") or {}).items():
        yield Scope(results, name, c)


def _presets(results: dict) -> Iterator[Scope]:
    for name, t in results["presets"].items():
        yield Scope(results, name, t)


def _optional(key: str, setting=lambda entry: None) -> Callable[[dict], Iterator[Scope]]:
    """The scopes of a stage that may be skipped: its one entry, or none.

    Args:
      key: the stage's entry in the run.
      setting: the Goal's setting column, from the entry.

    Returns:
      A function of the run yielding at most one Scope.
    """
    def scopes(results: dict) -> Iterator[Scope]:
        entry = results.get(key)
        if entry:
            yield Scope(results, setting(entry), entry)
    return scopes


def _imagenet_runs(results: dict) -> Iterator[Scope]:
    """One scope per method of the ImageNet universal runs (the rule reads the method)."""
    img = results.get("imagenet")
    for method, r in ((img.get("runs") or {}) if img else {}).items():
        yield Scope(results, None, r, method)


SECTIONS = (
    (_settings, SETTING_RULES),
    (_certified, CERTIFIED_RULES),
    (_presets, PRESET_RULES),
    (_optional("timeline", lambda tl: tl["preset"]), TIMELINE_RULES),
    (_optional("imagenet"), IMAGENET_RULES),
    (_imagenet_runs, RUN_RULES),
    (_optional("imagenet_vs_art", lambda r: "lite0, linf 10"), ART_RULES),
    (_optional("app"), APP_RULES),
)


def goals(results: dict) -> list[Goal]:
    """Every goal of the benchmark issue and of the benchmark lines of the other issues.

    Args:
      results: a run (:func:`bench.run.run_benchmark`), or one read back from its JSON.

    Returns:
      The goals, section by section in the order of :data:`SECTIONS`.
    """
    return [goal for scopes, rules in SECTIONS for s in scopes(results)
            for goal in evaluate(rules, s)]
