"""Boundary normals: sigma_2/sigma_1 of the stacked normals n = r/|r| against random unit vectors."""

from __future__ import annotations

from categories.cli import add_common_arguments, emit, measure_each, name_width, parsed_options


def add_arguments(p) -> None:
    add_common_arguments(p)
    p.add_argument("--method", default="exact", choices=("exact", "deepfool"),
                   help="minimal perturbations by the exact 2D scan or by DeepFool")


def _f(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def format_table(results: dict) -> str:
    """One line per task: the two ratios, the alignment and the number of normals."""
    w = name_width(results)
    lines = [f"{'task':{w}s} {'sigma2/sigma1':>13s} {'random':>7s} {'align':>6s} {'normals':>7s}"
             f"   (within eps: ratio, normals)"]
    for name, r in results.items():
        near = r["within_eps"]
        ratio = "-" if near["sigma_ratio"] is None else f"{near['sigma_ratio']:.3f}"
        lines.append(f"{name:{w}s} {_f(r['sigma_ratio']):>13s} {_f(r['random_sigma_ratio']):>7s} "
                     f"{_f(r['alignment']):>6s} {r['count']:7d}   ({ratio}, {near['count']})")
    return "\n".join(lines)


def run(args) -> None:
    from categories import normals_report

    norm, eps, seed, points = parsed_options(args)

    def measure(t, progress):
        r = normals_report(t, norm=norm, eps=eps, seed=seed, n_points=points, method=args.method,
                           progress=progress)
        if not args.json:
            r.pop("angles", None)
        return r

    emit(measure_each(args, measure), args, format_table)
