"""Notifications: who is told of what, once, never of their own actions and
never of what was taken back; the bell's count and the list agree; reading
is shared by every page; the work per action does not grow with the people
told; the page costs a fixed number of statements."""

import re

import pytest

from feed.channels import NOTICES, Channel
from group.models import create_group, group_by_slug, join_group
from notification.models import bell, notifications_page
from post.models import post_by_uid
from tests import test_sse
from tests.helpers import create_users, csrf_token_from, logged_in, text_of
from tests.live import Person
from user.models import user_by_name


@pytest.fixture
async def people(database):
    """alice, bob, carol and dave: rows of `user` by name (they cannot log in)."""
    await create_users(database, ["alice", "bob", "carol", "dave"])
    return {name: await user_by_name(database, name) for name in ("alice", "bob", "carol", "dave")}


async def told(database, person) -> list[tuple[str, str]]:
    """(kind, who) of a person's notifications, newest first."""
    rows = await notifications_page(database, person["id"])
    return [(row["kind"], row["actor"]) for row in rows]


async def unread(database, person) -> int:
    return (await bell(database, person["id"]))["unread_notices"]


async def a_post(feed, database, author, text="a post"):
    post, _ = await feed.create_post(author, text)
    return await post_by_uid(database, post["uid"])


async def test_each_kind_reaches_whom_it_concerns_and_no_one_else(feed, database, people):
    alice, bob, carol, dave = (people[name] for name in ("alice", "bob", "carol", "dave"))
    await feed.follow(bob, alice)
    post = await a_post(feed, database, alice, "hello @carol")
    await feed.change_like(bob, post, like=True)
    comment, _ = await feed.create_comment(bob, post, "nice")
    await feed.change_like(alice, await post_by_uid(database, comment["uid"]), like=True)
    await feed.create_comment(dave, post, "me too, @bob")
    assert await told(database, alice) == [
        ("comment", "dave"),
        ("comment", "bob"),
        ("like", "bob"),
        ("follow", "bob"),
    ]
    # bob is mentioned by dave's comment: one notification, the mention.
    assert await told(database, bob) == [("mention", "dave"), ("like", "alice")]
    assert await told(database, carol) == [("mention", "alice")]
    assert await told(database, dave) == []
    assert [await unread(database, people[name]) for name in ("alice", "bob", "carol")] == [
        4,
        2,
        1,
    ]


async def test_a_comment_tells_those_who_commented_before(feed, database, people):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    post = await a_post(feed, database, alice)
    await feed.create_comment(bob, post, "first")
    await feed.create_comment(bob, post, "second, still bob")
    await feed.create_comment(carol, post, "third")
    assert await told(database, bob) == [("reply", "carol")]
    assert await told(database, carol) == []


async def test_no_one_is_told_of_their_own_actions(feed, database, people):
    alice = people["alice"]
    post = await a_post(feed, database, alice, "me, @alice")
    await feed.change_like(alice, post, like=True)
    await feed.create_comment(alice, post, "talking to @Alice")
    assert await told(database, alice) == []


async def test_a_mention_written_twice_notifies_once_and_nobody_stays_text(
    feed, database, people, client
):
    post = await a_post(feed, database, people["alice"], "@bob @BOB @nobody")
    assert await told(database, people["bob"]) == [("mention", "alice")]
    await feed.create_comment(people["carol"], post, "@bob again")  # a new post or comment
    assert await told(database, people["bob"]) == [("mention", "carol"), ("mention", "alice")]
    page = await text_of(await client.get(f"/posts/{post['uid']}"))
    links = re.findall(r'<a class="mention" href="([^"]+)">([^<]+)</a>', page)
    assert links == [("/user/bob", "@bob"), ("/user/bob", "@BOB"), ("/user/bob", "@bob")]
    assert "@nobody" in page


