"""The project's own files: lint, formatting, the lock file and docker-compose."""

import re
import shutil
import subprocess
import sys
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT, unavailable


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True)


def test_ruff_check_is_clean():
    result = run(sys.executable, "-m", "ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean():
    result = run(sys.executable, "-m", "ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_lock_pins_every_dependency_within_its_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    declared = project["dependencies"] + extras["test"] + extras["bench"]
    pinned = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pinned[canonicalize_name(name)] = version
    for requirement in map(Requirement, declared):
        version = pinned.get(canonicalize_name(requirement.name))
        assert version, f"{requirement.name} is not pinned in requirements.lock"
        assert requirement.specifier.contains(version), f"{requirement.name}=={version}"


def test_docker_compose_file_is_valid():
    if shutil.which("docker-compose") is None:
        unavailable("docker-compose is not installed (apt-get install docker-compose)")
    result = run("docker-compose", "config")
    assert result.returncode == 0, result.stderr
    services = run("docker-compose", "config", "--services").stdout.split()
    assert sorted(services) == ["db", "redis", "web"]
    config = result.stdout
    assert "image: mysql:8" in config
    assert config.count("condition: service_healthy") == 2
    assert "DATABASE_URL: mysql+aiomysql://" in config
    assert "BROKER_URL: redis://redis:6379/0" in config
    assert config.count("restart: unless-stopped") == 3
    assert config.count("healthcheck:") == 3


def test_docker_image_installs_its_dependencies_before_copying_the_code():
    """So that a change to the code does not reinstall every package."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    dependencies = dockerfile.index("install-runtime.sh dependencies")
    code = dockerfile.index("COPY . .")
    assert dependencies < code < dockerfile.index("install-runtime.sh project")
    node_major = int(re.search(r"^FROM node:(\d+)", dockerfile, re.MULTILINE).group(1))
    assert node_major >= 24 and node_major % 2 == 0, "a current Node.js LTS (even) release"
    assert 'CMD ["sh", "scripts/serve.sh"]' in dockerfile


def test_docker_build_context_leaves_out_what_the_image_does_not_need():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    needed_out = {"tests", "bench", "docs", ".venv", "node_modules", "instance", ".git"}
    assert needed_out <= ignored, needed_out - ignored
