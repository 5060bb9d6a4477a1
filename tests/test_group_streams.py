"""Posting in a group: only members may; the post reaches the members' home
feeds and the group's own stream (GET /groups/<slug>/sse), which resumes
exactly with Last-Event-ID, across processes; someone who leaves hears of
nothing new. A member who mutes the group keeps its new posts out of their
home feed and home stream, until they unmute it."""

import json

import pytest

from feed.channels import GROUP, HOME, Channel
from group.models import group_by_slug
from relationship.models import follow
from tests import test_sse
from tests.helpers import logged_in, post_form, post_json, replayed_home, text_of
from tests.live import Person, processes_over_redis
from tests.test_sse import follows

# The live server of this module, and the people who sign up on it.
server = test_sse.server
people = test_sse.people


async def create_group(client, name: str) -> str:
    """A new group, its creator the owner; returns its slug."""
    response = await post_form(client, "/groups", {"name": name, "description": ""}, "/groups")
    assert response.status_code == 302, await response.get_data()
    return response.headers["Location"].rsplit("/", 1)[1]


async def join(client, slug: str) -> None:
    response = await post_json(client, f"/groups/{slug}/join", {}, token_page="/groups")
    assert response.status_code == 200, await response.get_data()


@pytest.fixture
async def in_a_group(app, database):
    """alice owns "Book club", bob is a member, carol follows alice but is not."""
    clients, users = await logged_in(app, database, ["alice", "bob", "carol"])
    await follow(database, users["carol"]["id"], users["alice"]["id"])
    slug = await create_group(clients["alice"], "Book club")
    await join(clients["bob"], slug)
    return clients, users, slug


async def test_a_group_post_reaches_members_and_the_group_stream(in_a_group, feed, database):
    clients, users, slug = in_a_group
    response = await post_json(clients["alice"], "/post", {"post": "chapter 3?", "group": slug})
    assert response.status_code == 201
    uid = (await response.get_json())["uid"]
    label = {"name": "Book club", "url": f"/groups/{slug}"}
    assert (await response.get_json())["group"] == label
    for member in ("alice", "bob"):
        page = await feed.home_page(users[member]["id"])
        assert [(post["uid"], post["group"]) for post in page["posts"]] == [(uid, label)]
        replayed_post, *_ = await feed.missed_events(Channel(HOME, users[member]["id"]), 0, 10)
        assert json.loads(replayed_post.data)["post"]["group"] == label
    assert (await feed.home_page(users["carol"]["id"]))["posts"] == []  # a follower, not a member
    group = await group_by_slug(database, slug, None)
    replayed = await feed.missed_events(Channel(GROUP, group["id"]), 0, 10)
    assert [(event.event_id, event.action) for event in replayed] == [(1, "post")]


async def test_only_members_post_comment_and_like_in_a_group(in_a_group):
    clients, _, slug = in_a_group
    members_only = {"error": "Only members of the group can do that; join it first."}
    response = await post_json(clients["carol"], "/post", {"post": "let me in", "group": slug})
    assert (response.status_code, await response.get_json()) == (403, members_only)
    post = await (
        await post_json(clients["bob"], "/post", {"post": "hi", "group": slug})
    ).get_json()
    for path, payload in [
        ("/comment", {"post_uid": post["uid"], "comment": "hello"}),
        ("/like", {"post_uid": post["uid"]}),
    ]:
        response = await post_json(clients["carol"], path, payload)
        assert (response.status_code, await response.get_json()) == (403, members_only)
    response = await post_json(clients["carol"], "/post", {"post": "x", "group": "no-such-group"})
    assert response.status_code == 404


async def test_someone_who_left_hears_of_nothing_new(in_a_group, feed):
    clients, users, slug = in_a_group
    post = await (
        await post_json(clients["alice"], "/post", {"post": "p", "group": slug})
    ).get_json()
    response = await post_json(clients["bob"], f"/groups/{slug}/leave", {}, token_page="/groups")
    assert response.status_code == 200
    await post_json(clients["alice"], "/post", {"post": "after bob left", "group": slug})
    await post_json(clients["alice"], "/comment", {"post_uid": post["uid"], "comment": "c"})
    replayed = await feed.missed_events(Channel(HOME, users["bob"]["id"]), 0, 10)
    assert [event.action for event in replayed] == ["post"]  # only what came before


