"""Error pages in the site's look, and `{"error": ...}` for JSON callers.

Nothing a user sends should ever produce a traceback: HTTP errors get their
own page, a database that is down gets a 503, and anything unexpected is
logged and answered with a plain 500 page.
"""

from quart import Quart, render_template
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from db import DATABASE_ERRORS
from utilities.responses import json_error, wants_json

FRIENDLY_MESSAGES = {
    400: "The request could not be understood.",
    401: "Please log in first.",
    403: "You are not allowed to do that.",
    404: "There is nothing here.",
    405: "That page does not accept this kind of request.",
    413: "That upload is too large.",
    500: "Something went wrong on our side. Please try again.",
    503: "QuartFeed cannot reach its database right now. Please try again shortly.",
}


async def render_error(error: HTTPException):
    code = error.code or 500
    message = error.description if error.description else FRIENDLY_MESSAGES.get(code)
    # Werkzeug's stock descriptions are written for developers; prefer ours.
    if message == type(error).description:
        message = FRIENDLY_MESSAGES.get(code, message)
    if wants_json():
        return json_error(message, code)
    page = await render_template("errors/error.html", code=code, title=error.name, message=message)
    return page, code


async def database_unavailable(error: Exception):
    return await render_error(ServiceUnavailable())


async def unexpected_error(error: Exception):
    return await render_error(InternalServerError())


def init_app(app: Quart) -> None:
    app.register_error_handler(HTTPException, render_error)
    for error_class in DATABASE_ERRORS:
        app.register_error_handler(error_class, database_unavailable)
    app.register_error_handler(Exception, unexpected_error)
