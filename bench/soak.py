"""A soak: a thousand home streams held open for half an hour while their
author posts every second and some of them reconnect every second, as
browsers on flaky networks do; then every stream closes, and the server's
memory should come back to what it was before they opened.

    python -m bench.soak [--streams 1000] [--minutes 30] [--tracemalloc]

One QuartFeed process with the memory:// bus, as `make run` serves it. Each
reader follows the author (`targets.seed`). Each second, CHURN of the open
streams are dropped by the client; each of them comes back RECONNECT_S
later with its Last-Event-ID, as EventSource does, and the server replays
what it missed. Every minute the server's RSS is read from /proc.

Before the streams open and after they have all closed, the server is left
alone for SETTLE_S, asked nothing, and its RSS read: "before" and "after".
A short warm-up of the same load comes first, so that what the server
allocates once (compiled statements, lazily imported code) is in "before".

With --tracemalloc the server traces its allocations (bench/traced_app.py)
and writes what is alive after the streams closed that was not before to
bench/results/soak-tracemalloc.txt; its RSS figures then include the
tracing's own memory and mean nothing.
"""

import argparse
import asyncio
import contextlib
import random
import re
import signal
import time
from dataclasses import dataclass, field

import httpx

from bench import targets
from bench.client import MARKER, Stream, open_stream
from bench.common import RESULTS, Server, prepare_client, print_table, wait_for_file
from feed.wire import RETRY_MS
from tests.live import expect_streams_on_the_server, streams_on_the_server

CHURN = (0.02, 0.05)  # the share of open streams dropped each second: 2 to 5 %
RECONNECT_S = RETRY_MS / 1000  # how long a browser waits before it reconnects
POST_INTERVAL_S = 1.0
SAMPLE_EVERY_S = 60
SETTLE_S = 30
WARM_UP_STREAMS = 20
WARM_UP_S = 10
OPENING_AT_ONCE = 25  # connections being opened at a time (see bench.client)
# Bounds on every wait, so that the soak always finishes.
DELIVERY_PATIENCE_S = 60
CLOSE_TIMEOUT_S = 60
CONNECT_TIMEOUT_S = 300
TRACED_DATABASE_TIMEOUT_S = 60
TRACE_WRITE_TIMEOUT_S = 300  # comparing two snapshots of a large heap takes a while
EVENT_ID = re.compile(rb"^id: ([^\n]*)$", re.MULTILINE)
TARGET_RATIO = 1.05  # RSS after the streams closed, at most 5 % above before
TRACE_OUTPUT = RESULTS / "soak-tracemalloc.txt"


@dataclass
class Reader:
    """One reader's browser: it holds its stream open, reconnects after
    RECONNECT_S whenever the stream ends, and resumes from the last event id
    it saw. `delivered` counts the posts it received."""

    cookie: str
    last_event_id: str | None = None
    delivered: int = 0
    connected: bool = False
    _writer: asyncio.StreamWriter | None = None
    _partial: bytes = b""  # the start of a frame whose end has not come yet

    async def keep_open(self, soak: "Soak") -> None:
        while not soak.closing:
            async with soak.opening:
                try:
                    stream = await open_stream(
                        soak.server.port, "/sse", self.cookie, self.last_event_id
                    )
                except (RuntimeError, OSError, asyncio.IncompleteReadError):
                    soak.refused += 1
                    stream = None
            if stream is not None:
                await self.listen(stream)
            if not soak.closing:
                await asyncio.sleep(RECONNECT_S)

    async def listen(self, stream: Stream) -> None:
        """Read the stream until it ends, whoever ends it."""
        self._writer, self.connected, self._partial = stream.writer, True, b""
        self.take(stream.opening)
        with contextlib.suppress(ConnectionError):
            while chunk := await stream.reader.read(65536):
                self.take(chunk)
        self.connected = False
        stream.close()

    def take(self, chunk: bytes) -> None:
        """Count the posts in the frames that are whole, and note their last id."""
        frames, _, self._partial = (self._partial + chunk).rpartition(b"\n\n")
        self.delivered += len(MARKER.findall(frames))
        if ids := EVENT_ID.findall(frames):
            self.last_event_id = ids[-1].decode()

    def drop(self) -> None:
        """Close the connection, as a network that fails would."""
        if self._writer is not None:
            self._writer.close()


