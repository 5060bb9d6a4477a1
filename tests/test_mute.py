"""Muting a group in one's home feed: its new posts stay on its page and
out of the member's home feed and home stream; unmuting brings back those
that come next, not those that came meanwhile."""

import pytest

from tests import test_sse
from tests.helpers import logged_in, post_form, post_json, replayed_home, text_of
from tests.test_group_streams import create_group, join
from tests.test_sse import follows

# The live server of this module, and the people who sign up on it.
server = test_sse.server
people = test_sse.people


@pytest.fixture
async def group_of_two(app, database):
    """alice's group, which bob joined: (clients, users, slug)."""
    clients, users = await logged_in(app, database, ["alice", "bob", "carol"])
    slug = await create_group(clients["alice"], "Busy")
    await join(clients["bob"], slug)
    return clients, users, slug


async def post_in(client, slug: str, text: str) -> None:
    response = await post_json(client, "/post", {"post": text, "group": slug})
    assert response.status_code == 201, await response.get_data()


async def home_bodies(feed, user_id: int) -> list[str]:
    return [post["body"] for post in (await feed.home_page(user_id))["posts"]]


async def test_a_muted_groups_posts_stay_on_its_page_until_unmuted(group_of_two, feed):
    clients, users, slug = group_of_two
    response = await post_form(clients["bob"], f"/groups/{slug}/mute", {}, f"/groups/{slug}")
    assert response.headers["Location"] == f"/groups/{slug}"
    page = await text_of(await clients["bob"].get(f"/groups/{slug}"))
    assert "New posts in Busy will stay on its page." in page
    assert "Unmute in home feed" in page
    await post_in(clients["alice"], slug, "while muted")
    assert await home_bodies(feed, users["bob"]["id"]) == []
    assert [action for _, action, _ in await replayed_home(feed, users["bob"]["id"])] == []
    assert await home_bodies(feed, users["alice"]["id"]) == ["while muted"]  # she did not mute
    assert "while muted" in await text_of(await clients["bob"].get(f"/groups/{slug}"))
    await post_form(clients["bob"], f"/groups/{slug}/unmute", {}, f"/groups/{slug}")
    await post_in(clients["alice"], slug, "after unmuting")
    assert await home_bodies(feed, users["bob"]["id"]) == ["after unmuting"]
    page = await text_of(await clients["bob"].get(f"/groups/{slug}"))
    assert "Mute in home feed" in page and "Unmute" not in page


async def test_muting_answers_json_and_only_members_mute(group_of_two):
    clients, _, slug = group_of_two
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
