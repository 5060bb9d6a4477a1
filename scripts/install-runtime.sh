#!/bin/sh
# Installs what QuartFeed needs to run, and nothing it needs only for tests or
# benchmarks, at the versions pinned in requirements.lock. The Docker image
# installs itself with this script, and tests/test_production_install.py
# builds a virtual environment with it, so the two cannot drift apart.
#
#   sh scripts/install-runtime.sh dependencies   # needs pyproject.toml and the lock only
#   sh scripts/install-runtime.sh project        # then the app itself, once the code is there
#
# PYTHON names the interpreter to install into (default: python).
set -eu

PYTHON="${PYTHON:-python}"

case "${1:-}" in
dependencies)
    # pyproject.toml's [project] dependencies, one word each (none has a space).
    requirements=$("$PYTHON" -c 'import tomllib
with open("pyproject.toml", "rb") as project:
    print(" ".join(tomllib.load(project)["project"]["dependencies"]))')
    # shellcheck disable=SC2086  # one word per requirement
    "$PYTHON" -m pip install --quiet -c requirements.lock $requirements
    ;;
project)
    # Editable, so the code runs from where it lies, next to its templates
    # and migrations; its dependencies are already installed.
    "$PYTHON" -m pip install --quiet --no-deps -e .
    ;;
*)
    echo "usage: $0 dependencies|project" >&2
    exit 2
    ;;
esac
