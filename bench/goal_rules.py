"""The benchmark's goals as data: a goal is a :class:`Rule`, read at one entry of a run.

:mod:`bench.goals` holds the tables; here are the records and the one function that
judges a table at an entry, so a goal is added or changed by a row, not by code.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

from bench.formatting import fmt_time


class Goal(NamedTuple):
    """One goal of the issues, judged on one run."""

    goal: str
    setting: str | None
    value: float | None
    target: str
    met: bool | None       # None: not measured (peer missing, stage skipped)
    note: str

    def status(self) -> str:
        return {True: "met", False: "**MISSED**", None: "not measured"}[self.met]


class Scope(NamedTuple):
    """What a rule reads: the whole run, one entry of a section and the entry's name."""

    results: dict
    setting: str | None     # the Goal's setting column
    entry: dict
    key: str | None = None  # the method of an ImageNet run


class Rule(NamedTuple):
    """One goal as a row of data; each text field is a string or a function of the Scope.

    ``ok(value, scope)`` is the verdict on a measured value (None: not judged);
    ``applies(scope)`` says whether the goal belongs to the entry at all.
    """

    goal: str | Callable[[Scope], str]
    value: Callable[[Scope], float | None]
    target: str | Callable[[Scope], str]
    ok: Callable[[float, Scope], bool | None]
    note: str | Callable[[Scope], str] = ""
    applies: Callable[[Scope], bool] = lambda s: True


def judge(value, ok) -> bool | None:
    """A verdict that is None where nothing was measured, so a missing peer is not a miss.

    Args:
      value: the measured figure (None or NaN: not measured).
      ok: the test of a measured figure; it may itself return None (no reference to judge by).

    Returns:
      True or False on a measured figure, else None.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    verdict = ok(value)
    return None if verdict is None else bool(verdict)


def text(field, s: Scope) -> str:
    """A rule's text field: fixed, or formatted from the entry it reads."""
    return field(s) if callable(field) else field


def evaluate(rules: tuple[Rule, ...], s: Scope) -> list[Goal]:
    """The goals of one entry: each rule that applies, its value judged.

    Args:
      rules: a section's table.
      s: the entry the rules read.

    Returns:
      One Goal per applying rule, in the table's order.
    """
    return [_goal(rule, s) for rule in rules if rule.applies(s)]


def _goal(rule: Rule, s: Scope) -> Goal:
    """One rule read at one entry (a function, so the verdict's lambda binds no loop variable)."""
    value = rule.value(s)
    return Goal(text(rule.goal, s), s.setting, value, text(rule.target, s),
                judge(value, lambda x: rule.ok(x, s)), text(rule.note, s))


def at_least(limit):
    """The ``ok`` of a goal "value >= limit"."""
    return lambda x, s: x >= limit


def below(limit):
    """The ``ok`` of a goal "value < limit"."""
    return lambda x, s: x < limit


def at_most(limit):
    """The ``ok`` of a goal "value <= limit"."""
    return lambda x, s: x <= limit


def timing_note(entry: dict, budget: str) -> str:
    """The spread of a timed entry's runs, and the budget where it is not the full one."""
    spread = f"runs {fmt_time(entry['min_s'])}-{fmt_time(entry['max_s'])}"
    return f"{spread}; {budget} run" if budget != "full" else spread


def measured(s: Scope) -> bool:
    """Whether a stage ran (ART and the app are optional: a skipped stage says why instead)."""
    return s.entry.get("status") == "measured"


def points(s: Scope) -> int:
    """How many points the toy task has (goal names and notes quote it)."""
    return s.results["task"]["points"]


def ratio(key: str) -> Callable[[Scope], float | None]:
    """The ``value`` of a goal judged on one of a setting's ratios."""
    return lambda s: s.entry["ratios"][key]


def median(key: str | None = None) -> Callable[[Scope], float]:
    """The ``value`` of a timing goal: the median of the entry (or of its ``key``)."""
    return lambda s: (s.entry[key] if key else s.entry)["median_s"]
