#!/bin/sh
# The Docker image's command: bring the schema up to date, then serve with an
# access log. HOST and PORT choose where it listens (default 0.0.0.0:5000).
set -eu

alembic upgrade head
# --workers 0: the app runs in Hypercorn's own process, which hears SIGTERM
# (docker stop), so open streams end cleanly before it stops (application.py).
# For more processes, run more containers.
exec hypercorn --workers 0 --bind "${HOST:-0.0.0.0}:${PORT:-5000}" \
    --access-logfile - --error-logfile - "application:create_app()"
