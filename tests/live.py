"""A real QuartFeed on Hypercorn, and people who use it over HTTP.

Used by the event-stream tests (and the browser tests): the server runs in
its own process on a free loopback port, exactly as `make run` serves it.
"""

import asyncio
import json
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

import httpx

from bench.common import Server, free_port, hypercorn
from settings import RATE_LIMITS
from tests.conftest import REDIS_URL, redis_available
from tests.helpers import CSRF_META, PASSWORD, STREAM_CURSOR

# A module's tests share one server and sign many people up from one address:
# limits high enough never to be met. tests/test_ratelimit.py tests the limits.
UNLIMITED = {name: "1000000/1" for name in RATE_LIMITS}


def server_environment(
    database_url: str, broker_url: str = "memory://", media_root: str | None = None
) -> dict[str, str]:
    """The settings of a test server; `media_root` keeps uploads out of instance/."""
    environment = {
        "DATABASE_URL": database_url,
        "BROKER_URL": broker_url,
        "SECRET_KEY": "live-test-secret",
        "SSE_HEARTBEAT_S": "15",
        # Two processes writing to one SQLite file take turns for the whole
        # file; with the suite loading both cores, a turn can come later
        # than the default 5 s allows.
        "DATABASE_TIMEOUT_S": "20",
        # A test server's fan-out workers run when its own writes wake them:
        # sweeping for work left by others, they would take the fan-outs of
        # other tests on the same database (a worker's database outlives a
        # module's server) while those tests look at them.
        "FANOUT_SWEEP_S": "3600",
        **UNLIMITED,
    }
    if media_root is not None:
        environment["MEDIA_ROOT"] = media_root
    return environment


class LiveServer(Server):
    """`hypercorn --workers 0 "application:create_app()"` on 127.0.0.1, in a
    subprocess, as `make run` serves it."""

    def __init__(
        self, environment: dict[str, str], port: int | None = None, graceful_timeout_s: float = 1
    ) -> None:
        """`port`: a fixed port, e.g. to restart a stopped server where it was."""
        # A short grace period by default: a stop need not wait long.
        command = hypercorn(
            "application:create_app()", workers=0, graceful_timeout_s=graceful_timeout_s
        )
        super().__init__("QuartFeed", command, environment, port=port or free_port())


@contextmanager
def processes_over_redis(database_url: str, count: int = 2, broker_url: str | None = None):
    """`count` QuartFeed processes on one database, their buses joined
    through Redis (the test server, or `broker_url`, say a cluster's): what
    a deployment with several processes is."""
    if broker_url is None:
        redis_available()
    environment = server_environment(database_url, broker_url or REDIS_URL)
    servers = [LiveServer(environment).start() for _ in range(count)]
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


async def streams_on_the_server(server: Server) -> int:
    """How many event streams the server holds open: its /healthz says, when
    COUNT_STATEMENTS is on."""
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        return (await http.get("/healthz")).json()["streams"]


async def expect_streams_on_the_server(server: Server, count: int, timeout_s: float = 10) -> None:
    """Wait until the server holds `count` streams open: it notices a stream
    that a browser closed a moment after. /healthz offers no event to wait
    for: ask again every 100 ms, as Playwright's `expect` does with a page."""
    try:
        async with asyncio.timeout(timeout_s):
            while await streams_on_the_server(server) != count:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
    except TimeoutError:
        held = await streams_on_the_server(server)
        raise AssertionError(f"The server holds {held} streams open, not {count}") from None


@dataclass
class Event:
    """One event of a stream: `id` is its number in `channel` (which the
    server names in its data, taken out of `data` here), `cursor` the
    stream's whole position after it."""

    id: int | None
    name: str
    data: dict
    cursor: str = ""
    channel: str | None = None


def positions_of(cursor: str) -> dict[str, int]:
    """{channel name: event id} of a cursor such as "E/home=3/group:1=2"."""
    return {
        name: int(seq) for name, _, seq in (part.partition("=") for part in cursor.split("/")[1:])
    }


def event_from(fields: dict[str, str]) -> Event:
    data = json.loads(fields["data"])
    channel = data.pop("channel", None)
    cursor = fields.get("id", "")
    event_id = positions_of(cursor).get(channel) if cursor else None
    return Event(event_id, fields["event"], data, cursor, channel)


# How long a test waits for an event it expects. The server pings idle
# streams, so without a deadline of its own a lost event would hang the test.
EVENT_DEADLINE_S = 10


