"""Editing a post or a comment: by its author only, with the rules of
writing one; pages show the new text marked "edited", open pages hear of it
live (the `edit` event, to everyone a deletion would tell), and a page that
reconnects gets the item once, as it is now. Mentions an edit adds notify,
once."""

import pytest

from db import utc_now
from feed import models
from feed.channels import GROUP, HOME, PROFILE, Channel
from feed.describe import PAYLOADS
from group.models import group_by_slug
from post.models import MAX_BODY_LENGTH, post_by_uid
from relationship.models import follow
from tests import test_sse
from tests.helpers import (
    a_post_with_a_comment,
    create_users,
    logged_in,
    post_json,
    replayed_home,
    sent,
)
from tests.test_channels import assert_shape
from tests.test_fanout import BATCH, audience, finish  # noqa: F401 (a fixture)
from tests.test_group_streams import create_group, join
from tests.test_notifications import told
from tests.test_sse import follows
from user.models import user_by_name

# The live server of this module, and the people who sign up on it.
server = test_sse.server
people = test_sse.people

LENGTH_RULE = {"error": f"Write between 1 and {MAX_BODY_LENGTH} characters."}


@pytest.fixture
async def three(app, database):
    """alice, bob and carol, each on their own client; bob follows alice."""
    clients, users = await logged_in(app, database, ["alice", "bob", "carol"])
    await follow(database, users["bob"]["id"], users["alice"]["id"])
    return clients, users


async def test_the_author_edits_and_every_page_shows_the_new_text_marked_edited(three, feed):
    clients, users = three
    post, comment = await a_post_with_a_comment(clients, "a post with a tpyo")
    status, edit = await sent(
        clients["alice"], "/edit", {"post_uid": post["uid"], "post": " typo "}
    )
    assert status == 200
    assert (edit["post_uid"], edit["comment_uid"], edit["body"]) == (post["uid"], None, "typo")
    assert_shape(edit, PAYLOADS["edit"])
    status, _ = await sent(clients["bob"], "/edit", {"post_uid": comment["uid"], "post": "hello"})
    assert status == 200
    (shown,) = (await feed.home_page(users["bob"]["id"]))["posts"]
    assert (shown["body"], shown["edited"]) == ("typo", edit["edited"])
    assert [(c["body"], c["edited"] is not None) for c in shown["comments"]] == [("hello", True)]
    page = await (await clients["carol"].get(f"/posts/{post['uid']}")).get_data(as_text=True)
    assert "tpyo" not in page
    assert f'<time datetime="{edit["edited"]}" title="{edit["edited"]}" data-edited-time>' in page


async def test_only_the_author_edits(three, feed):
    clients, users = three
    post, comment = await a_post_with_a_comment(clients, "a post with a tpyo")
    refused = (403, {"error": "You can only edit what you wrote."})
    # alice may delete bob's comment on her post, but not put words in it.
    for editor, uid in [("carol", post["uid"]), ("bob", post["uid"]), ("alice", comment["uid"])]:
        assert await sent(clients[editor], "/edit", {"post_uid": uid, "post": "mine"}) == refused
    (shown,) = (await feed.home_page(users["bob"]["id"]))["posts"]
    assert (shown["body"], shown["comments"][0]["body"]) == ("a post with a tpyo", "hi")


async def test_deleted_unknown_and_bad_edits_are_refused_with_the_rules_of_writing(three):
    clients, _ = three
    post, comment = await a_post_with_a_comment(clients, "a post with a tpyo")
    for body in ["", "   ", "x" * (MAX_BODY_LENGTH + 1), None, ["list"]]:
        payload = {"post_uid": post["uid"], "post": body}
        assert await sent(clients["alice"], "/edit", payload) == (400, LENGTH_RULE)
    await sent(clients["bob"], "/delete", {"post_uid": comment["uid"]})
    await sent(clients["alice"], "/delete", {"post_uid": post["uid"]})
    not_there = (404, {"error": "That post does not exist."})
    for uid in [post["uid"], "no-such-post", 7]:
        assert await sent(clients["alice"], "/edit", {"post_uid": uid, "post": "x"}) == not_there
    assert await sent(clients["bob"], "/edit", {"post_uid": comment["uid"], "post": "x"}) == (
        not_there
    )


async def test_a_reconnecting_reader_gets_the_item_once_with_its_newest_text(three, feed):
    """The event that brought the post is replayed with the new text; only
    the last of several edits is replayed, and what they replaced is gone."""
    clients, users = three
    post, comment = await a_post_with_a_comment(clients, "a post with a tpyo")
    for text in ("first fix", "second fix"):
        await sent(clients["alice"], "/edit", {"post_uid": post["uid"], "post": text})
    await sent(clients["bob"], "/edit", {"post_uid": comment["uid"], "post": "hi again"})
    replayed = await replayed_home(feed, users["bob"]["id"])
    assert [action for _, action, _ in replayed] == ["post", "comment", "edit", "edit"]
    (_, _, created), (_, _, commented), (_, _, post_edit), (_, _, comment_edit) = replayed
    assert created["post"]["body"] == post_edit["body"] == "second fix"
    assert created["post"]["edited"] == post_edit["edited"]
    assert commented["comment"]["body"] == comment_edit["body"] == "hi again"
    everything = str(replayed) + str(await feed.missed_events(profile_of(users["alice"]), 0, 99))
    assert "tpyo" not in everything and "first fix" not in everything


