import pytest

from categories.verdict import FORMULAS, check_tau, verdict


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


def test_formulas_differ_only_in_quantifiers():
    assert FORMULAS[1].count(r"\forall") == 2 and "=" in FORMULAS[1]
    assert FORMULAS[2].startswith(r"\forall I") and r"\exists \delta" in FORMULAS[2]
    assert FORMULAS[3].startswith(r"\exists \delta") and r"\forall I" in FORMULAS[3]
    assert FORMULAS[4].count(r"\forall") == 2 and r"\neq" in FORMULAS[4]
