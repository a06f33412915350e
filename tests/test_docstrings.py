"""Every docstring example of the project runs and prints what it says (a reader copies
them first). The attacks package's are run by test_attacks_package, under strict dtype
promotion; the whole benchmark runs of ``bench.run``, ``bench.gpu`` and
``bench.imagenet_bench`` are run by the benchmark tests."""

import doctest
import os
import importlib
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("store", "toymodels", "categories", "drawing", "imagenet", "bench", "app_pages")
ELSEWHERE = {"bench.run", "bench.gpu", "bench.imagenet_bench"}


def _modules_with_examples() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            name = name.removesuffix(".__init__")
            if name.endswith("__main__") or name in ELSEWHERE:
                continue
            if ">>>" in path.read_text(encoding="utf-8"):
                found.append(name)
    return found


MODULES = _modules_with_examples()
# modules whose only examples are marked +SKIP (a trained model or real photos: minutes)
SKIPPED_ONLY = {"toymodels.setting", "categories.certify", "categories.report",
                "categories.retrain", "categories.transfer", "imagenet.fractions",
                "bench.certified_bench", "bench.imagenet_art"}


def test_the_modules_with_examples_are_found():
    # the list is read from the files: a module gaining an example is tested at once
    assert {"store.cli", "store.modelspec", "toymodels.presets", "categories.bounds",
            "drawing.frames", "imagenet.registry", "imagenet.classifier", "imagenet.fractions",
            "bench.gpu_report"} <= set(MODULES)
    assert len(MODULES) > 50


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module):
    if module == "imagenet.depthwise_native":
        from imagenet.depthwise_native import available, unavailable_reason

        if not available():
            pytest.skip(f"native kernel: {unavailable_reason()}")
    # an example may set an environment variable (store.cache's sets ROBUSTNESS_CACHE):
    # restored after it, or every later test of the worker writes to the example's folder
    before = dict(os.environ)
    try:
        result = doctest.testmod(importlib.import_module(module), raise_on_error=False)
    finally:
        os.environ.clear()
        os.environ.update(before)
    assert result.failed == 0 and (result.attempted > 0 or module in SKIPPED_ONLY)


def test_an_example_that_sets_the_cache_folder_leaves_the_tests_own():
    """The store.cache example points ROBUSTNESS_CACHE at /tmp/rg-cache; after it, the
    tests still write to their session's own temporary folder."""
    own = os.environ["ROBUSTNESS_CACHE"]
    test_docstring_examples_run("store.cache")
    assert os.environ["ROBUSTNESS_CACHE"] == own != "/tmp/rg-cache"
