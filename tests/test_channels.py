"""Channels end to end, on a real Hypercorn server: a profile's own stream,
one stream carrying several channels and resuming each exactly, streams
that end with their session, resets, and a graceful stop.
"""

import asyncio
import signal
import types
import typing

import httpx
import pytest

from feed.channels import GROUP, HOME, PROFILE, Channel, Cursor, parse_cursor
from feed.describe import PAYLOADS
from feed.sse import MAX_REPLAY, plan_start
from group.models import group_by_slug
from tests import test_sse
from tests.live import (
    EventStream,
    LiveServer,
    Person,
    positions_of,
    processes_over_redis,
    server_environment,
)
from tests.test_sse import follows
from user.models import user_by_name

# The live server of this module, and the people who sign up on it.
server = test_sse.server
people = test_sse.people


async def user_id(database, person: Person) -> int:
    return (await user_by_name(database, person.username))["id"]


def multiplexed(person: Person, names: list[str], last_event_id: str | None = None):
    """A stream of several channels, as the tab that holds a browser's stream opens it."""
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    params = {"channels": ",".join(names)}
    return person.http.stream("GET", "/sse", headers=headers, params=params)


async def test_a_profile_is_live_for_anyone_logged_in(people, database):
    """bob follows no one: the profile's channel still tells him of alice's
    post, a comment on it, a like and its deletion, and resumes exactly."""
    alice, bob, carol = await people("alice", "bob", "carol")
    profile = f"/user/{alice.username}"
    channel = f"profile:{await user_id(database, alice)}"
    async with bob.open_stream("/sse", profile, query_cursor=0, channels=channel) as stream:
        post = await alice.post("on my profile")
        await carol.comment(post["uid"], "seen it")
        await carol.like(post["uid"])
        await alice.send("/delete", {"post_uid": post["uid"]})
        events = await stream.take(4)
    assert [(event.id, event.name) for event in events] == [
        (1, "post"), (2, "comment"), (3, "like"), (4, "delete"),
    ]  # fmt: skip
    assert {event.channel for event in events} == {channel}
    assert events[0].data["post"]["uid"] == post["uid"]
    resumed = events[1].cursor
    async with bob.open_stream("/sse", profile, last_event_id=resumed, channels=channel) as stream:
        replayed = await stream.take(1)  # the deletion: what it deleted is not replayed
        again = await alice.post("again")
        live = await stream.next()
    assert [(replayed[0].id, replayed[0].name), (live.id, live.name)] == [
        (4, "delete"),
        (5, "post"),
    ]
    assert live.data["post"]["uid"] == again["uid"]


async def test_one_stream_carries_several_channels_and_resumes_each(people, database):
    alice, bob = await people("alice", "bob")
    await follows(database, bob, alice)
    slug = await alice.start_group("Cyclists")
    group = await group_by_slug(database, slug, None)
    names = ["home", f"group:{group['id']}", f"profile:{await user_id(database, alice)}"]
    async with multiplexed(bob, names) as response:
        assert response.status_code == 200
        stream = EventStream(response)
        await stream.subscribed()
        ordinary = await alice.post("for my followers")  # home and profile
        in_group = await alice.send("/post", {"post": "for the group", "group": slug})
        first = await stream.take(4)
    channels = sorted((event.channel, event.id) for event in first)
    assert channels == sorted([
        ("home", 1), (names[2], 1),  # the ordinary post
        (names[1], 1), (names[2], 2),  # the group post, which bob's home does not get
    ])  # fmt: skip
    assert set(positions_of(first[-1].cursor)) == set(names)  # every id names every channel
    # From the cursor after the first event, the rest of each channel, exactly.
    async with multiplexed(bob, names, last_event_id=first[0].cursor) as response:
        stream = EventStream(response)
        rest = await stream.take(3)
        newest = await alice.post("one more")
        live = await stream.take(2)
    seen = [(event.channel, event.id) for event in first[1:]]
    assert sorted((event.channel, event.id) for event in rest) == sorted(seen)
    assert sorted((event.channel, event.id) for event in live) == [("home", 2), (names[2], 3)]
    assert {event.data["post"]["uid"] for event in live} == {newest["uid"]}
    assert in_group["uid"] != ordinary["uid"]


