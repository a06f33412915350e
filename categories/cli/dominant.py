"""Dominant labels: the classes the exact universal perturbation sends the fooled points to."""

from __future__ import annotations

from categories.cli import add_common_arguments, emit, measure_each, name_width, parsed_options


def add_arguments(p) -> None:
    add_common_arguments(p)


def format_table(results: dict) -> str:
    """Per task: the universal fraction, the dominant class and the counts per class."""
    w = name_width(results)
    lines = [f"{'task':{w}s} {'universal':>9s} {'fooled':>6s} {'dominant':>8s} {'share':>6s}  counts"]
    for name, r in results.items():
        dom = "-" if r["dominant"] is None else str(r["dominant"])
        lines.append(f"{name:{w}s} {r['universal']:9.3f} {r['fooled']:6d} {dom:>8s} "
                     f"{r['dominant_share']:6.3f}  {r['counts']}")
    return "\n".join(lines)


def run(args) -> None:
    from categories import dominant_report

    norm, eps, seed, points = parsed_options(args)
    results = measure_each(args, lambda t, progress: dominant_report(
        t, norm=norm, eps=eps, seed=seed, n_points=points, progress=progress))
    emit(results, args, format_table)
