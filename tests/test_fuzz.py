"""Malformed requests to every route: whatever arrives, nothing answers 5xx.

Thousands of requests go to every route in `app.url_map` (a new route is
covered without touching this file), logged out and logged in, on MySQL and
on SQLite. Most carry the session's CSRF token, so that they get past the
check and reach the views. Each family of bad input is a method of
`BadRequests`: every method, every odd number in every numeric parameter,
query parameters that collide with url_for's own arguments, every odd value
in the fields of a JSON body or a form, broken JSON, multipart bodies,
mismatched content types, odd headers and paths, and bodies as large as a
request may be. Where a family cannot try everything, a seeded
random.Random chooses, so every run sends the same requests.

The tests at the end pin down, one by one, requests that once answered 500.
"""

import asyncio
import json
import random
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest

from group.models import create_group
from post.models import UNSTORABLE_TEXT_RULE
from relationship.models import follow
from tests.helpers import (
    PASSWORD,
    count_rows,
    create_users,
    csrf_token_from,
    login,
    post_json,
    register,
    register_and_login,
    text_of,
    user_ids,
    without_rate_limits,
)
from user.models import create_user, user_by_name
from utilities.pagination import MAX_ID

SEED = 20260525
RANDOM_PER_ROUTE = 2  # requests of each random family, for each route
HUGE_REQUESTS = 6  # to as many routes that take a POST: each takes a moment
STREAM_DEADLINE = 0.05  # seconds: a stream still open this long after its headers works
ANSWER_DEADLINE = 10  # seconds: a request unanswered this long has failed
FILES = ["js/broadcast.js", "css/quartfeed.css"]

METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "PROPFIND", "get"]
NUMERIC_KEYS = ["page", "before", "cursor"]
QUERY_KEYS = [
    *NUMERIC_KEYS,
    *["next", "q"],
    # url_for's own arguments, and the names of route variables.
    *["endpoint", "_method", "_external", "_anchor", "_scheme", "username", "filename"],
]
# What a lenient parser takes for a number: other digits, other notations,
# and values at and beyond 64 bits.
ODD_NUMBERS = [
    *["-1", "-0", "+1", " 1", "1 ", "1_000", "0x10", "", "²", "٣", "１"],
    *["1.5", "1e3", "1E400", "NaN", "inf", str(MAX_ID), str(MAX_ID + 1)],
    *[str(2**64), "9" * 20, "9" * 5000],
]
NUMBERS = ["0", "1", "2", "00", *ODD_NUMBERS]
ODD_TEXT = [
    *["\ud800", "a\udfffb", "\udbff\udfff", "\x00", "nul\x00inside", "\ufeffbom", "\u202eevil"],
    *["", " ", "x" * 281, " " * 300, "😀" * 281, "x" * 5000, "<script>alert(1)</script>"],
    *["//evil.example", "https://evil.example", "/\\evil.example", "javascript:alert(1)"],
]
ODD_JSON_VALUES = [None, True, 0, -1, 2**63, 2**64, 1.5, 1e308, float("nan"), float("inf")]
ODD_JSON_VALUES += [[], {}, ["x"], {"post": "x"}, [[[["deep"]]]], *ODD_TEXT, *ODD_NUMBERS]
# Bytes no UTF-8 decoder should accept: invalid, a surrogate, overlong,
# beyond U+10FFFF, a lone continuation byte; and a BOM and a NUL, which it does.
ODD_BYTES = [b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\xc0\xaf", b"\xe0\x80\xaf"]
ODD_BYTES += [b"\xf4\x90\x80\x80", b"\x80", b"\xef\xbb\xbfbom", b"\x00", b"\xb2"]
DEEP = 100_000
BROKEN_JSON = [
    *[b"[" * DEEP, b'{"a":' * DEEP, b'{"post": ' + b"[" * DEEP, b"[" * 5000 + b"]" * 5000],
    *[b"", b"null", b"NaN", b"-Infinity", b'"text"', b"[1, 2]", b"\x00", b"{'post': 'x'}"],
    *[b'{"post": "\\ud800"}', b'{"post_uid": "\\u0000"}', b'{"post": "x", "post": 1}'],
    *[b'{"post": "\xff"}', b'{"post": "\xed\xa0\x80"}', b'{"post": "\xc0\xaf"}'],
    *[b'\xef\xbb\xbf{"post": "bom"}', '{"post": "utf-16"}'.encode("utf-16")],
    *[b'{"post": 1' + b"0" * 5000 + b"}", b'{"post": "x"} trailing', b'{"post": "x', b'"\\x"'],
]
JSON_TYPES = ["application/json", "application/json; charset=latin-1", "application/x+json"]
OTHER_TYPES = [
    *["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"],
    *["application/x-www-form-urlencoded; charset=utf-16", "multipart/form-data; boundary="],
    *["multipart/form-data; boundary=" + "b" * 200, "image/png", "*/*", "", "a/b/c", "json\xff"],
]
FILE_STARTS = [b"", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"\xff\xd8\xff", b"RIFF\0\0\0\0WEBP"]
ODD_SEGMENTS = [
    *["", ".", "..", "../..", "%2e%2e", "..%2f..%2fapplication.py", "%00", "a%00b", "%2f"],
    *["%ff", "%ed%a0%80", "%c0%af", "%ef%bb%bfx", "%c2%b2", "x" * 16, "a" * 300, "a/" * 100],
]
ODD_HEADERS = {
    "Accept": ["application/json", "application/json;q=abc", "*/*;q=2", "text/html;q=0", ";;"],
    "X-CSRFToken": ["", "\xb2", "\xff" * 64, "x" * 8192],
    "Cookie": ["session=", "session=garbage", "session=\xff", "session=" + "a" * 4096],
    "Content-Length": ["abc", "-1", "1e3", str(2**64), "0"],
    "Host": ["", "evil.example", "[", "a b", "localhost:99999", "\xff"],
    "Content-Type": [*JSON_TYPES, *OTHER_TYPES],
}


@dataclass
class Probe:
    """One request: the path is percent-encoded and carries the query string."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def __str__(self) -> str:
        headers = {name: value[:40] for name, value in self.headers.items()}
        return f"{self.method} {self.path[:120]} {headers} {self.body[:60]!r}"


def utf8(text: str) -> bytes:
    """`text` in UTF-8, a lone surrogate included (as a careless encoder writes it)."""
    return text.encode("utf-8", "surrogatepass")


def as_header(text: str) -> str:
    """`text` as its UTF-8 bytes reach the app in a header (which is Latin-1)."""
    return utf8(text).decode("latin-1")


ENDS_SESSION = {"user.logout", "account.delete_account"}


class BadRequests:
    """Malformed requests to the app's routes, a family of bad input at a time.

    `known` gives real values for the route variables (usernames, file names)
    and the fields (a post's uid, a password): a request that gets past the
    first lookup brings its bad input deeper into the app.
    """

    def __init__(self, app, seed: int, known: dict[str, list[str]], csrf_token: str):
        self.rng = random.Random(seed)
        # Logging out (or deleting the account, whose password is known)
        # would end the session that the other requests need.
        self.rules = sorted(
            app.url_map.iter_rules(), key=lambda rule: (rule.endpoint in ENDS_SESSION, rule.rule)
        )
        self.post_rules = [rule for rule in self.rules if "POST" in rule.methods]
        self.huge_rules = self.rng.sample(self.post_rules, HUGE_REQUESTS)
        self.known = known
        self.csrf_token = csrf_token
        self.max_body = app.config["MAX_CONTENT_LENGTH"]
        self.fields = {
            "post": "hello",
            "comment": "hi",
            "post_uid": self.rng.choice(known["post_uid"]),
            "username": self.rng.choice(known["username"]),
            "password": PASSWORD,
            "csrf_token": csrf_token,
            "next": "/",
            "q": "ta",
            "name": "a group",
            "description": "about it",
        }

    def all(self) -> list[Probe]:
        """Every family's requests, route by route."""
        probes = []
        random_families = [
            self.odd_header,
            self.odd_multipart,
            self.mismatched_type,
            self.odd_path,
        ]
        for rule in self.rules:
            probes += self.every_method(rule)
            probes += self.every_number(rule)
            probes += self.every_colliding_parameter(rule)
            if rule in self.post_rules:
                probes += self.every_odd_field(rule)
                probes += [self.json_request(rule, body) for body in BROKEN_JSON]
            if rule in self.huge_rules:
                probes.append(self.huge(rule))
            for family in random_families:
                probes += [family(rule) for _ in range(RANDOM_PER_ROUTE)]
        return [self.with_csrf_token(probe) for probe in probes]

    def with_csrf_token(self, probe: Probe) -> Probe:
        """Mostly the right token, so the request reaches the view; else none."""
        if self.rng.random() < 0.8:
            probe.headers.setdefault("X-CSRFToken", self.csrf_token)
        return probe

    # --- Pieces of requests --------------------------------------------------

    def path(self, rule, odd: bool = False) -> str:
        """The rule's path with its variables filled in, with odd values if `odd`."""

        def value(variable: re.Match) -> str:
            known = self.known.get(variable["name"], self.known["username"])
            return self.rng.choice(ODD_SEGMENTS if odd else known)

        return re.sub(r"<(?:\w+:)?(?P<name>\w+)>", value, rule.rule)

    def method(self, rule) -> str:
        """One of the rule's own methods (OPTIONS, answered by Quart, is in every_method)."""
        return self.rng.choice(sorted(rule.methods - {"OPTIONS"}))

    def odd_text(self) -> str:
        return self.rng.choice(ODD_TEXT)

    def fields_with(self, odd_value) -> dict:
        """The plausible fields, about half of them holding `odd_value` instead."""
        return {
            name: odd_value if self.rng.random() < 0.5 else value
            for name, value in self.fields.items()
        }

    def json_request(self, rule, body: bytes) -> Probe:
        headers = {"Content-Type": self.rng.choice(JSON_TYPES)}
        return Probe("POST", self.path(rule), headers, body)

    def form_request(self, rule, fields: dict) -> Probe:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return Probe("POST", self.path(rule), headers, urlencode(fields).encode())

    def multipart_body(self, boundary: str) -> bytes:
        parts = []
        for name in self.rng.sample([*self.fields, "profile_image"], self.rng.randint(0, 4)):
            disposition = f'form-data; name="{name}"'
            if self.rng.random() < 0.5:
                disposition += f'; filename="{self.rng.choice(["", "a.png", "a" * 300])}"'
            content = self.rng.choice(FILE_STARTS) + self.rng.randbytes(self.rng.randint(0, 64))
            value = self.rng.choice([content, self.rng.choice(ODD_BYTES), b"target"])
            parts.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode())
            parts.append(value + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        if self.rng.random() < 0.3:
            body = body[: self.rng.randint(0, len(body))]  # cut short
        return body

    # --- Every value of a family, for every route ----------------------------

    def every_method(self, rule) -> list[Probe]:
        return [Probe(method, self.path(rule)) for method in METHODS]

    def every_number(self, rule) -> list[Probe]:
        """Each number in every numeric query parameter, then as Last-Event-ID."""
        probes = []
        for number in NUMBERS:
            query = urlencode([(key, number) for key in NUMERIC_KEYS])
            probes.append(Probe(self.method(rule), f"{self.path(rule)}?{query}"))
            headers = {"Last-Event-ID": as_header(number)}
            probes.append(Probe(self.method(rule), self.path(rule), headers))
        probes.append(Probe("GET", self.path(rule), {"Last-Event-ID": "\xb2"}))  # a raw byte
        return probes

    def every_colliding_parameter(self, rule) -> list[Probe]:
        """Page 2 (which links to page 1) with each parameter, twice over."""
        probes = []
        for key in QUERY_KEYS:
            pairs = [("page", "2"), (key, utf8(self.odd_text())), (key, "x")]
            probes.append(Probe(self.method(rule), f"{self.path(rule)}?{urlencode(pairs)}"))
        return probes

    def every_odd_field(self, rule) -> list[Probe]:
        """Each odd value in the fields of a JSON body and of a form."""
        probes = []
        for value in ODD_JSON_VALUES:
            # In every field, each check meets it; in some, it gets past the first.
            fields = self.rng.choice([dict.fromkeys(self.fields, value), self.fields_with(value)])
            text = json.dumps(fields, ensure_ascii=self.rng.random() < 0.5)
            probes.append(self.json_request(rule, utf8(text)))
        for value in [*ODD_TEXT, *NUMBERS, *ODD_BYTES]:
            if isinstance(value, str):
                value = utf8(value)
            probes.append(self.form_request(rule, self.fields_with(value)))
        return probes

    # --- Random families -----------------------------------------------------

    def odd_header(self, rule) -> Probe:
        names = self.rng.sample(sorted(ODD_HEADERS), self.rng.randint(1, 2))
        headers = {name: self.rng.choice(ODD_HEADERS[name]) for name in names}
        return Probe(self.method(rule), self.path(rule), headers)

    def odd_multipart(self, rule) -> Probe:
        boundary = self.rng.choice(["QuartFeedBoundary", "b" * 70, "--", "é"])
        # Sometimes the header names another boundary than the body uses.
        header_boundary = boundary if self.rng.random() < 0.8 else "other"
        headers = {"Content-Type": as_header(f"multipart/form-data; boundary={header_boundary}")}
        return Probe("POST", self.path(rule), headers, self.multipart_body(boundary))

    def mismatched_type(self, rule) -> Probe:
        """A JSON, form or multipart body, sent as another type or as none."""
        bodies = [
            utf8(json.dumps(self.fields_with(self.odd_text()))),
            urlencode(self.fields_with(utf8(self.odd_text()))).encode(),
            self.multipart_body("b"),
        ]
        headers = {"Content-Type": self.rng.choice([*JSON_TYPES, *OTHER_TYPES])}
        if self.rng.random() < 0.2:
            del headers["Content-Type"]
        return Probe("POST", self.path(rule), headers, self.rng.choice(bodies))

    def odd_path(self, rule) -> Probe:
        ending = self.rng.choice(["", "/", "//", "/..", "/.", "%00", "/%2e%2e/", "/" + "a" * 300])
        beginning = self.rng.choice(["", "/static", "/media", "/user/%00"])
        path = beginning + self.path(rule, odd=True).rstrip("/") + ending
        # Not "//…": the test client would read what follows as a host name.
        return Probe(self.method(rule), "/" + path.lstrip("/"))

    def huge(self, rule) -> Probe:
        """A body or field about as large as a request may be, or just larger."""
        size = self.max_body + self.rng.choice([-200, 1])
        bodies = {
            "application/json": b'{"post": "' + b"x" * (size - 13) + b'"}',
            "application/x-www-form-urlencoded": b"post=" + b"%00" * ((size - 5) // 3),
            "multipart/form-data; boundary=b": self.multipart_body("b").ljust(size, b"\0"),
        }
        content_type = self.rng.choice(sorted(bodies))
        return Probe("POST", self.path(rule), {"Content-Type": content_type}, bodies[content_type])


# --- Sending them ------------------------------------------------------------


async def read_body(connection) -> bytes:
    """Read until the body ends or proves to be a stream; give up after ANSWER_DEADLINE."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + ANSWER_DEADLINE
    body = b""
    while loop.time() < give_up:
        try:
            chunk = await asyncio.wait_for(connection.receive(), STREAM_DEADLINE)
        except TimeoutError:
            if connection.status_code is not None:
                break  # a stream, answered and still open
            continue  # not answered yet
        if chunk == b"":
            break  # Quart ends every body with an empty chunk
        body += chunk
    return body


def raw_headers(client, probe: Probe) -> list[tuple[bytes, bytes]]:
    """The probe's headers, one byte per character, with the client's cookies.

    The test client would encode header values in UTF-8, so a raw byte such
    as 0xB2 could not be sent: "\xb2" would arrive as "Â²".
    """
    cookies = "; ".join(f"{cookie.name}={cookie.value}" for cookie in client.cookie_jar)
    headers = [("Host", "localhost"), ("Cookie", cookies), *probe.headers.items()]
    return [(name.lower().encode(), value.encode("latin-1")) for name, value in headers]


async def send(client, probe: Probe) -> tuple[int | None, bytes]:
    """The status and body `probe` is answered with; no status if no answer in time.

    An event stream never ends by itself: it is closed, as a browser would
    close it, once it has been open for STREAM_DEADLINE. An error raised
    while a body is streamed comes out of the `async with`.
    """
    scope = {"headers": raw_headers(client, probe)}
    async with client.request(probe.path, method=probe.method, scope_base=scope) as connection:
        await connection.send(probe.body)
        await connection.send_complete()
        body = await read_body(connection)
        await connection.disconnect()
    return connection.status_code, body


async def failures_of(client, probes: list[Probe]) -> list[str]:
    failures = []
    for probe in probes:
        try:
            status, _ = await send(client, probe)
        except Exception as error:  # a stream that broke after its headers
            failures.append(f"{probe} -> {type(error).__name__}: {error}")
            continue
        if status is None or status >= 500:
            failures.append(f"{probe} -> {status or 'no answer'}")
    return failures


async def assert_no_failures(app, client, seed: int, known: dict, csrf_token: str) -> None:
    probes = BadRequests(app, seed, known, csrf_token).all()
    failures = await failures_of(client, probes)
    shown = "\n".join(failures[:40])
    assert not failures, f"{len(failures)} of {len(probes)} malformed requests failed:\n{shown}"


@pytest.fixture
def app_config(app_config):
    """The app without rate limits: past them, thousands of requests would get
    a 429 before the view reads their bad input."""
    return without_rate_limits(app_config)


async def known_values(database, feed, usernames: list[str]) -> dict[str, list[str]]:
    """Real values for route variables and fields: people, files, a post's
    uid, a group's slug."""
    await create_user(database, "target", PASSWORD)
    target = await user_by_name(database, "target")
    post, _ = await feed.create_post(target, "a post")
    slug = await create_group(database, target["id"], "target")
    return {"username": usernames, "filename": FILES, "post_uid": [post["uid"]], "slug": [slug]}


async def test_no_malformed_request_fails_logged_out(app, client, database, feed):
    known = await known_values(database, feed, ["target"])
    await assert_no_failures(app, client, SEED, known, await csrf_token_from(client, "/login"))


async def test_no_malformed_request_fails_logged_in(app, client, database, feed):
    await register_and_login(client, "fuzzer")
    known = await known_values(database, feed, ["fuzzer", "target"])
    ids = await user_ids(database)
    await follow(database, ids["fuzzer"], ids["target"])
    await assert_no_failures(app, client, SEED + 1, known, await csrf_token_from(client, "/"))


# --- Requests that once answered 500 -----------------------------------------


def feed_id_rule(name: str) -> dict:
    return {"error": f"{name} must be an id (a whole number)."}


@pytest.mark.parametrize(
    ("path", "field", "text"),
    [
        ("/post", "post", "\ud800"),  # a lone surrogate
        ("/comment", "comment", "a\x00b"),
        ("/comment", "post_uid", "\ud800"),
        ("/like", "post_uid", "a\x00b"),
        ("/unlike", "post_uid", "\udfff"),
    ],
)
async def test_text_no_database_can_store_is_400(client, database, path, field, text):
    await register_and_login(client, "alice")
    fields = {"post": "hello", "comment": "hi", "post_uid": "a uid", field: text}
    response = await post_json(client, path, fields)
    assert response.status_code == 400
    assert await response.get_json() == {"error": UNSTORABLE_TEXT_RULE}
    assert await count_rows(database, "post") == 0


@pytest.mark.parametrize(
    "body",
    [b"[" * DEEP, b'{"post": "\xff"}', b'{"post": "x'],
    ids=["deeply-nested", "invalid-utf-8", "cut-short"],
)
async def test_body_that_is_not_json_is_400(client, body):
    await register_and_login(client, "alice")
    headers = {
        "Content-Type": "application/json",
        "X-CSRFToken": await csrf_token_from(client, "/"),
    }
    response = await client.post("/post", data=body, headers=headers)
    assert response.status_code == 400
    assert await response.get_json() == {"error": "The body is not valid JSON."}


@pytest.mark.parametrize("feed_id", ["²", "٣", str(MAX_ID + 1)])
async def test_feed_id_beyond_ascii_digits_or_64_bits_is_400(client, feed_id):
    await register_and_login(client, "alice")
    query = urlencode({"before": feed_id})
    probe = Probe("GET", f"/feed?{query}", {"Accept": "application/json"})
    status, body = await send(client, probe)
    assert (status, json.loads(body)) == (400, feed_id_rule("before"))


@pytest.mark.parametrize(
    "cursor", ["\xb2", "E/home=²", "E/home=" + "9" * 19], ids=["raw-0xB2", "digit", "2**63"]
)
async def test_last_event_id_that_is_no_position_is_400(client, cursor):
    await register_and_login(client, "alice")
    headers = {"Last-Event-ID": cursor, "Accept": "text/event-stream"}  # as EventSource sends
    status, body = await send(client, Probe("GET", "/sse", headers))
    assert status == 400
    assert json.loads(body)["error"].startswith("Last-Event-ID: ")


async def test_largest_feed_id_is_a_cursor_like_any_other(client):
    await register_and_login(client, "alice")
    response = await client.get(f"/feed?before={MAX_ID}", headers={"Accept": "application/json"})
    assert response.status_code == 200
    assert await response.get_json() == {"posts": [], "next_before": None}


async def test_login_with_a_password_too_long_to_hash_is_incorrect(client):
    await register(client, "alice")
    response = await login(client, "alice", "x" * 5000)
    assert response.status_code == 200
    assert "Incorrect username or password" in await text_of(response)


@pytest.mark.parametrize("path", ["/user/star/followers", "/user/star/following", "/people"])
@pytest.mark.parametrize("parameter", ["username=x", "endpoint=x", "_method=POST"])
async def test_page_links_keep_parameters_named_like_url_for_arguments(
    client, database, path, parameter
):
    await register_and_login(client, "alice")
    await create_users(database, ["star"])
    response = await client.get(f"{path}?page=2&{parameter}")
    assert response.status_code == 200
    assert f'href="{path}?page=1&amp;{parameter}"' in await text_of(response)