@dataclass
class Sample:
    minute: float
    rss_kib: int
    streams: int  # open on the server, by its own count
    delivered: int  # posts received, over every stream, so far


@dataclass
class Soak:
    """The readers, the author and what was measured: the load of one run."""

    server: Server
    readers: list[Reader]
    send: targets.Send
    http: httpx.AsyncClient
    opening: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(OPENING_AT_ONCE))
    posting: bool = False  # the author goes on posting
    closing: bool = False  # the readers stop reconnecting
    refused: int = 0  # connections the server refused or failed
    posts: int = 0
    failed_posts: int = 0
    samples: list[Sample] = field(default_factory=list)

    @property
    def delivered(self) -> int:
        return sum(reader.delivered for reader in self.readers)

    async def run(self, seconds: float, sample: bool) -> None:
        """Open every reader's stream, then post and drop streams for
        `seconds`, RSS sampled each minute if `sample`; then wait until every
        post has reached every reader, and close every stream."""
        self.closing, self.posting = False, True
        for reader in self.readers:
            reader.delivered = 0
        browsers = [asyncio.create_task(reader.keep_open(self)) for reader in self.readers]
        await self.until_connected()
        started = time.monotonic()
        if sample:
            await self.sample(started)
        posting = asyncio.create_task(self.post_every_second())
        while (elapsed := time.monotonic() - started) < seconds:
            self.churn()
            await asyncio.sleep(1)
            if sample and elapsed // SAMPLE_EVERY_S < (elapsed + 1) // SAMPLE_EVERY_S:
                await self.sample(started)
        self.posting = False
        await posting  # its last post, answered: every reader must have it
        await self.until_connected()
        await self.until_delivered()
        self.closing = True
        for reader in self.readers:
            reader.drop()
        await asyncio.gather(*browsers)
        await expect_streams_on_the_server(self.server, 0, CLOSE_TIMEOUT_S)

    async def until_connected(self) -> None:
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while not all(reader.connected for reader in self.readers):  # noqa: ASYNC110
            if time.monotonic() > deadline:
                raise RuntimeError(f"streams still not open after {CONNECT_TIMEOUT_S} s")
            await asyncio.sleep(0.1)

    async def until_delivered(self) -> None:
        """Until each reader has each post (or DELIVERY_PATIENCE_S has passed)."""
        deadline = time.monotonic() + DELIVERY_PATIENCE_S
        while self.delivered < self.posts * len(self.readers) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)

    def churn(self) -> None:
        connected = [reader for reader in self.readers if reader.connected]
        share = random.uniform(*CHURN)
        for reader in random.sample(connected, round(share * len(connected))):
            reader.drop()

    async def post_every_second(self) -> None:
        """Post on a schedule, not after each answer: a slow answer delays
        no later post. A post that fails is counted, not retried."""
        start, sent = time.monotonic(), 0
        while self.posting:
            await asyncio.sleep(max(0.0, start + sent * POST_INTERVAL_S - time.monotonic()))
            sent += 1
            self.posts += 1
            try:
                await self.send(self.http, self.posts)
            except httpx.HTTPError:
                self.posts -= 1
                self.failed_posts += 1

    async def sample(self, started: float) -> None:
        streams = await streams_on_the_server(self.server)
        minute = (time.monotonic() - started) / 60
        self.samples.append(Sample(minute, self.server.rss_kib(), streams, self.delivered))
        print(f"  minute {minute:.1f}: RSS {self.samples[-1].rss_kib:,} KiB", flush=True)

    def missing_and_duplicates(self) -> tuple[int, int]:
        missing = sum(max(0, self.posts - reader.delivered) for reader in self.readers)
        duplicates = sum(max(0, reader.delivered - self.posts) for reader in self.readers)
        return missing, duplicates


@dataclass
class Report:
    before_kib: int
    peak_kib: int
    after_kib: int
    soak: Soak

    @property
    def ratio(self) -> float:
        return self.after_kib / self.before_kib


