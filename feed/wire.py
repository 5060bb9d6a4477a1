"""The Server-Sent Events wire format: how an event becomes bytes on a stream.

A frame is `id:`, `event:` and `data:` lines and a blank line. Everything
but the `id:` line is the same for every reader of an event, so it is
encoded once (`frame_tail`) and each stream adds its reader's id (`frame`).
"""

import json

RETRY_MS = 3000  # how long a browser waits before it reconnects by itself
RETRY = f"retry: {RETRY_MS}\n\n".encode()
# A comment line: it keeps proxies from closing an idle connection.
PING = b": ping\n\n"


def encode_data(data: dict) -> str:
    """An event's data as one line of compact JSON."""
    return json.dumps(data, separators=(",", ":"))


def frame_tail(action: str, data: str) -> bytes:
    """A frame without its `id:` line, which differs per reader."""
    return f"event: {action}\ndata: {data}\n\n".encode()


def frame(feed_id: int, tail: bytes) -> bytes:
    return b"id: %d\n" % feed_id + tail
