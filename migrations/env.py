"""Alembic environment: runs migrations over the app's own async drivers.

The URL is DATABASE_URL from settings.py (aiomysql or aiosqlite), so the app
and its migrations always talk to the same database the same way.
"""

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

import settings
from db import metadata

# Import every domain's models so their tables are registered on `metadata`
# (autogenerate compares the database against it).
from feed import models as _feed_models  # noqa: F401
from group import models as _group_models  # noqa: F401
from post import models as _post_models  # noqa: F401
from relationship import models as _relationship_models  # noqa: F401
from search.models import is_search_index
from user import models as _user_models  # noqa: F401

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    return config.get_main_option("sqlalchemy.url") or settings.load_or_exit()["DATABASE_URL"]


def outside_search_index(name, type_, parent_names) -> bool:
    """Autogenerate compares everything but the index of words, which each
    database keeps in its own way, outside the metadata (0015_search.py)."""
    return not is_search_index(name)


def run_offline() -> None:
    """Print the SQL instead of running it (`alembic upgrade head --sql`)."""
    context.configure(
        url=database_url(),
        target_metadata=metadata,
        literal_binds=True,
        include_name=outside_search_index,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_with(connection) -> None:
    # SQLite cannot ALTER most things in place; batch mode rebuilds the table.
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        include_name=outside_search_index,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    engine = create_async_engine(database_url())
    async with engine.connect() as connection:
        await connection.run_sync(_run_with)
    await engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    asyncio.run(run_online())
