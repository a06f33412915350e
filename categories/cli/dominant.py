"""Dominant labels: the classes the exact universal perturbation sends the fooled points to."""

from __future__ import annotations

from categories.cli import add_common_arguments, emit, tasks_of


def add_arguments(p) -> None:
    add_common_arguments(p)
    p.add_argument("--points", default="1000", help="sample size of D (default 1000)")


def format_table(results: dict) -> str:
    """Per task: the universal fraction, the dominant class and the counts per class."""
    lines = [f"{'task':10s} {'universal':>9s} {'fooled':>6s} {'dominant':>8s} {'share':>6s}  counts"]
    for name, r in results.items():
        dom = "-" if r["dominant"] is None else str(r["dominant"])
        lines.append(f"{name:10s} {r['universal']:9.3f} {r['fooled']:6d} {dom:>8s} "
                     f"{r['dominant_share']:6.3f}  {r['counts']}")
    return "\n".join(lines)


def run(args) -> int:
    from categories.dominant import dominant_report
    from categories.cli import parsed_options

    norm, eps, seed, points = parsed_options(args)
    results = {t.name: dominant_report(t, norm=norm, eps=eps, seed=seed, n_points=points)
               for t in tasks_of(args)}
    emit(results, args, format_table)
    return 0