async def test_a_mention_in_a_group_notifies_only_its_members(feed, database, people):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    slug = await create_group(database, alice["id"], "Owls", "")
    group = await group_by_slug(database, slug, None)
    await join_group(database, group["id"], bob["id"])
    await feed.create_post(alice, "@bob and @carol", group)
    assert await told(database, bob) == [("mention", "alice")]
    assert await told(database, carol) == []


async def test_what_is_taken_back_disappears(feed, database, people):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    post = await a_post(feed, database, alice)
    await feed.follow(bob, alice)
    await feed.change_like(bob, post, like=True)
    comment, _ = await feed.create_comment(carol, post, "hi @bob")
    assert len(await told(database, alice)) == 3 and await unread(database, bob) == 1
    await feed.unfollow(bob, alice)
    await feed.change_like(bob, post, like=False)
    await feed.delete(carol, await post_by_uid(database, comment["uid"]))
    assert await told(database, alice) == []
    assert await told(database, bob) == []
    assert [await unread(database, people[name]) for name in ("alice", "bob")] == [0, 0]


async def test_toggling_a_follow_or_a_like_stores_one_event(feed, database, people):
    alice, bob = people["alice"], people["bob"]
    post = await a_post(feed, database, alice)
    events_before = await database.fetch_val("SELECT COUNT(*) FROM event")
    for _ in range(5):
        await feed.follow(bob, alice)
        await feed.unfollow(bob, alice)
        await feed.change_like(bob, post, like=True)
        await feed.change_like(bob, post, like=False)
    assert await database.fetch_val("SELECT COUNT(*) FROM event") == events_before + 2
    replay = await feed.missed_events(Channel(NOTICES, alice["id"]), 0, 100)
    assert sorted(event.action for event in replay) == ["unfollow", "unlike"]


async def test_reading_marks_what_was_shown_and_tells_how_many_are_left(feed, database, people):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    await feed.follow(bob, alice)
    await feed.follow(carol, alice)  # event 2 of alice's notices
    await feed.follow(people["dave"], alice)
    event = await feed.mark_read(alice["id"], through=2)
    assert (event.action, event.told) == ("read", {Channel(NOTICES, alice["id"]): 4})
    assert event.data == '{"through":2,"unread":1}'
    rows = await notifications_page(database, alice["id"])
    assert [row["unread"] for row in rows] == [True, False, False]
    assert await feed.mark_read(alice["id"], through=2) is None  # nothing new to read


async def test_comment_notifications_take_the_same_statements_however_many_are_told(
    feed, database, people
):
    async def statements_of_a_comment(commenters: int) -> int:
        post = await a_post(feed, database, people["alice"])
        names = [f"c{commenters}n{number}" for number in range(commenters)]
        await create_users(database, names)
        for name in names:
            await feed.create_comment(await user_by_name(database, name), post, "me")
        before = database.statements
        await feed.create_comment(people["bob"], post, "and me")
        return database.statements - before

    assert await statements_of_a_comment(1) == await statements_of_a_comment(30)


async def test_the_notifications_page_takes_at_most_four_statements(app, database):
    clients, users = await logged_in(app, database, ["alice", "bob"])
    alice = clients["alice"]

    async def statements_for_the_page() -> int:
        before = database.statements
        response = await alice.get("/notifications")
        assert response.status_code == 200
        return database.statements - before

    empty = await statements_for_the_page()
    feed = app.extensions["feed"]
    post, _ = await feed.create_post(users["alice"], "a post")
    post = await post_by_uid(database, post["uid"])
    likers = [f"liker{number}" for number in range(40)]
    await create_users(database, likers)
    for liker in likers:
        await feed.change_like(await user_by_name(database, liker), post, like=True)
    page = await text_of(await alice.get("/notifications"))
    assert re.search(r"liker39</a> and 29 others\s+liked", page)  # a page holds 30, grouped
    assert "Older notifications" in page
    assert empty == await statements_for_the_page() <= 4


