"""The code's shape, as DESIGN.md fixes it: dependencies run one way.

Views → services → models → db.py. Read from the source itself, so that a
new import that turns a corner fails here, naming the circle it closes.
"""

import ast
import subprocess
import sys

from tests.conftest import ROOT

DOMAINS = ("user", "relationship", "post", "feed", "group", "notification", "search", "account")
PACKAGES = (*DOMAINS, "utilities")


def project_modules() -> dict[str, ast.Module]:
    """Every module of the packages, by dotted name, parsed."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            modules[name] = ast.parse(path.read_text(), filename=str(path))
    return modules


def imports_of(tree: ast.Module, known: set[str]) -> set[str]:
    """The project modules a module imports (`from feed import models` counts as feed.models)."""
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
            imported |= {f"{node.module}.{alias.name}" for alias in node.names}
    return imported & known


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(tree, set(modules)) for name, tree in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of the graph as [a, b, …, a], or None when there is none."""
    finished: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return path[path.index(node) :] + [node]
        if node in finished:
            return None
        for neighbour in sorted(graph.get(node, ())):
            if cycle := visit(neighbour, [*path, node]):
                return cycle
        finished.add(node)
        return None

    for start in sorted(graph):
        if cycle := visit(start, []):
            return cycle
    return None


def package_of(module: str) -> str:
    return module.split(".")[0]


def is_view(module: str) -> bool:
    return module.endswith(".views")


def test_no_module_imports_itself_through_others():
    assert find_cycle(import_graph()) is None


def test_packages_depend_on_each_other_one_way():
    """Below the views (the top layer, which may use any package's services
    and models), no package reaches back into one that depends on it."""
    packages: dict[str, set[str]] = {package: set() for package in PACKAGES}
    for module, imported in import_graph().items():
        if is_view(module):
            continue
        packages[package_of(module)] |= {
            package_of(other) for other in imported if package_of(other) != package_of(module)
        }
    assert find_cycle(packages) is None


def test_a_view_never_imports_another_view():
    for module, imported in import_graph().items():
        assert not (is_view(module) and any(map(is_view, imported))), (module, imported)


def test_the_graph_sees_imports():
    """The checks above mean something only if the graph has the known edges."""
    graph = import_graph()
    assert "feed.models" in graph["feed.service"]
    assert "post.models" in graph["feed.models"]
    assert "feed.service" in graph["post.views"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


MODELS = [
    f"{package}.models" for package in ("user", "relationship", "post", "feed", "group", "search")
]


def test_models_are_pure_data():
    """Importing every models.py loads no ImageMagick, and none of them
    imports Quart: no request, no url_for, no current_app."""
    check = "; ".join(
        [
            "import sys",
            *(f"import {module}" for module in MODELS),
            "print(sorted(name for name in sys.modules if name.split('.')[0] == 'wand'))",
        ]
    )
    result = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
    modules = project_modules()
    for module in MODELS:
        imported = {
            node.module
            for node in ast.walk(modules[module])
            if isinstance(node, ast.ImportFrom) and node.module
        }
        assert not any(name.split(".")[0] == "quart" for name in imported), module
