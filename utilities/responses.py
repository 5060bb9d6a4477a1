"""Helpers for answering in HTML or JSON, whichever the client asked for."""

from quart import jsonify, request


def wants_json() -> bool:
    """True for fetch()/API callers: a JSON body, or JSON preferred in Accept.

    The event stream counts too: EventSource cannot follow a redirect to a
    login page, so it must be told 401 plainly.
    """
    if request.is_json or request.path == "/sse":
        return True
    accept = request.accept_mimetypes
    return accept.best_match(["text/html", "application/json"]) == "application/json"


def json_error(message: str, status: int):
    return jsonify({"error": message}), status
