"""The layout of DESIGN.md, held by reading every module's imports with ``ast``.

- each package imports only the packages DESIGN.md's "Layout" table allows, and only
  through their public ``__init__`` (``from categories import verdict``, never
  ``from categories.verdict import verdict``);
- ``categories.cli`` is imported by nothing outside it (``categories/__main__.py`` runs it);
- no import cycle between modules, counting imports inside functions too;
- every package ``__init__`` names a non-empty public surface (``__all__``) whose names exist;
- no module over 400 lines outside ``tests/``.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

# DESIGN.md, "Layout": which project packages each place may import. ``drawing`` also
# imports ``attacks`` (norms: parse_norm, lp_norm, sample_sphere), which sits below it.
ALLOWED = {
    "app": {"app_pages", "bench", "imagenet", "drawing", "categories", "toymodels", "attacks",
            "store"},
    # "everything below": the full-scale page reads imagenet's runs and computes one
    "app_pages": {"imagenet", "drawing", "categories", "toymodels", "attacks", "store"},
    "bench": {"imagenet", "drawing", "categories", "toymodels", "attacks", "store"},
    "imagenet": {"attacks", "categories", "drawing", "store"},
    "drawing": {"categories", "toymodels", "attacks"},
    "categories": {"attacks", "toymodels", "store"},
    "toymodels": {"store"},
    "attacks": set(),
    "store": set(),
}
PACKAGES = [p for p in ALLOWED if p != "app"]


def _modules() -> dict[str, pathlib.Path]:
    """Every module of the project (``app`` for app.py), by dotted name."""
    out = {"app": ROOT / "app.py"}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: pathlib.Path) -> list[tuple[str, tuple[str, ...], int]]:
    """``(module imported, names taken from it, line)`` for every import in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, (), node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            out.append((module, tuple(a.name for a in node.names), node.lineno))
    return out


def _top(module: str) -> str:
    return module.split(".")[0]


def _place(name: str) -> str:
    return "app" if name == "app" else _top(name)


def test_the_layout_covers_every_package_of_the_repository():
    found = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert found == set(PACKAGES), "a package is missing from DESIGN.md's table (or this test)"
    assert len(MODULES) > 60


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_follow_the_layout_and_use_public_surfaces(name):
    place = _place(name)
    for module, names, line in _imports(name, MODULES[name]):
        other = _top(module)
        if other not in ALLOWED or other == place:
            continue  # a third-party library, or the module's own package
        where = f"{MODULES[name].relative_to(ROOT)}:{line} imports {module}"
        assert other in ALLOWED[place], f"{where}: {place} may not import {other} (DESIGN.md)"
        assert module == other, f"{where}: import {other}'s public names from {other} itself"
        assert not module.startswith("categories.cli"), f"{where}: nothing imports the CLI"


def _graph() -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        edges = set()
        for module, names, _ in _imports(name, path):
            if module in MODULES:
                edges.add(module)
            # ``from package import submodule`` imports the submodule
            # (``from app_pages import sidebar`` needs app_pages.sidebar, not the package's
            # __init__ again, which is only being initialised)
            submodules = {f"{module}.{n}" for n in names if f"{module}.{n}" in MODULES}
            if submodules and len(submodules) == len(names):
                edges.discard(module)
            edges |= submodules
        graph[name] = edges - {name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_between_modules():
    graph = _graph()
    # a package's __init__ re-exports its modules, which may import each other through
    # their own paths; an arrow from a module back to its own package's __init__ would
    # close a loop, and so would any two modules importing each other (at module level or
    # inside a function)
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_names_its_public_surface(package):
    import importlib

    # imported here: a package with lazy exports (imagenet, whose command line must set
    # the allocator up before JAX loads) computes __all__ and resolves names on access
    module = importlib.import_module(package)
    exported = getattr(module, "__all__", None)
    assert exported, f"{package}/__init__.py exports nothing (no __all__)"
    assert len(set(exported)) == len(exported), f"{package}.__all__ repeats a name"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{package}.__all__ names undefined {missing}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_over_400_lines(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= 400, f"{MODULES[name].relative_to(ROOT)} has {lines} lines"


def _long_functions(path: pathlib.Path, limit: int = 60) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [f"{path.relative_to(ROOT)}:{node.lineno} {node.name} has "
            f"{node.end_lineno - node.lineno + 1} lines"
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > limit]


def test_no_function_over_60_lines():
    """Functions of at most 60 lines, docstring included (the guide's Style), in the
    packages and in the tests: a longer one is split where its story has parts."""
    paths = list(MODULES.values()) + sorted((ROOT / "tests").glob("*.py"))
    assert [line for path in paths for line in _long_functions(path)] == []
