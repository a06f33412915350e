"""Certified robust fraction (IBP with input splitting) beside the exact and attack values."""

from __future__ import annotations

from categories.cli import add_common_arguments, emit, tasks_of


def add_arguments(p) -> None:
    add_common_arguments(p)
    p.add_argument("--points", default="1000", help="sample size of D (default 1000)")
    p.add_argument("--levels", default="6", help="rounds of splitting undecided boxes (default 6)")
    p.add_argument("--no-attack", action="store_true", help="skip the attack upper bound")


def format_table(results: dict) -> str:
    """certified <= exact <= attack, per task."""
    lines = [f"{'task':10s} {'certified':>9s} {'exact':>6s} {'attack':>6s} {'refuted':>7s} "
             f"{'undecided':>9s} {'boxes':>6s}"]
    for name, r in results.items():
        att = r.get("attack_robust")
        lines.append(f"{name:10s} {r['certified_robust']:9.3f} {r['exact_robust']:6.3f} "
                     f"{'-' if att is None else format(att, '.3f'):>6s} {r['refuted']:7.3f} "
                     f"{r['undecided']:9.3f} {r['mean_boxes']:6.1f}")
    any_r = next(iter(results.values()))
    lines.append(f"robust fractions, norm l{any_r['norm']}, certified <= exact <= attack")
    return "\n".join(lines)


def run(args) -> int:
    from categories.certify import certify_report
    from categories.cli import parsed_options

    norm, eps, seed, points = parsed_options(args)
    try:
        levels = int(args.levels)
        assert 0 <= levels <= 12
    except (ValueError, AssertionError):
        raise ValueError(f"--levels must be a whole number from 0 to 12, got {args.levels!r}") from None
    results = {t.name: certify_report(t, norm=norm, eps=eps, seed=seed, n_points=points,
                                      attack=not args.no_attack, max_levels=levels)
               for t in tasks_of(args)}
    emit(results, args, format_table)
    return 0
