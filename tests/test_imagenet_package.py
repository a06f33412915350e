"""The imagenet package's shape: one-way imports without cycles, a named public surface, small modules."""

import ast
import graphlib
import subprocess
import sys
from pathlib import Path

import pytest

import imagenet

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "imagenet"
MODULES = {f"imagenet.{p.stem}": p for p in sorted(PACKAGE.glob("*.py")) if p.stem != "__init__"}
# the project packages imagenet may import (DESIGN.md, "Layout"), each only through its __init__
BELOW = {"attacks", "categories", "drawing", "store"}
PROJECT = BELOW | {"toymodels", "bench", "app_pages", "app", "imagenet"}


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every import statement in the file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def sibling_graph() -> dict[str, set[str]]:
    """imagenet module -> the imagenet modules it imports."""
    graph = {}
    for name, path in MODULES.items():
        targets = set()
        for module, names in imports(path):
            if module == "imagenet":
                targets |= {f"imagenet.{n}" for n in names}
            elif module.startswith("imagenet."):
                targets.add(module)
        graph[name] = targets
    return graph


def test_imports_between_imagenet_modules_have_no_cycle():
    graph = sibling_graph()
    for name, targets in graph.items():
        assert targets <= set(MODULES), (name, targets - set(MODULES))  # siblings by module, not lazy exports
    order = list(graphlib.TopologicalSorter(graph).static_order())  # raises CycleError on a cycle
    assert set(order) == set(MODULES)
    assert not graph["imagenet.depthwise_native"] & {"imagenet.models", "imagenet.network", "imagenet.depthwise"}


def test_other_packages_are_imported_through_their_init_only():
    for name, path in MODULES.items():
        for module, _ in imports(path):
            top = module.split(".")[0]
            if top in PROJECT and top != "imagenet":
                assert module in BELOW, f"{name} imports {module}"


def test_modules_are_small_and_check_input_without_assert():
    for path in [PACKAGE / "__init__.py", *MODULES.values()]:
        assert len(path.read_text().splitlines()) <= 400, path.name
        assert not any(isinstance(node, ast.Assert) for node in ast.walk(ast.parse(path.read_text()))), path.name


def test_public_surface_resolves_and_importing_the_package_is_light():
    for name in imagenet.__all__:
        assert getattr(imagenet, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        imagenet.nothing_here  # noqa: B018
    code = "import sys, imagenet; print(sorted(m for m in ('jax', 'numpy', 'flax') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr


def test_other_packages_import_imagenet_only_through_its_init():
    users = [ROOT / "bench" / f for f in ("imagenet_bench.py", "bench_models.py", "profile_imagenet.py", "__main__.py")]
    for path in users:
        for module, _ in imports(path):
            assert not module.startswith("imagenet."), f"{path.name} imports {module}"
