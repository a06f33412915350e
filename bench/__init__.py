"""Benchmarks: the project's speed against peer libraries and the machine's limit.

The entry point is the command line, ``python -m bench`` (:mod:`bench.__main__`), which
runs :func:`bench.run.run_benchmark` and prints its table. This package's import stays
light (no JAX): the command line sets the allocator up before JAX starts, so the
measuring modules are imported by it, not here. What is public from here is how a
saved run is read: its goals and its Markdown table.

Example:
    >>> from bench import fmt_time
    >>> fmt_time(0.0042), fmt_time(3.5)
    ('4.2 ms', '3.5 s')
"""

from bench.formatting import fmt_time
from bench.goals import Goal, goals
from bench.report import markdown

__all__ = ["Goal", "fmt_time", "goals", "markdown"]
