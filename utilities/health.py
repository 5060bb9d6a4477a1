"""`/healthz`: what a load balancer or `docker compose` asks to know whether
this process can serve.

It checks the three things a page needs: the database answers, its schema is
the one the code expects (the newest migration), and the broker answers.
Each check has a deadline, so a hung dependency makes the answer a prompt
503 that names it, never a hang.
"""

import asyncio
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from quart import Quart, current_app, jsonify

from db import DATABASE_ERRORS, AppDatabase, get_database, is_missing_schema
from utilities.errors import BROKER_ERRORS

CHECK_TIMEOUT_S = 1.5  # both checks run at once: the answer comes within 2 s
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
SCHEMA_VERSION = sa.text("SELECT version_num FROM alembic_version")


@cache
def newest_migration() -> str:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


async def database_health(database: AppDatabase) -> dict[str, str]:
    """{"database": …, "schema": …}: "ok", or what is wrong with each."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            version = await database.fetch_val(SCHEMA_VERSION)
    except Exception as error:
        if is_missing_schema(error):
            return {"database": "ok", "schema": "missing: run alembic upgrade head"}
        if isinstance(error, DATABASE_ERRORS):
            return {"database": "unreachable", "schema": "unknown"}
        raise
    if version != newest_migration():
        return {"database": "ok", "schema": f"outdated ({version}): run alembic upgrade head"}
    return {"database": "ok", "schema": "ok"}


async def broker_health() -> dict[str, str]:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await current_app.extensions["bus"].ping()
    except (*BROKER_ERRORS, TimeoutError):
        return {"broker": "unreachable"}
    return {"broker": "ok"}


async def healthz():
    """200 when everything answers, 503 naming what does not.

    With COUNT_STATEMENTS on, it also tells how many statements this process
    has run (this check's own included), how many event streams it holds
    open, how many messages and bytes it has received through the broker,
    and how many bytes it has published: bench/ and the browser tests read them.
    """
    database = get_database()
    checks = await asyncio.gather(database_health(database), broker_health())
    health = {key: value for check in checks for key, value in check.items()}
    healthy = all(value == "ok" for value in health.values())
    health = {"status": "ok" if healthy else "unavailable", **health}
    if database.count_statements:
        health["statements"] = database.statements
        bus = current_app.extensions["bus"]
        health["streams"] = bus.subscriber_count()
        health["received_messages"] = bus.received_messages
        health["received_bytes"] = bus.received_bytes
        health["published_bytes"] = bus.published_bytes
    return jsonify(health), 200 if healthy else 503


def init_app(app: Quart) -> None:
    app.add_url_rule("/healthz", view_func=healthz)