async def test_a_group_stream_resumes_exactly_and_leaks_nothing_home(people, database):
    alice, bob = await people("alice", "bob")
    await follows(database, bob, alice)
    slug = await alice.start_group("Runners")
    first = await alice.send("/post", {"post": "run 1", "group": slug})
    async with alice.group_stream(slug, last_event_id=0) as stream:
        assert (await stream.next()).data["post"]["uid"] == first["uid"]
        second = await alice.send("/post", {"post": "run 2", "group": slug})
        event = await stream.next()
    assert (event.id, event.data["post"]["uid"]) == (2, second["uid"])
    async with alice.group_stream(slug, last_event_id=1) as stream:
        assert (await stream.next()).id == 2  # exactly what was missed
    # bob follows alice but is not in the group: his home stream's next
    # event is alice's next ordinary post, not anything from the group.
    async with bob.stream(last_event_id=0) as home:
        await alice.send("/post", {"post": "run 3", "group": slug})
        ordinary = await alice.post("not in a group")
        assert (await home.next()).data["post"]["uid"] == ordinary["uid"]


async def post_in(client, slug: str, text: str) -> None:
    response = await post_json(client, "/post", {"post": text, "group": slug})
    assert response.status_code == 201, await response.get_data()


async def home_bodies(feed, user_id: int) -> list[str]:
    return [post["body"] for post in (await feed.home_page(user_id))["posts"]]


async def test_a_muted_groups_posts_stay_on_its_page_until_unmuted(in_a_group, feed):
    clients, users, slug = in_a_group
    response = await post_form(clients["bob"], f"/groups/{slug}/mute", {}, f"/groups/{slug}")
    assert response.headers["Location"] == f"/groups/{slug}"
    page = await text_of(await clients["bob"].get(f"/groups/{slug}"))
    assert "New posts in Book club will stay on its page." in page
    assert "Unmute in home feed" in page
    await post_in(clients["alice"], slug, "while muted")
    assert await home_bodies(feed, users["bob"]["id"]) == []
    assert await replayed_home(feed, users["bob"]["id"]) == []
    assert await home_bodies(feed, users["alice"]["id"]) == ["while muted"]  # she did not mute
    assert "while muted" in await text_of(await clients["bob"].get(f"/groups/{slug}"))
    await post_form(clients["bob"], f"/groups/{slug}/unmute", {}, f"/groups/{slug}")
    await post_in(clients["alice"], slug, "after unmuting")
    assert await home_bodies(feed, users["bob"]["id"]) == ["after unmuting"]
    page = await text_of(await clients["bob"].get(f"/groups/{slug}"))
    assert "Mute in home feed" in page and "Unmute" not in page


async def test_muting_answers_json_and_only_members_mute(in_a_group):
    clients, _, slug = in_a_group
    answer = await post_json(clients["bob"], f"/groups/{slug}/mute", {}, f"/groups/{slug}")
    assert (answer.status_code, await answer.get_json()) == (200, {"muted": True})
    answer = await post_json(clients["carol"], f"/groups/{slug}/mute", {}, f"/groups/{slug}")
    assert (answer.status_code, await answer.get_json()) == (
        403,
        {"error": "Only members can mute a group in their home feed; join it first."},
    )
    answer = await post_json(clients["bob"], "/groups/no-such-group/unmute", {}, "/groups")
    assert answer.status_code == 404
    no_token = await clients["bob"].post(f"/groups/{slug}/unmute")
    assert no_token.status_code == 403
    page = await text_of(await clients["carol"].get(f"/groups/{slug}"))
    assert "Mute in home feed" not in page  # not a member: nothing to mute


async def test_a_muted_groups_post_does_not_reach_the_home_stream(people, database):
    alice, bob = await people("alice", "bob")
    await follows(database, bob, alice)
    slug = await alice.start_group("Loud")
    await bob.send(f"/groups/{slug}/join", {})
    await bob.send(f"/groups/{slug}/mute", {})
    async with bob.stream() as home, bob.group_stream(slug) as group:
        await home.subscribed()
        await group.subscribed()
        muted = await alice.send("/post", {"post": "in the group", "group": slug})
        mine = await alice.post("to my followers")
        assert (await group.next("the group post")).data["post"]["uid"] == muted["uid"]
        # The home stream's next event is the post after it: the group's never came.
        assert (await home.next("alice's own post")).data["post"]["uid"] == mine["uid"]


async def test_a_group_stream_hears_posts_made_on_another_process(database_url, database, app):
    with processes_over_redis(database_url) as (first, second):
        alice = await Person(first.url, "alice").sign_up()
        slug = await alice.start_group("Across")
        alice_on_second = alice.on(second.url)
        async with alice_on_second.group_stream(slug) as stream:
            await stream.subscribed()
            post = await alice.send("/post", {"post": "from the first", "group": slug})
            event = await stream.next()
        assert event.data["post"]["uid"] == post["uid"]
        await alice.close()
        await alice_on_second.close()
