"""Small formatters of the benchmark's figures (times, ranges, passes, Markdown tables)."""

from __future__ import annotations


def fmt_time(s: float | None) -> str:
    """Seconds in a readable unit."""
    if s is None:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.0f} us"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


def restarts(entry: dict) -> str:
    """``"4 restarts in parallel, "`` (empty when the run did not record it)."""
    k = entry.get("restarts")
    if not k:
        return ""
    return "1 restart, " if k == 1 else f"{k} restarts in parallel, "


def passes(k: int) -> str:
    """``"1 pass"``, ``"10 passes"``."""
    return f"{k} pass" if k == 1 else f"{k} passes"


def fmt(v, digits=3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if abs(v) >= 100:
            return f"{v:.0f}"
        return f"{v:.{digits}g}"
    return str(v)


def timed(entry: dict) -> str:
    if entry.get("status"):
        return entry["status"]
    return (f"{fmt_time(entry['median_s'])} ({fmt_time(entry['min_s'])}-"
            f"{fmt_time(entry['max_s'])}, {entry['runs']} runs)")


def table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines + [""]


def fmt_range(rng: dict | None) -> str:
    """``"x (lo-hi)"`` of a ratio's median and range over the pairs."""
    if not rng:
        return "-"
    return f"{fmt(rng['median'])} ({fmt(rng['min'])}-{fmt(rng['max'])})"
