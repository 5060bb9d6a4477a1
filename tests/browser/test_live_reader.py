"""The live page and the person reading it: updates never take their focus,
their typing or their place, are announced once to screen readers, and a
failure is shown where it happened."""

import re

import pytest
from playwright.async_api import expect

from tests.browser import BROWSER_TESTS
from tests.live import Person

pytestmark = BROWSER_TESTS

# broadcast.js gathers what arrives for this long before it announces it.
ANNOUNCE_AFTER_MS = 1000
TOP = "element => element.getBoundingClientRect().top"


async def someone_bob_follows(server, bob, username: str = "alice") -> Person:
    person = await Person(server.url, username).sign_up()
    await bob.follow(person)
    return person


async def test_live_updates_keep_focus_typed_text_and_what_you_read_in_place(people, server):
    (bob,) = await people("bob")
    alice = await someone_bob_follows(server, bob)
    uids = {number: (await alice.post(f"Post {number}"))["uid"] for number in range(1, 9)}
    await bob.open_home()
    reading = bob.post("Post 3")
    await reading.evaluate("post => post.scrollIntoView({block: 'center', behavior: 'instant'})")
    await expect(bob.post("Post 7")).not_to_be_in_viewport()
    await reading.get_by_role("button", name="Comment").click()
    comment_box = reading.get_by_placeholder("Write a comment")
    await bob.page.keyboard.type("I'll bring")
    top_before = await comment_box.evaluate(TOP)

    # Someone comments on and likes the post bob is answering, and likes the
    # one under it: both stay where they are, in sight. A post out of sight
    # gets a comment and rises to the top, and a new post arrives.
    await expect(bob.post("Post 2")).to_be_in_viewport()
    await alice.comment(uids[3], "Lunch at one?")
    await alice.like(uids[3])
    await alice.like(uids[2])
    await alice.comment(uids[7], "Anyone?")
    await alice.post("Post 9")

    newest_first = ["Post 9", "Post 7", "Post 8", *[f"Post {n}" for n in range(6, 0, -1)]]
    await expect(bob.post_bodies).to_have_text(newest_first)
    await expect(bob.comments_on("Post 3")).to_have_text(["Lunch at one?"])
    await expect(bob.likes_of("Post 3")).to_have_text("1 like · Liked by alice")
    await expect(comment_box).to_be_focused()
    await expect(comment_box).to_have_value("I'll bring")
    assert await comment_box.evaluate(TOP) == pytest.approx(top_before, abs=1)
    await expect(reading).to_be_in_viewport()
    await bob.page.keyboard.type(" dessert")  # where the focus is: still the box
    await expect(comment_box).to_have_value("I'll bring dessert")

    # The feed's articles are numbered as they now stand, and Page Down goes
    # from one to the next.
    await expect(bob.post("Post 7")).to_have_attribute("aria-posinset", "2")
    await expect(reading).to_have_attribute("aria-posinset", "7")
    await reading.focus()
    await bob.page.keyboard.press("PageDown")
    await expect(bob.post("Post 2")).to_be_focused()
    await alice.close()


async def test_screen_readers_hear_of_what_others_post_once_per_burst(people, server):
    (bob,) = await people("bob")
    alice = await someone_bob_follows(server, bob)
    # The page's timers run only when the test says: what arrives meanwhile
    # is one burst, however slowly it came.
    await bob.page.clock.install()
    await bob.open_home()
    status = bob.page.locator("#live-status")

    first = await alice.post("One")
    await alice.post("Two")
    await bob.show_new_posts(2)
    await expect(bob.post_bodies).to_have_text(["Two", "One"])
    await bob.page.clock.run_for(ANNOUNCE_AFTER_MS)
    await expect(status).to_have_text("2 new posts from alice")

    await bob.write_post("Mine is not news to me")
    await alice.comment(first["uid"], "A comment")  # its event comes after bob's post's
    await expect(bob.comments_on("One")).to_have_text(["A comment"])
    await bob.page.clock.run_for(ANNOUNCE_AFTER_MS)
    await expect(status).to_have_text("1 new comment from alice")
    await alice.close()


async def test_a_failed_like_says_why_beside_the_post(people, server):
    alice = await Person(server.url, "alice").sign_up()
    await alice.post("Nice weather")
    (visitor,) = await people("visitor", signed_up=False)
    visitor.tolerate("status of 401", about="/like")
    await visitor.page.goto("/user/alice")

    await visitor.like_button("Nice weather").click()
    failure = visitor.post("Nice weather").get_by_role("alert")
    await expect(failure).to_contain_text("Only people who are logged in can do that.")
    login = failure.get_by_role("link", name="Log in")
    await expect(login).to_have_attribute("href", "/login?next=/user/alice")
    await expect(visitor.like_button("Nice weather")).to_have_attribute("aria-pressed", "false")

    # Too many likes at once: the server says when to try again.
    (bob,) = await people("bob")
    bob.tolerate("status of 429", about="/like")
    await bob.page.route(
        re.compile(r"/like$"),
        lambda route: route.fulfill(
            status=429, headers={"Retry-After": "17"}, json={"error": "Too many attempts."}
        ),
    )
    await bob.page.goto("/user/alice")
    await bob.like_button("Nice weather").click()
    await expect(bob.post("Nice weather").get_by_role("alert")).to_have_text(
        "Too many at once. Try again in 17 seconds."
    )
    await alice.close()
