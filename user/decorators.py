"""`login_required`: the guard in front of every page that needs a person."""

from functools import wraps
from urllib.parse import urlencode

from quart import g, redirect, request, url_for

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
