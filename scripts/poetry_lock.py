"""Write poetry.lock with the versions that requirements.lock pins.

The course installs QuartFeed with `poetry install`; `make run` and the
Docker image install it with pip from requirements.lock. Both must get the
same versions, so poetry.lock is not resolved afresh. Poetry first locks a
throwaway project whose dependencies are requirements.lock's exact pins, then
locks pyproject.toml itself starting from that lock: `poetry lock` keeps the
versions a lock already has when they satisfy the ranges, and they do.

    make lock                                  # requirements.lock, then this
    .venv/bin/python -m scripts.poetry_lock    # this alone

tests/test_course_commands.py checks that the two files agree.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POETRY_VERSION = "2.5.1"


def pinned_versions(requirements_lock: Path) -> dict[str, str]:
    """{name: version} for every `name==version` line of a pip lock file."""
    pins = {}
    for line in requirements_lock.read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name] = version
    return pins


def install_poetry(venv: Path) -> Path:
    """Poetry in a virtual environment of its own, as its documentation advises.

    Returns the `poetry` program. The venv gets no pip of its own (Poetry needs
    none) and no bytecode compiled ahead: both would only slow the install.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    pip_install = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    subprocess.run(
        [*pip_install, "install", "--quiet", "--no-compile", f"poetry=={POETRY_VERSION}"],
        check=True,
    )
    return venv / "bin" / "poetry"


def toml_list(items: list[str]) -> str:
    # A JSON string of plain ASCII is also a valid TOML string.
    return "[\n" + "".join(f"    {json.dumps(item)},\n" for item in items) + "]"


def pinned_project(pyproject: dict, pins: dict[str, str]) -> str:
    """pyproject.toml of a project that depends on exactly `pins`, from the same index."""
    sources = "".join(
        f"\n[[tool.poetry.source]]\n"
        f"name = {json.dumps(source['name'])}\n"
        f"url = {json.dumps(source['url'])}\n"
        f"priority = {json.dumps(source['priority'])}\n"
        for source in pyproject["tool"]["poetry"]["source"]
    )
    requirements = [f"{name}=={version}" for name, version in pins.items()]
    return (
        "[project]\n"
        'name = "pins"\n'
        'version = "0"\n'
        f"requires-python = {json.dumps(pyproject['project']['requires-python'])}\n"
        f"dependencies = {toml_list(requirements)}\n"
        "\n[tool.poetry]\n"
        "package-mode = false\n"
        f"{sources}"
    )


def poetry_lock(poetry: Path, project: Path) -> None:
    # Poetry would otherwise create a virtual environment it does not need to lock.
    environment = {**os.environ, "POETRY_VIRTUALENVS_CREATE": "false"}
    subprocess.run(
        [str(poetry), "lock", "--no-interaction", "--directory", str(project)],
        env=environment,
        check=True,
    )


def main() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = pinned_versions(ROOT / "requirements.lock")
    with tempfile.TemporaryDirectory(prefix="quartfeed-poetry-lock-") as scratch:
        scratch = Path(scratch)
        poetry = install_poetry(scratch / "poetry")

        pins_project = scratch / "pins"
        pins_project.mkdir()
        (pins_project / "pyproject.toml").write_text(pinned_project(pyproject, pins))
        poetry_lock(poetry, pins_project)

        # The real project, starting from the pinned lock.
        project = scratch / "project"
        project.mkdir()
        shutil.copy2(ROOT / "pyproject.toml", project / "pyproject.toml")
        shutil.copy2(pins_project / "poetry.lock", project / "poetry.lock")
        poetry_lock(poetry, project)
        shutil.copy2(project / "poetry.lock", ROOT / "poetry.lock")
    print(f"Wrote {ROOT / 'poetry.lock'} at requirements.lock's versions.")


if __name__ == "__main__":
    main()
