"""Retraining: fine-tune on random, PGD or universal perturbations of D; category before and after."""

from __future__ import annotations

from categories import check_tau
from categories.cli import (add_common_arguments, emit, flag_type, measure_each, name_width,
                            parsed_options, whole)


def add_arguments(p) -> None:
    add_common_arguments(p)
    p.add_argument("--method", default="pgd", choices=("random", "pgd", "universal"),
                   help="the perturbations trained on")
    p.add_argument("--tau", default="0.8", type=flag_type("tau", check_tau),
                   help="the 'almost all' share, in (0, 1]")
    p.add_argument("--rounds", default="3", type=whole("rounds", 1, 20),
                   help="perturbation recomputations, 1 to 20")
    p.add_argument("--steps", default="200", type=whole("steps", 1, 20000),
                   help="Adam steps per round, 1 to 20000")


def format_table(results: dict) -> str:
    """Before and after: the verdict and the four exact fractions."""
    keys = ("robust", "pointwise", "universal", "random")
    w = name_width(results)
    lines = [f"{'task':{w}s} {'':6s} {'verdict':>7s} {'acc':>6s}  " + "  ".join(f"{k:>9s}" for k in keys)]
    for name, r in results.items():
        for side in ("before", "after"):
            s = r[side]
            lines.append(f"{name if side == 'before' else '':{w}s} {side:6s} {str(s['verdict']):>7s} "
                         f"{s['clean_accuracy']:6.3f}  "
                         + "  ".join(f"{s['fractions'][k]:9.3f}" for k in keys))
    any_r = next(iter(results.values()))
    lines.append(f"retrained on {any_r['method']} perturbations, norm l{any_r['norm']}, "
                 f"tau {any_r['tau']}, seed {any_r['seed']}")
    lines += [why_unchanged(name, r) for name, r in results.items()
              if r["before"]["verdict"] == r["after"]["verdict"]]
    return "\n".join(lines)


def why_unchanged(name: str, r: dict) -> str:
    """One sentence on why retraining left the category of ``name`` where it was."""
    eps, share = r["eps"], r["classes_within_2eps"]
    if share >= 0.5:
        return (f"{name}: the category stays {r['after']['verdict']}: {share:.0%} of D has a point "
                f"of another class within 2 eps = {2 * eps:g}, so any classifier right on both "
                f"puts a boundary within eps of one of them; no retraining makes this D robust "
                f"at eps {eps:g}.")
    moved = max(abs(r["after"]["fractions"][k] - r["before"]["fractions"][k])
                for k in r["before"]["fractions"])
    return (f"{name}: the category stays {r['after']['verdict']}: the fractions moved by at most "
            f"{moved:.3f}; try more --rounds or --steps, or another --method.")


def run(args) -> None:
    from categories import retrain_report

    norm, eps, seed, points = parsed_options(args)
    results = measure_each(args, lambda t, progress: retrain_report(
        t, method=args.method, norm=norm, eps=eps, seed=seed, n_points=points, tau=args.tau,
        rounds=args.rounds, steps=args.steps, progress=progress))
    emit(results, args, format_table)