def profile_of(user) -> Channel:
    return Channel(PROFILE, user["id"])


async def test_a_mention_an_edit_adds_notifies_once_and_one_it_removes_stays(three, database):
    clients, users = three
    _, post = await sent(clients["alice"], "/post", {"post": "hello @bob"})
    edits = ["hello @bob and @carol", "hello @carol", "hello @carol and @bob"]
    for text in edits:
        await sent(clients["alice"], "/edit", {"post_uid": post["uid"], "post": text})
    assert await told(database, users["bob"]) == [("mention", "alice")]
    assert await told(database, users["carol"]) == [("mention", "alice")]


async def test_an_edit_takes_the_same_statements_however_many_it_mentions(three, feed, database):
    """Neither the people it newly mentions nor the edits before it add any."""
    names = [f"named{number}" for number in range(20)]
    await create_users(database, names)
    alice = await user_by_name(database, "alice")

    async def statements_of_an_edit(mentioned: list[str], edits_before: int) -> int:
        post, _ = await feed.create_post(alice, "draft")
        row = await post_by_uid(database, post["uid"])
        for _ in range(edits_before):
            await feed.edit(alice, row, "draft, again")
        before = database.statements
        await feed.edit(alice, row, " ".join(f"@{name}" for name in mentioned))
        return database.statements - before

    assert await statements_of_an_edit(names[:1], 1) == await statements_of_an_edit(names, 5)


def describing(uid: str) -> dict:
    return {"post": {"uid": uid, "body": "to all", "mentions": [], "edited": None}}


async def test_an_edit_reaches_readers_of_a_post_fanned_out_in_batches(
    database,
    audience,  # noqa: F811
    monkeypatch,
):
    """Ten followers, batches of four: the edit waits for the post's own
    fan-out, then reaches every reader once, in batches too."""
    monkeypatch.setattr(models, "FANOUT_BATCH", BATCH)
    monkeypatch.setattr(models, "FANOUT_LANES", 1)
    author_id, followers = audience
    written = await models.write_post(database, author_id, "to all", utc_now(), describing)
    post = await post_by_uid(database, written.payload["post"]["uid"])
    thread = models.Thread(post["id"], author_id)
    payload = {"post_uid": post["uid"], "comment_uid": None, "body": "to all!",
               "mentions": [], "edited": "now"}  # fmt: skip
    edit = models.write_edit
    edited = await edit(database, author_id, post["id"], thread, "to all!", utc_now(), payload)
    assert edited.fanning_out and [c.kind for c in edited.told] == [PROFILE]  # after the post
    batches = await finish(database)
    # The post told its first four readers as it was written.
    assert [batch.action for batch in batches] == ["post"] * 2 + ["edit"] * 3
    for reader_id in [author_id, *followers]:
        replayed = await models.events_after(database, Channel(HOME, reader_id), 0, 10)
        assert [event.action for event in replayed] == ["post", "edit"]
        assert '"to all!"' in replayed[0].data  # rewritten before its last batches went


async def test_an_open_page_hears_of_an_edit_and_a_reconnect_shows_it_once(people, database):
    alice, bob = await people("alice", "bob")
    await follows(database, bob, alice)
    post = await alice.post("befor")
    async with bob.stream(last_event_id=0) as stream:
        assert (await stream.next()).data["post"]["body"] == "befor"
        cursor = stream.cursor
        await alice.send("/edit", {"post_uid": post["uid"], "post": "before @bob"})
        live = await stream.next("the edit")
    assert (live.name, live.data["body"], live.data["mentions"]) == (
        "edit",
        "before @bob",
        [{"username": "bob", "url": "/user/bob"}],
    )
    async with bob.stream(last_event_id=cursor) as stream:
        assert (await stream.next("the edit, replayed")).data == live.data
    async with bob.stream(last_event_id=0) as stream:
        replayed = await stream.take(2)
    assert [(event.name, event.id) for event in replayed] == [("post", 1), ("edit", 2)]
    assert replayed[0].data["post"]["body"] == "before @bob"


async def test_in_a_group_an_edit_reaches_its_page_and_only_members_edit(three, feed):
    clients, users = three
    slug = await create_group(clients["alice"], "Editors")
    await join(clients["bob"], slug)
    _, post = await sent(clients["bob"], "/post", {"post": "draft", "group": slug})
    await sent(clients["bob"], "/edit", {"post_uid": post["uid"], "post": "final"})
    group_id = (await group_by_slug(feed.database, slug, None))["id"]
    replayed = await feed.missed_events(Channel(GROUP, group_id), 0, 10)
    assert [(event.action, '"final"' in event.data) for event in replayed] == [
        ("post", True),
        ("edit", True),
    ]
    await post_json(clients["bob"], f"/groups/{slug}/leave", {}, token_page="/groups")
    assert await sent(clients["bob"], "/edit", {"post_uid": post["uid"], "post": "gone"}) == (
        403,
        {"error": "Only members of the group can do that; join it first."},
    )
