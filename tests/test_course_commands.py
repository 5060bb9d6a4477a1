"""The course's own commands work, as a student types them.

The chapter installs QuartFeed with Poetry rather than `make`: `poetry install`,
`poetry run alembic upgrade head`, then `poetry run quart run`, which finds the
app through .quartenv. A copy of the project goes through exactly that here,
with Poetry at the version scripts/poetry_lock.py pins and a fresh SQLite
database. Poetry's and pip's download caches carry over from run to run;
Poetry itself and the project's virtual environment are installed anew.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import time
import tomllib
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from packaging.utils import canonicalize_name

from application import create_app
from bench.common import free_port
from scripts.mutants import copy_project
from scripts.poetry_lock import install_poetry, pinned_versions
from tests.conftest import ROOT

# Rules every reader of the chapter meets; `quart routes` lists them among the rest.
COURSE_ROUTES = {"/", "/sse", "/post", "/comment", "/like", "/login", "/register", "/healthz"}
SQLITE_PREFIX = "sqlite+aiosqlite:///"


def test_poetry_lock_pins_what_requirements_lock_pins():
    """`poetry install` and `make run` (pip) install the same version of every package."""
    poetry_lock = tomllib.loads((ROOT / "poetry.lock").read_text())
    poetry_pins = {
        canonicalize_name(package["name"]): package["version"]
        for package in poetry_lock["package"]
    }
    differences = {
        name: {
            "requirements.lock": version,
            "poetry.lock": poetry_pins.get(canonicalize_name(name)),
        }
        for name, version in pinned_versions(ROOT / "requirements.lock").items()
        if poetry_pins.get(canonicalize_name(name)) != version
    }
    assert not differences, f"run `make lock` to bring poetry.lock in line: {differences}"


def course_environment(database_url: str) -> dict[str, str]:
    """A student's shell: none of this test run's own Quart, Poetry or venv settings."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        # An activated virtual environment would be used instead of the project's own.
        if name != "VIRTUAL_ENV" and not name.startswith(("QUART_", "POETRY_"))
    }
    return {
        **inherited,
        # The project's environment in its own .venv, made with the Python Poetry runs on.
        "POETRY_VIRTUALENVS_IN_PROJECT": "true",
        "POETRY_VIRTUALENVS_USE_POETRY_PYTHON": "true",
        "POETRY_NO_INTERACTION": "1",
        "DATABASE_URL": database_url,
    }


@dataclass
class CourseProject:
    """A copy of the project with a Poetry of its own, like a student's checkout."""

    folder: Path
    poetry: Path
    environment: dict[str, str]

    def poetry_command(self, *arguments: str) -> list[str]:
        return [str(self.poetry), *arguments]

    def run_poetry(self, *arguments: str, timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run(
            self.poetry_command(*arguments),
            cwd=self.folder,
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, (
            f"poetry {' '.join(arguments)} failed:\n{result.stdout}{result.stderr}"
        )
        return result


@pytest.fixture(scope="module")
def course_project(tmp_path_factory) -> CourseProject:
    """A copy of the project after `poetry install`, and an empty SQLite database."""
    scratch = tmp_path_factory.mktemp("course")
    project = CourseProject(
        folder=scratch / "quartfeed",
        poetry=install_poetry(scratch / "poetry"),
        environment=course_environment(f"{SQLITE_PREFIX}{scratch / 'quartfeed.db'}"),
    )
    copy_project(project.folder)
    # A poetry.lock older than pyproject.toml makes this fail: run `make lock`.
    project.run_poetry("install", timeout=300)
    return project


@pytest.fixture(scope="module")
def migrated_project(course_project) -> CourseProject:
    course_project.run_poetry("run", "alembic", "upgrade", "head")
    return course_project


def newest_revision() -> str:
    return ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini"))).get_current_head()


def test_poetry_run_alembic_upgrade_head_builds_the_schema(migrated_project):
    database = migrated_project.environment["DATABASE_URL"].removeprefix(SQLITE_PREFIX)
    with closing(sqlite3.connect(database)) as connection:
        (revision,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision == newest_revision()


def test_quart_new_epoch_gives_the_database_a_new_epoch(migrated_project):
    """What to run after restoring a backup (docs/architecture.md)."""
    database = migrated_project.environment["DATABASE_URL"].removeprefix(SQLITE_PREFIX)

    def epoch() -> str:
        with closing(sqlite3.connect(database)) as connection:
            return connection.execute("SELECT value FROM epoch").fetchone()[0]

    before = epoch()
    said = migrated_project.run_poetry("run", "quart", "new-epoch").stdout
    assert epoch() != before
    assert f"The database's epoch is now {epoch()}" in said


def app_rules() -> set[str]:
    """Every URL rule the app answers, from its own url_map."""
    return {rule.rule for rule in create_app().url_map.iter_rules()}


def listed_rules(routes_output: str) -> set[str]:
    """The Rule column of `quart routes`: the last word of each line under the dashes."""
    lines = routes_output.splitlines()
    dashes = next(number for number, line in enumerate(lines) if line.startswith("---"))
    return {line.split()[-1] for line in lines[dashes + 1 :] if line.strip()}


def test_poetry_run_quart_routes_lists_every_route(course_project):
    """Through .quartenv alone: the environment names no app."""
    listed = listed_rules(course_project.run_poetry("run", "quart", "routes").stdout)
    assert COURSE_ROUTES.issubset(listed), COURSE_ROUTES - listed
    assert listed == app_rules()


def test_quart_app_option_finds_the_factory_in_the_project_venv():
    environment = {name: value for name, value in os.environ.items() if name != "QUART_APP"}
    environment["QUART_SKIP_DOTENV"] = "1"  # only --app may name the app here
    result = subprocess.run(
        [str(Path(sys.executable).parent / "quart"), "--app", "application", "routes"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert listed_rules(result.stdout) == app_rules()


def first_answer(url: str, server: subprocess.Popen, timeout_s: float) -> httpx.Response | None:
    """Poll `url` until the server answers, whatever the status; None if it never does."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and server.poll() is None:
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)  # not listening yet
    return None


def stop(server: subprocess.Popen) -> None:
    """End the server and anything it started: it leads a process group of its own."""
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(15)
    except ProcessLookupError:
        return  # already gone
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def test_poetry_run_quart_run_serves_the_app(migrated_project, tmp_path):
    port = free_port()
    log_file = tmp_path / "quart-run.log"
    with log_file.open("w") as log:
        server = subprocess.Popen(
            migrated_project.poetry_command("run", "quart", "run", "--port", str(port)),
            cwd=migrated_project.folder,
            env=migrated_project.environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        health = first_answer(f"{base_url}/healthz", server, timeout_s=60)
        login = httpx.get(f"{base_url}/login", timeout=10) if health is not None else None
    finally:
        stop(server)
    log = log_file.read_text()
    assert health is not None, f"quart run never answered:\n{log}"
    assert health.status_code == 200, health.text
    assert login.status_code == 200
    for field in ('name="username"', 'name="password"', 'name="csrf_token"'):
        assert field in login.text, f"the login form has no {field}"
    assert "Debug mode: True" in log, "QUART_DEBUG from .quartenv was not applied"
