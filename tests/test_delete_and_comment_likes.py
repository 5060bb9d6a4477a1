"""Likes on comments, and deleting what you wrote: who may, what the pages
show afterwards, and what every reader hears, live and on replay."""

import pytest

from relationship.models import follow
from tests import test_sse
from tests.helpers import (
    a_post_with_a_comment,
    count_rows,
    logged_in,
    post_json,
    replayed_home,
    sent,
)
from tests.test_group_streams import create_group
from tests.test_sse import follows

# The live server of this module, and the people who sign up on it.
server = test_sse.server
people = test_sse.people


@pytest.fixture
async def three(app, database):
    """alice, bob and carol, each on their own client; bob and carol follow alice."""
    clients, users = await logged_in(app, database, ["alice", "bob", "carol"])
    for follower in ("bob", "carol"):
        await follow(database, users[follower]["id"], users["alice"]["id"])
    return clients, users


async def test_a_comment_is_liked_and_unliked_once_whatever_the_clicks(three, feed):
    clients, users = three
    post, comment = await a_post_with_a_comment(clients)
    answers = [await sent(clients["carol"], "/like", {"post_uid": comment["uid"]}) for _ in "12"]
    assert answers == [(200, {"liked": True, "likes": 1, "likers": ["carol"]})] * 2
    page = await feed.home_page(users["alice"]["id"])
    assert page["posts"][0]["comments"][0]["likers"] == ["carol"]
    assert page["posts"][0]["likes"] == 0  # the post itself is not liked
    answers = [await sent(clients["carol"], "/unlike", {"post_uid": comment["uid"]}) for _ in "12"]
    assert answers == [(200, {"liked": False, "likes": 0, "likers": []})] * 2


async def test_a_comment_like_reaches_everyone_who_has_the_post(three, feed):
    clients, users = three
    post, comment = await a_post_with_a_comment(clients)
    await sent(clients["alice"], "/like", {"post_uid": comment["uid"]})
    for reader in ("alice", "bob", "carol"):
        *_, (_, action, data) = await replayed_home(feed, users[reader]["id"])
        assert action == "like"
        assert data == {"post_uid": post["uid"], "comment_uid": comment["uid"], "user": "alice",
                        "by": post["author"], "likes": 1, "likers": ["alice"]}  # fmt: skip


async def test_a_liked_comment_does_not_raise_its_post(three, feed):
    clients, users = three
    older, comment = await a_post_with_a_comment(clients)
    await sent(clients["alice"], "/post", {"post": "newer"})
    await sent(clients["carol"], "/like", {"post_uid": comment["uid"]})
    page = await feed.home_page(users["carol"]["id"])
    assert [post["body"] for post in page["posts"]] == ["newer", "a post"]


async def test_deleting_a_post_removes_it_its_comments_and_likes(three, feed, database):
    clients, users = three
    post, comment = await a_post_with_a_comment(clients)
    await sent(clients["carol"], "/like", {"post_uid": post["uid"]})
    await sent(clients["carol"], "/like", {"post_uid": comment["uid"]})
    assert await sent(clients["alice"], "/delete", {"post_uid": post["uid"]}) == (
        200,
        {"deleted": post["uid"]},
    )
    assert await count_rows(database, "like") == 0
    for reader in ("alice", "bob", "carol"):
        assert (await feed.home_page(users[reader]["id"]))["posts"] == []
        replayed = await replayed_home(feed, users[reader]["id"])
        # What was deleted is not replayed; its deletion is.
        assert [(action, data) for _, action, data in replayed] == [
            ("delete", {"post_uid": post["uid"], "comment_uid": None})
        ]
    assert "a post" not in (await (await clients["bob"].get("/user/alice")).get_data()).decode()


@pytest.mark.parametrize("deleter", ["bob", "alice"])  # the comment's author, the post's
async def test_a_comment_is_deleted_by_its_author_or_the_post_author(three, feed, deleter):
    clients, users = three
    post, comment = await a_post_with_a_comment(clients)
    status, _ = await sent(clients[deleter], "/delete", {"post_uid": comment["uid"]})
    assert status == 200
    page = await feed.home_page(users["carol"]["id"])
    assert page["posts"][0]["comments"] == []
    *_, (_, action, data) = await replayed_home(feed, users["carol"]["id"])
    assert (action, data) == ("delete", {"post_uid": post["uid"], "comment_uid": comment["uid"]})


async def test_only_the_author_may_delete(three, feed):
    clients, users = three
    post, comment = await a_post_with_a_comment(clients)
    for uid in (post["uid"], comment["uid"]):
        status, answer = await sent(clients["carol"], "/delete", {"post_uid": uid})
        assert (status, answer) == (
            403,
            {"error": "You can only delete what you wrote, or comments on your posts."},
        )
    status, _ = await sent(clients["bob"], "/delete", {"post_uid": post["uid"]})  # bob commented
    assert status == 403
    page = await feed.home_page(users["carol"]["id"])
    assert [len(post["comments"]) for post in page["posts"]] == [1]


async def test_what_does_not_exist_or_is_deleted_is_404(three):
    clients, _ = three
    post, comment = await a_post_with_a_comment(clients)
    await sent(clients["alice"], "/delete", {"post_uid": post["uid"]})
    not_there = {"error": "That post does not exist."}
    for path, payload in [
        ("/delete", {"post_uid": "no-such-post"}),
        ("/delete", {"post_uid": post["uid"]}),  # twice
        ("/delete", {"post_uid": comment["uid"]}),  # went with its post
        ("/like", {"post_uid": post["uid"]}),
        ("/comment", {"post_uid": post["uid"], "comment": "too late"}),
    ]:
        assert await sent(clients["bob"], path, payload) == (404, not_there)


async def test_a_logged_out_delete_deletes_nothing(three, app, feed):
    clients, users = three
    post, _ = await a_post_with_a_comment(clients)
    visitor = app.test_client()
    response = await post_json(visitor, "/delete", {"post_uid": post["uid"]}, token_page="/login")
    assert response.status_code == 401
    assert len((await feed.home_page(users["bob"]["id"]))["posts"]) == 1


async def test_an_open_page_hears_of_a_deletion(people, database):
    alice, bob = await people("alice", "bob")
    await follows(database, bob, alice)
    post = await alice.post("soon gone")
    async with bob.stream(last_event_id=0) as stream:
        assert (await stream.next()).data["post"]["uid"] == post["uid"]
        await alice.send("/delete", {"post_uid": post["uid"]})
        deletion = await stream.next("the deletion")
    assert (deletion.name, deletion.data) == (
        "delete",
        {"post_uid": post["uid"], "comment_uid": None},
    )


async def test_a_deleted_group_post_leaves_the_group_page(three):
    clients, _ = three
    slug = await create_group(clients["alice"], "Quiet")
    status, post = await sent(clients["alice"], "/post", {"post": "gone soon", "group": slug})
    assert status == 201
    page = await clients["bob"].get(f"/groups/{slug}")
    assert "gone soon" in (await page.get_data()).decode()
    await sent(clients["alice"], "/delete", {"post_uid": post["uid"]})
    page = await clients["bob"].get(f"/groups/{slug}")
    assert "gone soon" not in (await page.get_data()).decode()
