"""Crossings: how many decision boundaries the segment from I to I + delta crosses (|delta| = eps)."""

from __future__ import annotations

from categories.cli import add_common_arguments, emit, measure_each, name_width, parsed_options

KINDS = ("universal", "pointwise", "random")


def add_arguments(p) -> None:
    add_common_arguments(p)


def format_table(results: dict) -> str:
    """Per task and kind of delta: mean and max crossings and the histogram."""
    w = name_width(results)
    lines = [f"{'task':{w}s} {'delta':10s} {'mean':>6s} {'max':>4s}  shares of 0, 1, 2, ... crossings"]
    for name, r in results.items():
        for kind in KINDS:
            c = r[kind]
            hist = " ".join(f"{v:.3f}" for v in c["histogram"])
            lines.append(f"{name:{w}s} {kind:10s} {c['mean']:6.3f} {c['max']:4d}  {hist}")
    return "\n".join(lines)


def run(args) -> None:
    from categories import crossings_report

    norm, eps, seed, points = parsed_options(args)

    def measure(t, progress):
        r = crossings_report(t, norm=norm, eps=eps, seed=seed, n_points=points, progress=progress)
        if not args.json:
            for kind in KINDS:
                r[kind].pop("counts")
        return r

    emit(measure_each(args, measure), args, format_table)
