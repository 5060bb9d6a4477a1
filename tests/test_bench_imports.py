"""bench/ and the mutants still fit the app: neither `make bench` nor `make
mutants` is part of `make test`, so a name renamed or removed in the app, or
code a mutant changes, would otherwise break them unseen.

`make test` installs `.[test]` without the bench extras (matplotlib,
pyinstrument, Starlette…), so two checks: every bench module imports, unless
the one thing missing is a bench extra; and, extras or not, every name a
bench module imports from the project exists, read from the source. Then
the bare write baseline sends the statements `feed.models.write_post` sends,
and every mutant finds the code it changes.
"""

import ast
import importlib
import importlib.util
import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.dialects import mysql

from bench.baselines import bare_writes
from db import Bound
from feed.models import write_post
from scripts.mutants import MUTANTS
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


def mysql_of(query) -> str:
    """A statement's SQL for MySQL, built once (`Prepared`) or not."""
    statement = query.prepared.statement if isinstance(query, Bound) else query
    return str(statement.compile(dialect=mysql.dialect()))


class StatementRecorder:
    """Stands in for the database: keeps every statement, runs none."""

    def __init__(self) -> None:
        self.sql: list[str] = []

    async def execute(self, query) -> int:
        self.sql.append(mysql_of(query))
        return 1  # the new row's id

    async def fetch_val(self, query) -> str:
        sql = mysql_of(query)
        self.sql.append(sql)
        # One counter locked: the author's home, or their profile.
        return '[["profile", 1, 0]]' if "channel_counter" in sql else "[[1, 0]]"


def shape(sql: str) -> tuple[str, str]:
    """What a statement does, and to which table: ("INSERT", "feed"), …; a
    SELECT's table is the last one it names (what it joins its subqueries to)."""
    if sql.lstrip().startswith("SELECT"):
        tables = re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", sql)
        assert tables, f"a SELECT of no table: {sql[:80]!r}"
        return "SELECT", tables[-1]
    found = re.match(r"\s*(INSERT INTO|UPDATE)\s+(\w+)", sql)
    assert found, f"not an INSERT, UPDATE or SELECT: {sql[:80]!r}"
    return found[1].split()[0], found[2]


async def test_the_bare_write_baseline_sends_what_write_post_sends():
    recorder = StatementRecorder()
    now = datetime.now(UTC).replace(tzinfo=None)
    # Unwrapped from its transaction, which the recorder has no need of.
    await write_post.__wrapped__(recorder, 1, "a post", now, lambda uid: {"post": uid})
    assert [shape(sql) for sql in bare_writes.POST_STATEMENTS] == [
        shape(sql) for sql in recorder.sql
    ]


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda mutant: mutant.name)
def test_each_mutant_finds_its_code_once_and_names_tests_that_exist(mutant):
    assert (ROOT / mutant.path).read_text().count(mutant.original) == 1, (
        f"{mutant.name}: update it to the code of {mutant.path} as it is now"
    )
    for test in mutant.tests:
        assert (ROOT / test).exists(), f"{mutant.name}: no test file {test}"
