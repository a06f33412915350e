"""Boundary normals: sigma_2/sigma_1 of the stacked normals n = r/|r| against random unit vectors."""

from __future__ import annotations

from categories.cli import add_common_arguments, emit, tasks_of


def add_arguments(p) -> None:
    add_common_arguments(p)
    p.add_argument("--points", default="1000", help="sample size of D (default 1000)")
    p.add_argument("--method", default="exact", choices=("exact", "deepfool"),
                   help="minimal perturbations by the exact 2D scan or by DeepFool (default exact)")


def _f(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def format_table(results: dict) -> str:
    """One line per task: the two ratios, the alignment and the number of normals."""
    lines = [f"{'task':10s} {'sigma2/sigma1':>13s} {'random':>7s} {'align':>6s} {'normals':>7s}"
             f"   (within eps: ratio, normals)"]
    for name, r in results.items():
        w = r["within_eps"]
        near = "-" if w["sigma_ratio"] is None else f"{w['sigma_ratio']:.3f}"
        lines.append(f"{name:10s} {_f(r['sigma_ratio']):>13s} {_f(r['random_sigma_ratio']):>7s} "
                     f"{_f(r['alignment']):>6s} {r['count']:7d}   ({near}, {w['count']})")
    return "\n".join(lines)


def run(args) -> int:
    from categories.normals import normals_report
    from categories.cli import parsed_options

    norm, eps, seed, points = parsed_options(args)
    results = {}
    for t in tasks_of(args):
        r = normals_report(t, norm=norm, eps=eps, seed=seed, n_points=points, method=args.method)
        if not args.json:
            r.pop("angles", None)
        results[t.name] = r
    emit(results, args, format_table)
    return 0
