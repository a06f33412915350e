"""Retraining: fine-tune on random, PGD or universal perturbations of D; category before and after."""

from __future__ import annotations

from categories.cli import add_common_arguments, emit, tasks_of


def add_arguments(p) -> None:
    add_common_arguments(p)
    p.add_argument("--points", default="1000", help="sample size of D (default 1000)")
    p.add_argument("--method", default="pgd", choices=("random", "pgd", "universal"),
                   help="the perturbations trained on (default pgd)")
    p.add_argument("--tau", default="0.8", help="the 'almost all' share in (0, 1] (default 0.8)")
    p.add_argument("--rounds", default="3", help="perturbation recomputations (default 3)")
    p.add_argument("--steps", default="200", help="Adam steps per round (default 200)")


def format_table(results: dict) -> str:
    """Before and after: the verdict and the four exact fractions."""
    keys = ("robust", "pointwise", "universal", "random")
    lines = [f"{'task':10s} {'':6s} {'verdict':>7s} {'acc':>6s}  " + "  ".join(f"{k:>9s}" for k in keys)]
    for name, r in results.items():
        for side in ("before", "after"):
            s = r[side]
            lines.append(f"{name if side == 'before' else '':10s} {side:6s} {str(s['verdict']):>7s} "
                         f"{s['clean_accuracy']:6.3f}  "
                         + "  ".join(f"{s['fractions'][k]:9.3f}" for k in keys))
    any_r = next(iter(results.values()))
    lines.append(f"retrained on {any_r['method']} perturbations, norm l{any_r['norm']}, "
                 f"tau {any_r['tau']}, seed {any_r['seed']}")
    return "\n".join(lines)


def _whole(value, name, lo, hi) -> int:
    try:
        v = int(value)
        assert lo <= v <= hi
    except (ValueError, AssertionError):
        raise ValueError(f"--{name} must be a whole number from {lo} to {hi}, got {value!r}") from None
    return v


def run(args) -> int:
    from categories.retrain import retrain_report
    from categories.cli import parsed_options
    from categories.verdict import check_tau

    norm, eps, seed, points = parsed_options(args)
    tau = check_tau(args.tau)
    rounds = _whole(args.rounds, "rounds", 1, 20)
    steps = _whole(args.steps, "steps", 1, 20000)
    results = {t.name: retrain_report(t, method=args.method, norm=norm, eps=eps, seed=seed,
                                      n_points=points, tau=tau, rounds=rounds, steps=steps)
               for t in tasks_of(args)}
    emit(results, args, format_table)
    return 0
