"""The goals of the ImageNet stage against ART: Algorithm 1 and ART's UniversalPerturbation
on the same photos, as rows of :class:`~bench.goal_rules.Rule` (a section of
:data:`bench.goals.SECTIONS`, kept here so each module stays short).

Everything here reads the ``imagenet_vs_art`` entry of a run
(:func:`bench.imagenet_art.measure_imagenet_art`); nothing is measured.
"""

from __future__ import annotations

from bench.formatting import fmt, fmt_time
from bench.goal_rules import Goal, Rule, Scope, at_least, evaluate, measured


def _seeds(r: dict) -> str:
    return f"{r['seeds']} seed{'s' if r['seeds'] > 1 else ''}, {r['images']} photos"


def _worst_pass_margin(s: Scope) -> float:
    ours, art = s.entry["history_mean"]["deepfool"], s.entry["history_mean"]["art"]
    return min(a - b for a, b in zip(ours, art))


def _per_pass_note(s: Scope) -> str:
    r = s.entry
    ours, art = r["history_mean"]["deepfool"], r["history_mean"]["art"]
    return (f"ours - ART, worst pass; per pass ({_seeds(r)}): ours "
            + ", ".join(f"{h:.3f}" for h in ours) + "; ART " + ", ".join(f"{h:.3f}" for h in art))


def _speed_note(s: Scope) -> str:
    r, t = s.entry, s.entry["time_to_target_s"]
    return (f"to a fooling rate of {r['target_rate']:.3f}: ART {fmt_time(t['art'])}, ours "
            f"{fmt_time(t['deepfool'])} (per seed "
            + ", ".join(fmt(x) for x in r["speedup_by_seed"]) + ")")


_ART_NAMES = (
    "ImageNet universal: Algorithm 1's training fooling rate >= ART's, every pass",
    ("ImageNet universal: Algorithm 1 vs ART UniversalPerturbation (speedup to the same "
     "fooling rate)"),
    "ImageNet universal: Algorithm 1's held-out fooling rate >= ART's")


def _art_unmeasured_rule(goal: str, target: str) -> Rule:
    """A goal against ART listed as not measured where ART did not run, so it is not lost."""
    return Rule(goal, lambda s: None, target, at_least(0.0),
                lambda s: f"ART {s.entry.get('status', 'not measured')}",
                lambda s: not measured(s))


ART_RULES = (
    Rule(_ART_NAMES[0], _worst_pass_margin, ">= 0", at_least(-1e-9), _per_pass_note,
         measured),
    Rule(_ART_NAMES[1], lambda s: s.entry["speedup"], ">= 10", at_least(10), _speed_note,
         measured),
    Rule(_ART_NAMES[2], lambda s: s.entry["heldout_fooling_rate"],
         lambda s: f">= {s.entry['art_heldout_fooling_rate']:.3f}",
         lambda x, s: x >= s.entry["art_heldout_fooling_rate"] - 1e-9,
         lambda s: (f"{s.entry['val']} held-out photos, {_seeds(s.entry)}; "
                    "the final v of each"), measured),
    *(_art_unmeasured_rule(goal, target)
      for goal, target in zip(_ART_NAMES, (">= 0", ">= 10", ">= ART's"))),
)


def imagenet_art_goals(r: dict | None) -> list[Goal]:
    """The goals of the ImageNet stage against ART (none if the stage was skipped).

    Per pass, Algorithm 1's training fooling rate at least ART's (seeds averaged; a run
    that stopped at the target keeps its last rate); at least 10 times faster to the
    same rate; a held-out rate at least ART's.

    Args:
      r: the run's ``imagenet_vs_art`` (:func:`bench.imagenet_art.measure_imagenet_art`).

    Returns:
      Three goals, not measured when ART is missing.
    """
    return evaluate(ART_RULES, Scope({}, "lite0, linf 10", r)) if r else []