async def settled_rss(server: Server, settle_s: float) -> int:
    """The server's RSS after `settle_s` with nothing to do but its heartbeat."""
    await asyncio.sleep(settle_s)  # the measurement: nothing happens, on purpose
    return server.rss_kib()


async def soak(
    server: Server, streams: int, minutes: float, settle_s: float, trace: bool
) -> Report:
    """Warm up, settle, open every stream and run the load, close, settle."""
    snapshot = server.process.send_signal if trace else lambda signum: None
    readers = [Reader(cookie) for cookie in await targets.reader_cookies(streams)]
    send = await targets.author_sender(streams)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        warm_up = Soak(server, readers[:WARM_UP_STREAMS], send, http)
        await warm_up.run(WARM_UP_S, sample=False)
        before = await settled_rss(server, settle_s)
        snapshot(signal.SIGUSR1)  # the reference (bench/traced_app.py)
        load = Soak(server, readers, send, http)
        await load.run(minutes * 60, sample=True)
    after = await settled_rss(server, settle_s)
    snapshot(signal.SIGUSR2)  # what grew since the reference
    peak = max(sample.rss_kib for sample in load.samples)
    return Report(before, peak, after, load)


def print_report(report: Report, streams: int, minutes: float) -> None:
    rows = [[s.minute, s.rss_kib, s.streams, s.delivered] for s in report.soak.samples]
    headers = ["minute", "RSS KiB", "streams open", "events delivered"]
    print_table(f"15. Soak: {streams:,} streams for {minutes:g} minutes", headers, rows)
    load = report.soak
    missing, duplicates = load.missing_and_duplicates()
    print(
        f"\n{load.posts:,} posts ({load.failed_posts} failed), each to {streams:,} readers: "
        f"{load.delivered:,} delivered, {missing} missing, {duplicates} twice; "
        f"{load.refused} connections refused"
    )
    headers = ["before streams KiB", "peak KiB", "after close KiB", "after ÷ before", "target"]
    row = [report.before_kib, report.peak_kib, report.after_kib, report.ratio, TARGET_RATIO]
    print_table("RSS before, at the peak, and after every stream closed", headers, [row])


def ensure_readers(streams: int) -> None:
    """The bench database with `streams` readers who follow `author<streams>`:
    the one there, or a fresh one seeded if it has none."""
    targets.prepare_database(fresh=False)
    if asyncio.run(targets.user_id(f"author{streams}")) is None:
        print("Seeding the bench database…", flush=True)
        targets.prepare_database(fresh=True)
        asyncio.run(targets.seed([streams]))


def server_for(trace: bool) -> Server:
    """One process, the one hypercorn runs in (no workers), as `make run` serves."""
    if not trace:
        return targets.quartfeed_server(workers=0)
    TRACE_OUTPUT.unlink(missing_ok=True)  # an earlier run's must not pass for this one's
    return targets.quartfeed_server(
        workers=0,
        app="bench.traced_app:create_app()",
        TRACEMALLOC_OUTPUT=str(TRACE_OUTPUT),
        # Traced, every statement's work takes several times as long: a
        # thousand streams opening at once would time out waiting for it.
        DATABASE_TIMEOUT_S=str(TRACED_DATABASE_TIMEOUT_S),
    )


def main(streams: int, minutes: float, settle_s: float = SETTLE_S, trace: bool = False) -> Report:
    prepare_client()
    RESULTS.mkdir(exist_ok=True)
    server = server_for(trace)
    with server:
        report = asyncio.run(soak(server, streams, minutes, settle_s, trace))
        if trace:
            wait_for_file(TRACE_OUTPUT, TRACE_WRITE_TIMEOUT_S)
            print(f"What the server still holds: {TRACE_OUTPUT}")
    print_report(report, streams, minutes)
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--settle", type=float, default=SETTLE_S, help="seconds left idle")
    parser.add_argument("--tracemalloc", action="store_true", help="what the server holds on to")
    options = parser.parse_args()
    ensure_readers(options.streams)
    main(options.streams, options.minutes, options.settle, options.tracemalloc)
