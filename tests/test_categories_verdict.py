import re

import numpy as np
import pytest

from categories.verdict import FORMULAS, FRACTION_OF, check_tau, verdict
from categories import NAMES, Rung, ladder, verdict_changes


def _f(robust, pointwise, universal, random):
    return {"robust": robust, "pointwise": pointwise, "universal": universal, "random": random}


@pytest.mark.parametrize("fractions, tau, expected", [
    (_f(0.95, 0.05, 0.0, 0.0), 0.8, 1),
    (_f(0.05, 0.95, 0.4, 0.3), 0.8, 2),
    (_f(0.0, 1.0, 0.9, 0.4), 0.8, 3),
    (_f(0.0, 1.0, 1.0, 0.95), 0.8, 4),
    (_f(0.5, 0.5, 0.3, 0.1), 0.8, "1-2"),
    (_f(0.5, 0.5, 0.3, 0.1), 0.5, 2),       # ties count: pointwise >= tau
    (_f(0.0, 1.0, 0.9, 0.4), 0.95, 2),      # a stricter tau moves the verdict down
    (_f(0.0, 1.0, 0.8, 0.8), 0.8, 4),
])
def test_verdict_ladder(fractions, tau, expected):
    assert verdict(fractions, tau) == expected


def test_verdict_reads_attributes_too():
    class F:
        robust, pointwise, universal, random = 0.0, 1.0, 0.85, 0.1
    assert verdict(F(), 0.8) == 3


@pytest.mark.parametrize("tau", [0, -0.1, 1.01, "abc", float("nan")])
def test_bad_tau(tau):
    with pytest.raises(ValueError, match="tau must be"):
        check_tau(tau)


def _evaluate(formula: str, flips: np.ndarray) -> bool:
    """Evaluates one of :data:`FORMULAS` on a finite world: ``flips[i, d]`` says whether
    delta number d changes f at point i. The quantifier prefix is read from the LaTeX in
    its order; the body ``=`` means "not flipped", ``\\neq`` "flipped"."""
    prefix, body = formula.split(":\\ ")
    quantifiers = re.findall(r"\\(forall|exists) (I|\\delta)", prefix)
    assert len(quantifiers) == 2 and {v for _, v in quantifiers} == {"I", "\\delta"}
    if "\\neq" in body:
        holds = flips
    elif "=" in body:
        holds = ~flips
    else:
        raise AssertionError(f"no relation in {body!r}")
    (outer, outer_var), (inner, _) = quantifiers
    over_inner = holds.all(axis=1 if outer_var == "I" else 0) if inner == "forall" else \
        holds.any(axis=1 if outer_var == "I" else 0)
    return bool(over_inner.all() if outer == "forall" else over_inner.any())


def _fractions(flips: np.ndarray) -> dict:
    """The four fractions of a finite world with every delta in the ball (and on the sphere)."""
    pointwise = flips.any(1).mean()
    return {"robust": 1 - pointwise, "pointwise": pointwise,
            "universal": flips.mean(0).max(), "random": flips.mean()}


@pytest.mark.parametrize("seed", range(40))
def test_each_formula_holds_exactly_when_its_fraction_is_one(seed):
    # the LaTeX shown to users, read as logic, agrees with the fraction that measures it:
    # a formula with its quantifiers swapped or its relation flipped fails here
    rng = np.random.default_rng(seed)
    n, m = rng.integers(1, 5, size=2) + 1
    flips = rng.random((n, m)) < rng.choice([0.1, 0.5, 0.9, 1.0])
    if seed % 5 == 0:
        flips[:, rng.integers(m)] = True      # a universal delta
    if seed % 7 == 0:
        flips[:] = False
    if seed % 3 == 1:                        # each point its own delta: pointwise, maybe not universal
        flips[:] = False
        flips[np.arange(n), rng.integers(m, size=n)] = True
    fractions = _fractions(flips)
    for category, formula in FORMULAS.items():
        assert _evaluate(formula, flips) == (fractions[FRACTION_OF[category]] == 1), category
    assert _evaluate(FORMULAS[3], flips) <= _evaluate(FORMULAS[2], flips)  # exists-forall => forall-exists


def test_formula_3_and_2_differ_on_a_world_without_a_universal_delta():
    flips = np.eye(3, dtype=bool)   # each point has its own delta, no delta flips them all
    assert _evaluate(FORMULAS[2], flips) and not _evaluate(FORMULAS[3], flips)


def test_ladder_reads_each_rung_against_tau():
    rungs, v = ladder({"robust": 0.1, "pointwise": 0.9, "universal": 0.85, "random": 0.2}, 0.8)
    assert v == 3 and [r.category for r in rungs] == [1, 2, 3, 4]
    assert [r.holds for r in rungs] == [False, True, True, False]
    assert rungs[2] == Rung(3, NAMES[3], "universal", 0.85, True)
    assert ladder({"robust": 0.8, "pointwise": 0.2, "universal": 0.1, "random": 0.0},
                  0.8)[0][0].holds                        # ties hold: robust >= tau
    with pytest.raises(ValueError, match="tau must be"):
        ladder({"robust": 1.0, "pointwise": 0.0, "universal": 0.0, "random": 0.0}, 0)


def test_verdict_changes_along_eps():
    radii = np.array([0.1, 0.2, 0.3, 0.4])
    curves = {"robust": np.array([0.9, 0.5, 0.1, 0.0]),
              "pointwise": np.array([0.1, 0.5, 0.9, 1.0]),
              "universal": np.array([0.0, 0.2, 0.5, 0.9]),
              "random": np.array([0.0, 0.0, 0.1, 0.2])}
    assert verdict_changes(radii, curves, 0.8) == [(0.2, 1, "1-2"), (0.3, "1-2", 2),
                                                   (0.4, 2, 3)]
    assert verdict_changes(radii, curves, 0.05) == [(0.2, 2, 3), (0.3, 3, 4)]
    assert verdict_changes(radii[:1], {k: c[:1] for k, c in curves.items()}, 0.8) == []
