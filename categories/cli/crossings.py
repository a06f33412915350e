"""Crossings: how many decision boundaries the segment from I to I + delta crosses (|delta| = eps)."""

from __future__ import annotations

from categories.cli import add_common_arguments, emit, tasks_of


def add_arguments(p) -> None:
    add_common_arguments(p)
    p.add_argument("--points", default="1000", help="sample size of D (default 1000)")


def format_table(results: dict) -> str:
    """Per task and kind of delta: mean and max crossings and the histogram."""
    lines = [f"{'task':10s} {'delta':10s} {'mean':>6s} {'max':>4s}  shares of 0, 1, 2, ... crossings"]
    for name, r in results.items():
        for kind in ("universal", "pointwise", "random"):
            c = r[kind]
            hist = " ".join(f"{v:.3f}" for v in c["histogram"])
            lines.append(f"{name:10s} {kind:10s} {c['mean']:6.3f} {c['max']:4d}  {hist}")
    return "\n".join(lines)


def run(args) -> int:
    from categories.crossings import crossings_report
    from categories.cli import parsed_options

    norm, eps, seed, points = parsed_options(args)
    results = {}
    for t in tasks_of(args):
        r = crossings_report(t, norm=norm, eps=eps, seed=seed, n_points=points)
        if not args.json:
            for kind in ("universal", "pointwise", "random"):
                r[kind].pop("counts")
        results[t.name] = r
    emit(results, args, format_table)
    return 0
