"""The Server-Sent Events wire format: how an event becomes bytes on a stream.

A frame is `id:`, `event:` and `data:` lines and a blank line. Everything
but the `id:` line is the same for every reader of an event on a channel,
so it is encoded once (`frame_tail`) and each stream adds its own cursor
(`frame`): where it stands in every channel it carries (see feed.channels).
"""

import json

RETRY_MS = 3000  # how long a browser waits before it reconnects by itself
# A comment line: it keeps proxies from closing an idle connection.
PING = b": ping\n\n"


def encode_data(data: dict) -> str:
    """An event's data as one line of compact JSON."""
    return json.dumps(data, separators=(",", ":"))


def frame_tail(action: str, data: str, channel: str) -> bytes:
    """A frame without its `id:` line, which differs per stream. The data (a
    JSON object) gains `channel`, the name of the channel it is sent on."""
    return f'event: {action}\ndata: {{"channel":{json.dumps(channel)},{data[1:]}\n\n'.encode()


def frame(cursor: str, tail: bytes) -> bytes:
    return b"id: " + cursor.encode() + b"\n" + tail


def id_frame(cursor: str) -> bytes:
    """A frame with only an `id:`: it sets the browser's Last-Event-ID, and
    dispatches nothing."""
    return frame(cursor, b"\n")


def retry_frame(milliseconds: int) -> bytes:
    """How long the browser waits before reconnecting, from now on."""
    return f"retry: {milliseconds}\n\n".encode()
