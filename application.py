"""The application factory: `create_app()` builds a configured QuartFeed.

Hypercorn serves it with `hypercorn "application:create_app()"`.
"""

import asyncio
import gc
import logging
import secrets
import signal

import sqlalchemy as sa
from quart import Quart

import settings
from account.views import account_app
from db import DATABASE_ERRORS, AppDatabase, epoch_table
from feed.events import SHUTDOWN, Bus, channel_of, create_bus
from feed.fanout import FanoutWorker
from feed.service import Feed
from feed.views import feed_app
from group.views import group_app
from notification.views import notification_app
from post.present import Presenter
from post.views import post_app
from relationship.views import relationship_app
from search.views import search_app
from user.views import user_app
from utilities import (
    assets,
    compression,
    connections,
    csrf,
    errors,
    health,
    imaging,
    ratelimit,
    security,
)
from utilities.files import send_from_folder

logger = logging.getLogger(__name__)


class QuartFeed(Quart):
    async def send_static_file(self, filename: str):
        # Quart's own would answer a file name too long to exist with a 500.
        original = assets.original_name(self.static_folder, filename)
        response = await send_from_folder(self.static_folder, original or filename)
        if original:  # its name changes when it does: it may be kept a year
            response.cache_control.public = True
            response.cache_control.max_age = assets.ONE_YEAR_S
            response.cache_control.immutable = True
        return response


def create_app(overrides: dict | None = None) -> Quart:
    """Build the app from settings.py, with `overrides` on top (tests use them)."""
    app = QuartFeed(__name__)
    app.config.update(settings.load_or_exit())
    app.config.update(overrides or {})
    configure_logging(app.config["LOG_LEVEL"])

    database = AppDatabase(
        app.config["DATABASE_URL"],
        app.config["COUNT_STATEMENTS"],
        app.config["DATABASE_TIMEOUT_S"],
    )
    app.extensions["database"] = database
    bus = create_bus(
        app.config["BROKER_URL"],
        app.config["SSE_HEARTBEAT_S"],
        channel_of(app.config["DATABASE_URL"]),
    )
    app.extensions["bus"] = bus
    fanout = FanoutWorker(app.config["FANOUT_SWEEP_S"])
    feed = Feed(database, bus, Presenter(app.config["MEDIA_URL"]), fanout)
    app.extensions["feed"] = feed

    csrf.init_app(app)
    security.init_app(app)
    ratelimit.init_app(app)
    connections.init_app(app)
    errors.init_app(app)
    assets.init_app(app)
    compression.init_app(app)
    app.register_blueprint(user_app)
    app.register_blueprint(feed_app)
    app.register_blueprint(post_app)
    app.register_blueprint(relationship_app)
    app.register_blueprint(group_app)
    app.register_blueprint(notification_app)
    app.register_blueprint(search_app)
    app.register_blueprint(account_app)
    imaging.init_app(app)  # serves MEDIA_ROOT at MEDIA_URL
    health.init_app(app)

    @app.before_serving
    async def start_services() -> None:
        if app.config["TUNE_GC"] and not app.testing:
            tune_garbage_collection()
        end_streams_before_stopping(bus)
        await bus.start()
        try:
            await database.ensure_connected()
        except DATABASE_ERRORS as error:
            # Serve anyway: /healthz reports it, and requests retry the connection.
            logger.warning("Database unavailable at start-up: %s", error)
        fanout.start(feed.finish_fanouts)

    @app.after_serving
    async def stop_services() -> None:
        await fanout.close()
        await bus.close()  # ends every open stream
        if database.is_connected:
            await database.disconnect()

    @app.cli.command("new-epoch")
    def new_epoch() -> None:
        """Give the database a new epoch: run it after restoring a backup."""
        value = asyncio.run(set_new_epoch(database))
        print(f"The database's epoch is now {value}: open pages will reload.")

    return app


# The packages whose log lines QuartFeed shows (Hypercorn shows its own).
LOGGED_PACKAGES = (
    "application",
    "db",
    "feed",
    "group",
    "notification",
    "post",
    "relationship",
    "user",
    "utilities",
)


def configure_logging(level: str) -> None:
    """Show the app's own log lines (a stream dropped, the broker lost, …)
    on standard error, at `level` and above. Nothing configures Python's
    logging otherwise, and its default shows warnings only."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in LOGGED_PACKAGES:
        logger = logging.getLogger(name)
        logger.setLevel(level)
        if not logger.handlers:  # once, however many apps a process creates
            logger.addHandler(handler)


def end_streams_before_stopping(bus: Bus) -> None:
    """On SIGTERM or SIGINT, end every open stream first, then stop as
    Hypercorn would.

    Hypercorn waits for open requests before it stops, and a stream is one
    that never ends by itself: it would be cut after the grace period, in
    the middle of its body. Ended now, each stream finishes cleanly and
    tells its browser to come back soon, to another process. asyncio keeps
    one handler per signal, so Hypercorn's is called from ours.
    """
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        server_handler = getattr(loop, "_signal_handlers", {}).get(signum)
        if server_handler is None:  # not served by Hypercorn (tests, `quart run`)
            continue

        def stop(server_handler: asyncio.Handle = server_handler) -> None:
            logger.info("Open streams ended before stopping: %d", bus.subscriber_count())
            bus.close_streams(SHUTDOWN)
            server_handler._run()

        loop.add_signal_handler(signum, stop)


async def set_new_epoch(database: AppDatabase) -> str:
    value = secrets.token_urlsafe(6)
    await database.connect()
    try:
        await database.execute(sa.update(epoch_table).values(value=value))
    finally:
        await database.disconnect()
    return value


def tune_garbage_collection() -> None:
    """Keep collector pauses out of live delivery.

    A full collection walks every object, and with a thousand open streams it
    stopped delivery for 50–120 ms at a time (see docs/benchmarks.md). What
    start-up loaded lives as long as the process: frozen, no collection walks
    it again. A larger first threshold makes collections rarer for the small,
    short-lived objects each event creates.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
