"""Error pages in the site's look, and `{"error": ...}` for JSON callers.

Nothing a user sends should ever produce a traceback: HTTP errors get their
own page; a database or broker that is down, or a database without its
tables, gets a 503 that says which; anything else is a bug, logged once with
its traceback and request line, and answered with a plain 500 page.
"""

import redis
from quart import Quart, current_app, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from db import DATABASE_ERRORS, is_missing_schema
from utilities.responses import json_error, wants_json

FRIENDLY_MESSAGES = {
    400: "The request could not be understood.",
    401: "Please log in first.",
    403: "You are not allowed to do that.",
    404: "There is nothing here.",
    405: "That page does not accept this kind of request.",
    413: "That upload is too large.",
    429: "You are doing that too often. Please wait a moment and try again.",
    500: "Something went wrong on our side. Please try again.",
    503: "QuartFeed cannot reach its database right now. Please try again shortly.",
}
SCHEMA_MISSING = (
    "QuartFeed's database has no tables (or not all of them) yet: "
    "run `alembic upgrade head` to create them."
)
# What redis-py raises when Redis (the broker of BROKER_URL) is down or hung,
# or, for a Redis Cluster, when a node is down and its slots have no owner.
BROKER_ERRORS = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.ClusterError,
    redis.exceptions.RedisClusterException,
)
BROKER_DOWN = "QuartFeed cannot reach its message broker right now. Please try again shortly."


async def render_error(error: HTTPException):
    code = error.code or 500
    message = error.description if error.description else FRIENDLY_MESSAGES.get(code)
    # Werkzeug's stock descriptions are written for developers; prefer ours.
    if message == type(error).description:
        message = FRIENDLY_MESSAGES.get(code, message)
    if wants_json():
        body, _ = json_error(message, code)
    else:
        body = await render_template(
            "errors/error.html", code=code, title=error.name, message=message
        )
    return body, code, error_headers(error)


def error_headers(error: HTTPException) -> list[tuple[str, str]]:
    """What the error adds to its answer: Retry-After on a 429, Allow on a 405."""
    return [(name, value) for name, value in error.get_headers() if name != "Content-Type"]


def request_line() -> str:
    return f"{request.method} {request.path}"


async def service_unavailable(description: str | None = None):
    return await render_error(ServiceUnavailable(description))


async def handle_exception(error: Exception):
    """Any exception that is not an HTTP error: an outage (503) or a bug (500)."""
    if is_missing_schema(error):
        current_app.logger.error("%s: %s (%s)", request_line(), SCHEMA_MISSING, error)
        return await service_unavailable(SCHEMA_MISSING)
    if isinstance(error, DATABASE_ERRORS):
        current_app.logger.warning("%s: database unavailable: %r", request_line(), error)
        return await service_unavailable()
    if isinstance(error, BROKER_ERRORS):
        current_app.logger.warning("%s: broker unavailable: %r", request_line(), error)
        return await service_unavailable(BROKER_DOWN)
    current_app.logger.error("Unexpected error on %s", request_line(), exc_info=error)
    return await render_error(InternalServerError())


def init_app(app: Quart) -> None:
    app.register_error_handler(HTTPException, render_error)
    app.register_error_handler(Exception, handle_exception)
