"""bench/ still fits the app: `make bench` is not part of `make test`, so a
name renamed or removed in the app would otherwise break it unseen.

`make test` installs `.[test]` without the bench extras (matplotlib,
pyinstrument, Starlette…), so two checks: every bench module imports, unless
the one thing missing is a bench extra; and, extras or not, every name a
bench module imports from the project exists, read from the source.
"""

import ast
import importlib
import importlib.util
import re
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT

BENCH = ROOT / "bench"


def bench_modules() -> dict[str, Path]:
    """Every module under bench/: {dotted name: its file}."""
    modules = {}
    for path in sorted(BENCH.rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    return modules


def bench_extras() -> set[str]:
    """The import names of the packages only `.[bench]` installs."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    requirements = pyproject["project"]["optional-dependencies"]["bench"]
    return {re.split(r"[<>=!~\[ ]", line)[0].replace("-", "_") for line in requirements}


def test_the_bench_extras_are_read():
    assert {"matplotlib", "pyinstrument"} <= bench_extras()


@pytest.mark.parametrize("module", bench_modules())
def test_bench_module_imports(module):
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as error:
        # Only a bench extra may be missing, and only where it is not installed.
        assert error.name.split(".")[0] in bench_extras(), f"{module}: {error}"


def project_imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) for each `from <project module> import name` in a file."""
    project = {path.stem for path in ROOT.glob("*.py")} | {
        path.parent.name for path in ROOT.glob("*/__init__.py")
    }
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
        if node.module.split(".")[0] in project
        for alias in node.names
    ]


@pytest.mark.parametrize("module", bench_modules())
def test_names_bench_imports_from_the_project_exist(module):
    for source, name in project_imports(bench_modules()[module]):
        imported = importlib.import_module(source)
        # `from bench import targets` names a submodule, which a package need
        # not have imported yet.
        assert hasattr(imported, name) or importlib.util.find_spec(f"{source}.{name}"), (
            f"{module}: `from {source} import {name}`: no such name"
        )
