"""The attacks package: its exports, its runnable docstring examples, its independence."""

import doctest
import importlib
import pathlib
import re

import pytest

import attacks
from test_attacks_tasks import strict_dtype_promotion  # noqa: F401

MODULES = ["attacks", "attacks.norms", "attacks.fooling", "attacks.fgsm", "attacks.pgd",
           "attacks.deepfool", "attacks.universal", "attacks.sgd_universal", "attacks.random"]


def test_attack_tests_run_under_strict_dtype_promotion():
    import jax
    assert jax.config.jax_numpy_dtype_promotion == "strict"


def test_the_interface_is_exported():
    for name in ["parse_norm", "lp_norm", "project", "sample_sphere", "fgsm", "pgd", "deepfool",
                 "universal_perturbation", "universal_update", "sgd_universal",
                 "sgd_universal_step", "random_perturbation", "fooling_rate"]:
        assert callable(getattr(attacks, name)), name
        assert name in attacks.__all__


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), raise_on_error=False)
    assert result.attempted > 0 and result.failed == 0


def test_attacks_imports_nothing_of_the_project():
    root = pathlib.Path(attacks.__file__).parent
    for path in root.glob("*.py"):
        imports = re.findall(r"^\s*(?:from|import)\s+(\w+)", path.read_text(), re.M)
        assert not set(imports) & {"toymodels", "categories", "imagenet", "app"}, path.name
