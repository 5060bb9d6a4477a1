"""The Alembic history goes up, down and up again cleanly, to the models' schema."""

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from db import metadata
from search.models import is_search_index
from tests.conftest import alembic_config


async def table_names(database_url: str) -> set[str]:
    engine = create_async_engine(database_url)
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
    await engine.dispose()
    # The index of words is no table of the models' (search/models.py).
    return {name for name in names if not is_search_index(name)} - {"alembic_version"}


def test_history_is_linear():
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


async def test_migrated_schema_is_what_the_models_declare(database_url):
    """Tables, columns and indexes: a change to a model needs its migration.
    The index of words is compared as migrations/env.py compares it: not at all."""
    options = {"include_name": lambda name, *_: not is_search_index(name)}
    engine = create_async_engine(database_url)
    async with engine.connect() as connection:
        differences = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync, opts=options), metadata)
        )
    await engine.dispose()
    assert differences == []


async def test_upgrade_downgrade_upgrade(database_url, tmp_path):
    # A separate database, so the shared test database keeps its schema.
    url = f"sqlite+aiosqlite:///{tmp_path / 'cycle.db'}"
    if database_url.startswith("mysql"):
        url = database_url + "_cycle"
        from tests.conftest import mysql_admin

        name = url.rsplit("/", 1)[1]
        await mysql_admin(f"CREATE DATABASE {name}")
    try:
        config = alembic_config(url)
        await run(command.upgrade, config, "head")
        assert await table_names(url) == set(metadata.tables)
        await run(command.downgrade, config, "base")
        assert await table_names(url) == set()
        await run(command.upgrade, config, "head")
        assert await table_names(url) == set(metadata.tables)
    finally:
        if database_url.startswith("mysql"):
            await mysql_admin(f"DROP DATABASE IF EXISTS {name}")


async def run(alembic_command, *args):
    # Alembic's env.py runs its own event loop, so it needs a thread of its own.
    import asyncio

    await asyncio.to_thread(alembic_command, *args)
