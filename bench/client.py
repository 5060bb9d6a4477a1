"""The load client: many open event streams, and a clock for every event.

Streams are plain asyncio sockets speaking just enough HTTP/1.1: a full HTTP
client per stream would make the client, not the server, the bottleneck.
Each event carries a marker `bench-<n>` in its data; the client notes when
each stream saw each marker.
"""

import asyncio
import re
import time
from dataclasses import dataclass, field

from bench.common import HOST

MARKER = re.compile(rb"bench-(\d+)")


@dataclass
class Stream:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    opening: bytes = b""  # what came with the first frame: any replay, too
    received: list[tuple[int, float]] = field(default_factory=list)  # (marker, time)

    async def record(self) -> None:
        """Note every marker that arrives, until the connection closes."""
        while chunk := await self.reader.read(65536):
            now = time.perf_counter()
            self.received.extend((int(number), now) for number in MARKER.findall(chunk))

    def close(self) -> None:
        self.writer.close()


async def open_stream(
    port: int, path: str, cookie: str | None, last_event_id: str | None = None
) -> Stream:
    """Connect, send the request, and wait for the first frame: by then the
    server has subscribed this stream, so no event sent afterwards is missed.
    With `last_event_id` it resumes there, as a browser that reconnects."""
    reader, writer = await asyncio.open_connection(HOST, port)
    headers = [f"GET {path} HTTP/1.1", f"Host: {HOST}:{port}", "Accept: text/event-stream"]
    if cookie:
        headers.append(f"Cookie: session={cookie}")
    if last_event_id:
        headers.append(f"Last-Event-ID: {last_event_id}")
    writer.write(("\r\n".join(headers) + "\r\n\r\n").encode())
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"stream refused: {head[:60]!r}")
    opening = await reader.read(65536)  # "retry: 3000" (and, for QuartFeed, any replay)
    return Stream(reader, writer, opening)


async def open_streams(
    port: int, path: str, cookies: list[str | None], at_once: int = 25
) -> list[Stream]:
    """Open one stream per cookie, `at_once` connections at a time.

    Opening is not what is measured. Each QuartFeed stream runs four
    statements as it opens, each within DATABASE_TIMEOUT_S of being asked
    for: with 100 openings at a time on a busy two-core machine, the server's
    event loop fell that far behind and answered some with 503."""
    limit = asyncio.Semaphore(at_once)

    async def one(cookie: str | None) -> Stream:
        async with limit:
            return await open_stream(port, path, cookie)

    return await asyncio.gather(*(one(cookie) for cookie in cookies))


def close_all(streams: list[Stream]) -> None:
    for stream in streams:
        stream.close()