async def test_no_one_sees_anothers_notifications(app, database):
    clients, users = await logged_in(app, database, ["alice", "bob"])
    await app.extensions["feed"].follow(users["bob"], users["alice"])
    assert "followed" not in await text_of(await clients["bob"].get("/notifications"))
    assert "followed" in await text_of(await clients["alice"].get("/notifications"))
    for name in (f"notices:{users['alice']['id']}", "notices:1"):
        response = await clients["bob"].get(f"/sse?channels={name}")
        assert response.status_code == 400


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/notifications?before=x", None),
        ("/notifications?before=99999999999999999999", None),
        ("/notifications/read", {"through": "-1"}),
        ("/notifications/read", {"through": "１"}),
    ],
)
async def test_bad_input_is_a_400(app, database, path, form):
    clients, _ = await logged_in(app, database, ["alice"])
    if form is None:
        response = await clients["alice"].get(path)
    else:
        token = await csrf_token_from(clients["alice"], "/")
        response = await clients["alice"].post(path, form={"csrf_token": token, **form})
    assert response.status_code == 400


async def test_mark_all_read_without_javascript(app, database):
    clients, users = await logged_in(app, database, ["alice", "bob"])
    await app.extensions["feed"].follow(users["bob"], users["alice"])
    assert 'data-unread="1"' in await text_of(await clients["alice"].get("/"))
    token = await csrf_token_from(clients["alice"], "/")
    response = await clients["alice"].post("/notifications/read", form={"csrf_token": token})
    assert response.status_code == 302
    assert 'data-unread="0"' in await text_of(await clients["alice"].get("/"))


# --- Live, over a real server --------------------------------------------------


# The live server of this module, and the people who sign up on it.
server = test_sse.server
live_people = test_sse.people


def notices_of(person: Person, last_event_id: str | None = None):
    """A stream of the person's notices alone."""
    return person.open_stream("/sse", "/", last_event_id, channels="notices")


async def test_each_kind_arrives_live_once_and_again_after_a_reconnect(live_people):
    alice, bob = await live_people("alice", "bob")
    async with notices_of(alice) as stream:
        await stream.subscribed()
        await bob.send("/add_friend/alice", {})
        post = await alice.post("hello")
        await bob.like(post["uid"])
        comment = await bob.comment(post["uid"], "hi @alice")
        await bob.unlike(post["uid"])
        live = await stream.take(4)
        cursor = live[1].cursor
    assert [(event.name, event.channel) for event in live] == [
        ("follow", "notices"),
        ("like", "notices"),
        ("comment", "notices"),
        ("unlike", "notices"),
    ]
    assert live[2].data["comment"]["uid"] == comment["uid"]
    # A reconnect after the like replays what came after, once (the like
    # itself was replaced by its unlike).
    async with notices_of(alice, cursor) as stream:
        replayed = await stream.take(2)
    assert [event.name for event in replayed] == ["comment", "unlike"]
    assert [event.id for event in replayed] == [3, 4]


async def test_reading_on_one_page_reaches_the_others(live_people):
    alice, bob = await live_people("alice", "bob")
    await bob.send("/add_friend/alice", {})
    async with notices_of(alice) as stream:
        await stream.subscribed()
        token = {"X-CSRFToken": alice.csrf, "Accept": "application/json"}
        answer = await alice.http.post("/notifications/read", data={"through": "1"}, headers=token)
        assert answer.status_code == 200
        event = await stream.next("the read")
    assert (event.name, event.data) == ("read", {"through": 1, "unread": 0})
    assert (await alice.http.get("/notifications/unread")).json() == {"unread": 0, "seq": 2}


async def test_a_comment_notifies_the_author_and_those_who_commented_live(live_people):
    alice, bob, carol = await live_people("alice", "bob", "carol")
    post = await alice.post("a thread")
    await bob.comment(post["uid"], "one")
    async with notices_of(bob) as bobs, notices_of(alice) as alices:
        await bobs.subscribed()
        await alices.subscribed()
        await carol.comment(post["uid"], "two")
        event = await bobs.next("carol's comment")
        assert (event.name, event.data["post_author"]) == ("comment", "alice")
        assert (await alices.next("carol's comment")).name == "comment"
