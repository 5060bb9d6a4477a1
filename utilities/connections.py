"""Connections whose client stopped reading are dropped, not kept for ever.

An event stream writes whenever something happens. A client that stops
reading (a frozen tab, or a script that never reads) first fills the
kernel's buffers, about 3 MB, then holds its connection and those buffers
for as long as it likes. Hypercorn and asyncio have no timeout for a write,
and ending the response from the app does not free the connection either:
asyncio closes a connection only once the client has taken the bytes
already written.

The kernel can drop it: on Linux, TCP_USER_TIMEOUT drops a connection whose
bytes have waited longer than the timeout, unacknowledged or unsent because
the client's window is closed. The stream's next write then fails, which
ends it and releases its subscription. Hypercorn has no setting for socket
options, so at start-up the app sets it on the server sockets it finds among
its open files; every connection accepted on them inherits it.
"""

import asyncio
import errno
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

from quart import Quart

logger = logging.getLogger(__name__)

OPEN_FILES = Path("/proc/self/fd")


def server_sockets() -> Iterator[socket.socket]:
    """This process's TCP sockets that are connected to nothing: the ones it
    accepts connections on. (Hypercorn binds them before the app starts, but
    only listens on them after.)"""
    for entry in OPEN_FILES.iterdir():
        try:
            candidate = socket.socket(fileno=int(entry.name))
        except OSError:  # not a socket (or already closed)
            continue
        try:
            if is_unconnected_tcp(candidate):
                yield candidate
        finally:
            candidate.detach()  # the socket is the server's: leave it open


def is_unconnected_tcp(candidate: socket.socket) -> bool:
    if candidate.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    if candidate.type != socket.SOCK_STREAM:
        return False
    try:
        candidate.getpeername()
    except OSError:  # no peer
        return True
    return False


def drop_stalled_connections(timeout_s: float) -> None:
    """Have the kernel drop connections whose client takes nothing for `timeout_s`."""
    if not hasattr(socket, "TCP_USER_TIMEOUT") or not OPEN_FILES.is_dir():
        return  # not Linux: connections stay as long as their clients keep them
    for server_socket in server_sockets():
        server_socket.setsockopt(
            socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(timeout_s * 1000)
        )


def log_dropped_connections(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    """The event loop's handler of errors no code caught: a connection the
    kernel dropped is logged in one line, anything else as asyncio would.

    Hypercorn (0.18) lets the ETIMEDOUT of a dropped connection escape its
    connection task; asyncio would log it as an error, with a traceback.
    """
    if getattr(context.get("exception"), "errno", None) == errno.ETIMEDOUT:
        logger.info("Dropped a connection whose client took nothing for SEND_TIMEOUT_S")
    else:
        loop.default_exception_handler(context)


def init_app(app: Quart) -> None:
    @app.before_serving
    async def bound_stalled_connections() -> None:
        drop_stalled_connections(app.config["SEND_TIMEOUT_S"])
        asyncio.get_running_loop().set_exception_handler(log_dropped_connections)
