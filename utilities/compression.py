"""Text responses compressed with gzip for browsers that accept it.

A phone on a slow network spends most of a first visit downloading HTML,
CSS and JavaScript, which shrink to a fifth or less. Event streams are
left alone: gzip would hold events back until it had enough to compress.
"""

import gzip

from quart import Quart, Response, request
from quart.wrappers.response import DataBody, FileBody

COMPRESSIBLE_TYPES = {
    "text/html",
    "text/css",
    "text/javascript",
    "application/javascript",
    "application/json",
    "image/svg+xml",
}
# Below this, gzip's own header and the work cost more than they save.
MIN_SIZE = 1024
# zlib's default: nearly the smallest output, at a small part of level 9's time.
LEVEL = 6


def may_compress(response: Response) -> bool:
    """A whole (not streamed) text response, complete (200), not yet encoded,
    to a browser that accepts gzip."""
    return (
        response.status_code == 200
        and response.mimetype in COMPRESSIBLE_TYPES
        and isinstance(response.response, (DataBody, FileBody))
        and "Content-Encoding" not in response.headers
        and "gzip" in request.accept_encodings
    )


async def compress(response: Response) -> Response:
    # Caches keep the compressed and the plain answer apart.
    response.vary.add("Accept-Encoding")
    if not may_compress(response):
        return response
    body = await response.get_data()
    if len(body) < MIN_SIZE:
        return response
    etag, _ = response.get_etag()
    response.set_data(gzip.compress(body, LEVEL))
    response.headers["Content-Encoding"] = "gzip"
    if etag:  # the same content, in other bytes
        response.set_etag(etag, weak=True)
    return response


def init_app(app: Quart) -> None:
    app.after_request(compress)
