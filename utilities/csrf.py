"""Cross-site request forgery protection: one random token per session.

Every page carries the token in `<meta name="csrf-token">` and every form in a
hidden `csrf_token` field; fetch() requests send it as `X-CSRFToken`. One
`before_request` hook checks it on every state-changing request.
"""

import hmac
import secrets

from quart import Quart, abort, request, session

SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}
SESSION_KEY = "csrf_token"


def csrf_token() -> str:
    """This session's token, created on first use."""
    if SESSION_KEY not in session:
        session[SESSION_KEY] = secrets.token_urlsafe(32)
    return session[SESSION_KEY]


async def _submitted_token() -> str:
    if header := request.headers.get("X-CSRFToken"):
        return header
    if request.mimetype in {"application/x-www-form-urlencoded", "multipart/form-data"}:
        return (await request.form).get("csrf_token", "")
    return ""


async def check_csrf() -> None:
    # A request for a page or method that does not exist gets its 404/405.
    if request.method in SAFE_METHODS or request.routing_exception is not None:
        return
    expected = session.get(SESSION_KEY)
    submitted = await _submitted_token()
    # compare_digest takes the same time wherever the strings differ, so the
    # token cannot be guessed one character at a time.
    if not expected or not hmac.compare_digest(expected.encode(), submitted.encode()):
        abort(403, description="The form was out of date or not sent from this site (CSRF).")


def init_app(app: Quart) -> None:
    app.before_request(check_csrf)
    app.jinja_env.globals["csrf_token"] = csrf_token
