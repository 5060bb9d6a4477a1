"""Likes on comments, and deleting what you wrote: who is offered Delete,
how it asks first, and what every open page, home or profile, sees change
live."""

import re

from playwright.async_api import expect

from tests.browser import BROWSER_TESTS
from tests.live import Person

pytestmark = BROWSER_TESTS

NOT_YOURS = "You can only delete what you wrote, or comments on your posts."


async def test_a_comment_like_and_deletions_reach_an_open_page_live(alice_and_bob):
    alice, bob = alice_and_bob
    await alice.write_post("Picnic on Sunday?")
    await alice.write_post("Bring a blanket")
    await bob.show_new_posts(2)
    await bob.comment("Picnic on Sunday?", "I'll bring lemonade")
    await bob.comment("Picnic on Sunday?", "And a ball")
    await expect(alice.comments_on("Picnic on Sunday?")).to_have_text(
        ["I'll bring lemonade", "And a ball"]
    )

    # Delete shows where each may use it: alice on her posts and on the
    # comments under them, bob on his comments only.
    await expect(alice.delete_buttons).to_have_text(
        ["Delete alice's post"] * 2 + ["Delete bob's comment"] * 2
    )
    await expect(bob.delete_buttons).to_have_text(["Delete bob's comment"] * 2)

    # alice likes bob's comment: his page shows it on the comment, not on the post.
    await alice.like_comment("I'll bring lemonade")
    await expect(bob.comment_likes_of("I'll bring lemonade")).to_have_text(
        "1 like · Liked by alice"
    )
    await expect(bob.comment_like_button("I'll bring lemonade")).to_have_attribute(
        "aria-pressed", "false"
    )
    await expect(bob.likes_of("Picnic on Sunday?")).to_have_text("")

    # alice deletes a comment that bob is on: his focus goes to its post.
    await bob.comment_like_button("And a ball").focus()
    await alice.delete(alice.comment_of("And a ball"), "comment")
    await expect(bob.comments_on("Picnic on Sunday?")).to_have_text(["I'll bring lemonade"])
    await expect(bob.post("Picnic on Sunday?")).to_be_focused()
    await expect(alice.post("Picnic on Sunday?")).to_be_focused()

    # alice deletes a post: gone from bob's page, and her focus goes to the next one.
    await alice.delete(alice.post("Bring a blanket"), "post")
    await expect(bob.post_bodies).to_have_text(["Picnic on Sunday?"])
    await expect(alice.post("Picnic on Sunday?")).to_be_focused()
    await bob.expect_no_reload()

    await bob.open_home()  # what was deleted stays gone
    await expect(bob.post_bodies).to_have_text(["Picnic on Sunday?"])
    await expect(bob.comments_on("Picnic on Sunday?")).to_have_text(["I'll bring lemonade"])
    await expect(bob.comment_likes_of("I'll bring lemonade")).to_have_text(
        "1 like · Liked by alice"
    )


async def test_delete_asks_first_and_a_failure_says_why_beside_the_comment(people):
    (bob,) = await people("bob")
    await bob.open_home()
    await bob.write_post("My post")
    await bob.comment("My post", "Typo here")
    comment = bob.comment_of("Typo here")
    delete = comment.get_by_role("button", name="Delete bob's comment")
    question = comment.get_by_role("group", name="Delete bob's comment?")

    # No: nothing is deleted, and the focus is back on Delete.
    await delete.click()
    await expect(question.get_by_role("button", name="No")).to_be_focused()
    await question.get_by_role("button", name="No").click()
    await expect(question).to_have_count(0)
    await expect(delete).to_be_focused()

    bob.tolerate("status of 403", about="/delete")
    await bob.page.route(
        re.compile(r"/delete$"),
        lambda route: route.fulfill(status=403, json={"error": NOT_YOURS}),
    )
    await delete.click()
    await question.get_by_role("button", name="Yes").click()
    await expect(comment.get_by_role("alert")).to_have_text(NOT_YOURS)
    await expect(delete).to_be_focused()
    await expect(bob.comments_on("My post")).to_have_text(["Typo here"])


async def test_a_profile_page_sees_a_comment_like_and_a_deletion_live(people, server):
    (bob,) = await people("bob")
    alice = await Person(server.url, "alice").sign_up()
    await bob.follow(alice)
    kept = await alice.post("Still here")
    gone = await alice.post("Soon gone")
    comment = await alice.comment(kept["uid"], "A note")
    await bob.page.goto("/user/alice")
    await expect(bob.post_bodies).to_have_text(["Soon gone", "Still here"])

    await alice.like(comment["uid"])
    await alice.send("/delete", {"post_uid": gone["uid"]})
    await expect(bob.post_bodies).to_have_text(["Still here"])
    await expect(bob.comment_likes_of("A note")).to_have_text("1 like · Liked by alice")
    await alice.close()