async def test_a_position_ahead_or_from_another_epoch_starts_over(people):
    (alice,) = await people("alice")
    await alice.post("one")
    rendered = await alice.cursor_at("/", 1)
    epoch = rendered.split("/")[0]
    for last_event_id in (f"{epoch}/home=99", f"other{epoch}/home=1", "57"):
        async with alice.stream(last_event_id=last_event_id) as stream:
            reset = await stream.next()
            post = await alice.post("after the reset")
            live = await stream.next()
        assert (reset.name, reset.data, positions_of(reset.cursor)) == (
            "reset", {"channels": ["home"]}, {"home": live.id - 1}
        )  # fmt: skip
        assert live.data["post"]["uid"] == post["uid"]


def test_a_position_far_behind_starts_over_and_one_within_reach_resumes():
    home, group = Channel(HOME, 1), Channel(GROUP, 2)
    newest = {home: MAX_REPLAY + 10, group: 5}
    far = Cursor("E", {home: 9, group: 3})
    start = plan_start("E", newest, far, None)
    assert (start.positions, start.reset) == ({home: MAX_REPLAY + 10, group: 3}, [home])
    near = Cursor("E", {home: 10})
    start = plan_start("E", newest, near, Cursor("E", {group: 4}))
    assert (start.positions, start.reset) == ({home: 10, group: 4}, [])


def test_last_event_id_from_another_epoch_resets_every_channel():
    home, profile = Channel(HOME, 1), Channel(PROFILE, 2)
    newest = {home: 4, profile: 8}
    start = plan_start("new", newest, Cursor("old", {home: 2}), Cursor("new", {profile: 7}))
    assert (start.positions, start.reset) == (newest, [home, profile])


def test_a_cursor_names_each_channel_relative_to_its_reader():
    cursor = parse_cursor("E/home=3/group:5=2/profile:7=9", viewer_id=42)
    assert cursor.positions == {
        Channel(HOME, 42): 3,
        Channel(GROUP, 5): 2,
        Channel(PROFILE, 7): 9,
    }
    assert str(cursor) == "E/home=3/group:5=2/profile:7=9"


async def test_logging_out_ends_the_sessions_streams_on_every_process(database_url, app):
    """bob's session has a stream on each process; logging out in one ends
    both within a second, and his phone's session goes on."""
    with processes_over_redis(database_url) as (first, second):
        laptop = await Person(first.url, "bob").sign_up()
        phone = await Person(second.url, "bob").log_in()
        other_tab = laptop.on(second.url)
        async with (
            laptop.stream() as here,
            other_tab.stream() as there,
            phone.stream() as phone_stream,
        ):
            for stream in (here, there, phone_stream):
                await stream.subscribed()
            await laptop.http.post("/logout", data={"csrf_token": laptop.csrf})
            async with asyncio.timeout(1):
                farewells = [await ended_with(stream) for stream in (here, there)]
            post = await phone.post("still logged in here")
            assert (await phone_stream.next()).data["post"]["uid"] == post["uid"]
        assert farewells == [("logout", {})] * 2
        refused = await other_tab.http.get("/sse", headers={"Accept": "text/event-stream"})
        assert refused.status_code == 401
        for person in (laptop, phone, other_tab):
            await person.close()


async def ended_with(stream) -> tuple[str, dict]:
    """The last event of a stream that ends, and that it did end."""
    last = await stream.next()
    with pytest.raises(EOFError):
        await stream.next()
    return last.name, last.data