class EventStream:
    """Reads Server-Sent Events from a streaming httpx response."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.aiter_lines()
        self.retry: int | None = None
        self.pings = 0
        self.received: list[Event] = []
        self.cursor = ""  # the last id: line, as the browser would send it back

    async def next(
        self, expected: str = "the next event", deadline_s: float = EVENT_DEADLINE_S
    ) -> Event:
        """The next event, or a failure naming the `expected` one if it does
        not come within `deadline_s`."""
        try:
            async with asyncio.timeout(deadline_s):
                event = await self._read_event()
        except TimeoutError:
            seen = [(event.id, event.name) for event in self.received]
            raise AssertionError(
                f"{expected} did not arrive within {deadline_s} s; the stream had sent {seen}"
            ) from None
        self.received.append(event)
        return event

    async def _read_event(self) -> Event:
        """Comments (pings), `retry:` and frames with only an `id:` are noted
        and skipped."""
        fields: dict[str, str] = {}
        async for line in self.lines:
            if line == "":
                if "event" in fields:
                    return event_from(fields)
                fields = {}
            elif line.startswith(":"):
                self.pings += 1
            else:
                name, _, value = line.partition(": ")
                if name == "retry":
                    self.retry = int(value)
                elif name == "id":
                    self.cursor = value
                fields[name] = value
        raise EOFError("the stream ended")

    async def subscribed(self) -> None:
        """Wait for the first `id:` line, which the server sends once it has
        subscribed the stream to the bus, after `retry:`."""
        async for line in self.lines:
            if line.startswith("retry: "):
                self.retry = int(line.removeprefix("retry: "))
            elif line.startswith("id: "):
                self.cursor = line.removeprefix("id: ")
                return
        raise EOFError("the stream ended")

    async def take(self, count: int) -> list[Event]:
        return [await self.next(f"event {number} of {count}") for number in range(1, count + 1)]


class Person:
    """Someone using QuartFeed over HTTP, as the page's own JavaScript would."""

    def __init__(self, server_url: str, username: str) -> None:
        self.username = username
        self.http = httpx.AsyncClient(base_url=server_url, timeout=20)
        self.csrf = ""

    async def _token(self, path: str) -> str:
        page = await self.http.get(path)
        return CSRF_META.search(page.text).group(1)

    async def sign_up(self) -> "Person":
        credentials = {"username": self.username, "password": PASSWORD}
        token = await self._token("/register")
        response = await self.http.post("/register", data={**credentials, "csrf_token": token})
        assert response.status_code == 302, f"{self.username} could not register"
        self.csrf = await self._token("/")  # registering logs in
        return self

    async def log_in(self) -> "Person":
        credentials = {"username": self.username, "password": PASSWORD}
        token = await self._token("/login")
        response = await self.http.post("/login", data={**credentials, "csrf_token": token})
        assert response.status_code == 302, f"{self.username} could not log in"
        self.csrf = await self._token("/")
        return self

    def on(self, server_url: str) -> "Person":
        """The same person, logged in, in a tab served by another server."""
        tab = Person(server_url, self.username)
        tab.http.cookies = self.http.cookies
        tab.csrf = self.csrf
        return tab

    async def send(self, path: str, payload: dict) -> dict:
        response = await self.http.post(path, json=payload, headers={"X-CSRFToken": self.csrf})
        assert response.status_code in (200, 201), response.text
        return response.json()

    async def post(self, text: str) -> dict:
        return await self.send("/post", {"post": text})

    async def comment(self, post_uid: str, text: str) -> dict:
        return await self.send("/comment", {"post_uid": post_uid, "comment": text})

    async def like(self, post_uid: str) -> dict:
        return await self.send("/like", {"post_uid": post_uid})

    async def unlike(self, post_uid: str) -> dict:
        return await self.send("/unlike", {"post_uid": post_uid})

    async def start_group(self, name: str, description: str = "") -> str:
        """Start a group with the form /groups shows; its slug."""
        form = {"name": name, "description": description, "csrf_token": self.csrf}
        answer = await self.http.post("/groups", data=form, headers={"Accept": "application/json"})
        assert answer.status_code == 201, answer.text
        return answer.json()["slug"]

    def stream(
        self, last_event_id: int | str | None = None, query_cursor: int | str | None = None
    ):
        """An open /sse stream of the home channel. `last_event_id` is sent as
        the browser's header, `query_cursor` as the page's ?cursor=: a whole
        cursor, or a number in the home channel."""
        return self.open_stream("/sse", "/", last_event_id, query_cursor)

    def group_stream(self, slug: str, last_event_id: int | str | None = None):
        """An open stream of a group's page."""
        return self.open_stream(f"/groups/{slug}/sse", f"/groups/{slug}", last_event_id)

    async def cursor_at(self, page: str, event_id: int) -> str:
        """The cursor of `page`'s channel at `event_id`, as the browser would
        hold it: the page names its channel and the epoch."""
        rendered = STREAM_CURSOR.search((await self.http.get(page)).text).group(1)
        epoch, channel = rendered.split("/")[0], next(iter(positions_of(rendered)))
        return f"{epoch}/{channel}={event_id}"

    @asynccontextmanager
    async def open_stream(
        self,
        path: str,
        page: str,
        last_event_id: int | str | None = None,
        query_cursor: int | str | None = None,
        channels: str | None = None,
    ):
        """A stream at `path` (of `channels`, if named); a number as a
        position is one in `page`'s channel."""
        headers = {"Accept": "text/event-stream"}
        if isinstance(last_event_id, int):
            last_event_id = await self.cursor_at(page, last_event_id)
        if isinstance(query_cursor, int):
            query_cursor = await self.cursor_at(page, query_cursor)
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        params = {"cursor": query_cursor} if query_cursor is not None else {}
        if channels is not None:
            params["channels"] = channels
        async with self.http.stream("GET", path, headers=headers, params=params) as response:
            assert response.status_code == 200, await response.aread()
            yield EventStream(response)

    async def close(self) -> None:
        await self.http.aclose()
