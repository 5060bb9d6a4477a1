"""Guards in front of pages: `login_required` for pages that need a person,
`user_or_404` for pages about one."""

from functools import wraps
from urllib.parse import urlencode

from databases.interfaces import Record
from quart import abort, g, redirect, request, url_for

from db import get_database
from user.models import user_by_name
from utilities.responses import json_error, wants_json


def _requested_path() -> str:
    query = request.query_string.decode()
    return f"{request.path}?{query}" if query else request.path


def login_required(view):
    """Let logged-in people through; send others to the login page.

    Pages redirect to /login?next=<this page>; JSON callers and the event
    stream get a 401, since they cannot show a login form.
    """

    @wraps(view)
    async def guarded_view(*args, **kwargs):
        if g.user is None:
            if wants_json():
                return json_error("Please log in first.", 401)
            return redirect(f"{url_for('user.login')}?{urlencode({'next': _requested_path()})}")
        return await view(*args, **kwargs)

    return guarded_view


def stream_login_required(view):
    """Let logged-in people through; anyone else gets a 401, whatever they
    accept: an event stream (or a page asking whether it may open one)
    cannot follow a redirect to the login page."""

    @wraps(view)
    async def guarded_stream(*args, **kwargs):
        if g.user is None:
            return json_error("Please log in first.", 401)
        return await view(*args, **kwargs)

    return guarded_stream


async def user_or_404(username: str) -> Record:
    """The user called `username`, or a 404 page that says there is none."""
    user = await user_by_name(get_database(), username)
    if user is None:
        abort(404, description=f"There is no one called {username} here.")
    return user