async def test_a_stream_ends_when_its_session_expires(database_url, app):
    environment = {**server_environment(database_url), "SESSION_LIFETIME_S": "2"}
    with LiveServer(environment) as short_lived:
        alice = await Person(short_lived.url, "alice").sign_up()
        async with alice.stream() as stream:
            await stream.subscribed()
            assert await ended_with(stream) == ("logout", {})
        await alice.close()


async def test_a_graceful_stop_ends_streams_cleanly_and_soon(database_url, app):
    """SIGTERM: the stream ends with a short retry, its body complete, long
    before Hypercorn's grace period would cut it."""
    with LiveServer(server_environment(database_url), graceful_timeout_s=30) as stopping:
        alice = await Person(stopping.url, "alice").sign_up()
        async with alice.stream() as stream:
            await stream.subscribed()
            stopping.process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(10):  # a third of the grace period
                with pytest.raises(EOFError):  # a clean end, not httpx.RemoteProtocolError
                    await stream.next()
        assert stream.retry is not None and stream.retry <= 1000
        await alice.close()
        output = stopping.wait_for_output("Open streams ended before stopping: 1")
    assert "CancelledError" not in output


async def test_every_event_is_declared_and_sent_live_as_it_is_replayed(people, database):
    """Each action's data has the shape broadcast.js reads (feed.describe),
    and the replay sends what went out live: a like carries its likers as
    of that like, not as of the replay."""
    alice, bob = await people("alice", "bob")
    await follows(database, bob, alice)
    async with bob.stream(last_event_id=0) as stream:
        post = await alice.post("shapes")
        comment = await bob.comment(post["uid"], "a comment")
        await bob.like(post["uid"])
        await alice.like(post["uid"])
        await bob.unlike(post["uid"])
        await alice.send("/delete", {"post_uid": comment["uid"]})
        live = await stream.take(6)
    async with bob.stream(last_event_id=0) as stream:
        replayed = await stream.take(4)
    for event in live:
        assert_shape(event.data, PAYLOADS[event.name])
    # Not replayed: the comment deleted since, and bob's like, which his
    # unlike replaced. The rest are the very events that went out live.
    comment_event, bobs_like = live[1], live[2]
    still_true = [event for event in live if event not in (comment_event, bobs_like)]
    assert [(e.id, e.name, e.data) for e in replayed] == [
        (e.id, e.name, e.data) for e in still_true
    ]
    likes = [event.data["likers"] for event in replayed if event.name in ("like", "unlike")]
    assert likes == [["bob", "alice"], ["alice"]]  # as of each, not as of the replay


def assert_shape(value, declared) -> None:
    """`value` has exactly the keys and types `declared` (a TypedDict, a
    list of something, something or None, or a plain type) says: every
    required key, and no key it does not declare."""
    if typing.is_typeddict(declared):
        hints = typing.get_type_hints(declared)
        keys = set(value) if isinstance(value, dict) else set()
        assert declared.__required_keys__ <= keys <= set(hints), (value, declared)
        for key in keys:
            assert_shape(value[key], hints[key])
    elif typing.get_origin(declared) is list:
        assert isinstance(value, list), (value, declared)
        for item in value:
            assert_shape(item, typing.get_args(declared)[0])
    elif typing.get_origin(declared) is types.UnionType:  # X | None
        if value is not None:
            (kind,) = [arg for arg in typing.get_args(declared) if arg is not type(None)]
            assert_shape(value, kind)
    else:
        assert isinstance(value, declared), (value, declared)


async def test_head_on_a_stream_tells_whether_one_may_open_it(people):
    (alice,) = await people("alice")
    headers = {"Accept": "text/event-stream"}
    answer = await alice.http.head("/sse", headers=headers)
    assert (answer.status_code, answer.headers["Content-Type"]) == (200, "text/event-stream")
    assert answer.content == b""
    async with httpx.AsyncClient(base_url=alice.http.base_url) as visitor:
        assert (await visitor.head("/sse", headers=headers)).status_code == 401
