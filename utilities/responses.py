"""Helpers for answering in HTML or JSON, whichever the client asked for."""

from quart import jsonify, request

# What a client that cannot show an HTML page asks for: JSON (fetch() and
# other API callers), or an event stream (EventSource, which cannot follow a
# redirect to the login page, so it must be told 401 plainly).
NOT_HTML = ("application/json", "text/event-stream")


def wants_json() -> bool:
    """True when the client sent JSON, or prefers JSON or an event stream to HTML."""
    if request.is_json:
        return True
    return request.accept_mimetypes.best_match(["text/html", *NOT_HTML]) in NOT_HTML


def json_error(message: str, status: int):
    return jsonify({"error": message}), status
