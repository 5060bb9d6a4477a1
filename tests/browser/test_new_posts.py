"""New posts that arrive while the reader is at the top of the page wait
behind an "N new posts" button: what is on screen never moves by itself."""

from playwright.async_api import expect

from tests.browser import BROWSER_TESTS
from tests.live import Person

pytestmark = BROWSER_TESTS

TOP = "element => element.getBoundingClientRect().top"


async def test_at_the_top_new_posts_wait_behind_a_button_that_shows_them(people, server):
    (bob,) = await people("bob")
    alice = await Person(server.url, "alice").sign_up()
    carol = await Person(server.url, "carol").sign_up()
    await bob.follow(alice)
    await bob.follow(carol)
    await alice.post("Already here")
    await bob.page.clock.install()  # the announcement's timer runs when the test says
    await bob.open_home()
    first = bob.post("Already here")
    top_before = await first.evaluate(TOP)

    await alice.post("News from alice")
    await carol.post("News from carol")
    button = bob.page.get_by_role("button", name="Show 2 new posts")
    await expect(button).to_be_visible()
    # Nothing moved: the posts wait out of sight.
    await expect(bob.post_bodies).to_have_text(["Already here"])
    assert await first.evaluate(TOP) == top_before
    await bob.page.clock.run_for(1000)
    await expect(bob.page.locator("#live-status")).to_have_text("2 new posts from alice and carol")

    # The button comes right after the composer on the way down, by keyboard.
    await bob.page.get_by_role("button", name="Post", exact=True).focus()
    await bob.page.keyboard.press("Tab")
    await expect(button).to_be_focused()
    await bob.page.keyboard.press("Enter")
    await expect(bob.post_bodies).to_have_text(
        ["News from carol", "News from alice", "Already here"]
    )
    await expect(bob.post("News from carol")).to_be_focused()
    await expect(button).to_be_hidden()
    await alice.close()
    await carol.close()


async def test_scrolled_down_new_posts_go_in_above_without_a_button(people, server):
    (bob,) = await people("bob")
    alice = await Person(server.url, "alice").sign_up()
    await bob.follow(alice)
    for number in range(1, 9):
        await alice.post(f"Post {number}")
    await bob.open_home()
    reading = bob.post("Post 1")
    await reading.evaluate("post => post.scrollIntoView({block: 'end', behavior: 'instant'})")
    top_before = await reading.evaluate(TOP)

    await alice.post("Post 9")
    await expect(bob.post_bodies.first).to_have_text("Post 9")
    await expect(bob.page.locator("#new-posts")).to_be_hidden()
    await expect(bob.post("Post 9")).not_to_be_in_viewport()
    assert await reading.evaluate(TOP) == top_before
    await alice.close()


async def test_at_the_top_a_post_that_rises_waits_behind_the_button(people, server):
    (bob,) = await people("bob")
    alice = await Person(server.url, "alice").sign_up()
    await bob.follow(alice)
    posts = [await alice.post(f"Post {number}") for number in range(1, 9)]
    await bob.page.set_viewport_size({"width": 1280, "height": 500})
    await bob.open_home()
    await expect(bob.post("Post 1")).not_to_be_in_viewport()  # the oldest, far below
    newest = bob.post("Post 8")
    top_before = await newest.evaluate(TOP)

    await alice.comment(posts[0]["uid"], "Post 1 rises")
    button = bob.page.get_by_role("button", name="Show 1 new post")
    await expect(button).to_be_visible()
    # It left its place below, out of sight; what is on screen stayed put.
    await expect(bob.post_bodies.first).to_have_text("Post 8")
    assert await newest.evaluate(TOP) == top_before
    await button.click()
    await expect(bob.post_bodies.first).to_have_text("Post 1")
    await alice.close()
