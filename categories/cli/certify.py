"""Certified robust fraction (bound propagation with input splitting) beside the exact and
attack values."""

from __future__ import annotations

from categories.cli import add_common_arguments, emit, measure_each, name_width, parsed_options, whole


def add_arguments(p) -> None:
    add_common_arguments(p)
    p.add_argument("--levels", default="14", type=whole("levels", 0, 20),
                   help="rounds of splitting a point's undecided boxes in four, 0 to 20")
    p.add_argument("--no-attack", action="store_true", help="skip the attack upper bound")


def format_table(results: dict) -> str:
    """certified <= exact <= attack, per task."""
    w = name_width(results)
    lines = [f"{'task':{w}s} {'certified':>9s} {'exact':>6s} {'attack':>6s} {'refuted':>7s} "
             f"{'undecided':>9s} {'boxes':>6s}"]
    for name, r in results.items():
        att = r.get("attack_robust")
        lines.append(f"{name:{w}s} {r['certified_robust']:9.3f} {r['exact_robust']:6.3f} "
                     f"{'-' if att is None else format(att, '.3f'):>6s} {r['refuted']:7.3f} "
                     f"{r['undecided']:9.3f} {r['mean_boxes']:6.1f}")
    any_r = next(iter(results.values()))
    lines.append(f"robust fractions, norm l{any_r['norm']}, certified <= exact <= attack")
    return "\n".join(lines)


def run(args) -> None:
    from categories import certify_report

    norm, eps, seed, points = parsed_options(args)
    results = measure_each(args, lambda t, progress: certify_report(
        t, norm=norm, eps=eps, seed=seed, n_points=points, attack=not args.no_attack,
        max_levels=args.levels, progress=progress))
    emit(results, args, format_table)
