"""Following people, and the home page changing live as they post, comment and like."""

from urllib.parse import urlsplit

from playwright.async_api import expect

from feed.models import PAGE_SIZE
from tests.browser import BROWSER_TESTS_ON_BOTH_DATABASES

pytestmark = BROWSER_TESTS_ON_BOTH_DATABASES


async def test_find_someone_on_the_people_page_and_follow_them(people):
    alice, bob = await people("alice", "bob")
    await bob.follow(alice)
    await bob.page.goto("/user/alice")
    await expect(bob.page.locator("#follower-count")).to_have_text("1 follower")
    await expect(bob.page.get_by_role("button", name="Unfollow")).to_be_visible()


async def test_a_post_appears_on_a_followers_open_home_page(alice_and_bob):
    alice, bob = alice_and_bob
    await alice.write_post("Hello from alice")
    await bob.show_new_posts()
    await expect(bob.post_bodies).to_have_text(["Hello from alice"])
    await bob.expect_no_reload()


async def test_comments_and_likes_appear_live_and_unlike_takes_the_like_back(alice_and_bob):
    alice, bob = alice_and_bob
    await alice.write_post("Lunch at noon?")
    await bob.show_new_posts()

    await bob.comment("Lunch at noon?", "Count me in")
    await bob.like("Lunch at noon?")
    await expect(alice.comments_on("Lunch at noon?")).to_have_text(["Count me in"])
    await expect(alice.likes_of("Lunch at noon?")).to_have_text("1 like · Liked by bob")

    await bob.unlike("Lunch at noon?")
    await expect(alice.likes_of("Lunch at noon?")).to_have_text("")
    await expect(bob.likes_of("Lunch at noon?")).to_have_text("")
    await alice.expect_no_reload()


async def test_scrolling_down_loads_older_posts_until_there_are_no_more(people):
    (alice,) = await people("alice")
    await alice.open_home()
    texts = [f"Post number {number}" for number in range(1, 2 * PAGE_SIZE + 2)]
    for text in texts:
        await alice.write_post(text)
    newest_first = texts[::-1]

    await alice.open_home()  # the server renders the first page only
    await expect(alice.post_bodies).to_have_text(newest_first[:PAGE_SIZE])
    for pages in (2, 3):
        await alice.page.mouse.wheel(0, 5000)
        await expect(alice.post_bodies).to_have_text(newest_first[: pages * PAGE_SIZE])
    await expect(alice.page.get_by_text("No more posts")).to_be_visible()


async def test_the_pages_own_requests_send_the_csrf_token_of_the_page(people):
    (alice,) = await people("alice")
    await alice.open_home()
    token = await alice.page.locator('meta[name="csrf-token"]').get_attribute("content")
    sent = []

    def note_post_request(request) -> None:
        if request.method == "POST":
            sent.append(request)

    alice.page.on("request", note_post_request)

    await alice.write_post("Is my token sent?")
    await alice.comment("Is my token sent?", "It should be")
    await alice.like("Is my token sent?")
    await alice.unlike("Is my token sent?")

    assert [urlsplit(request.url).path for request in sent] == [
        "/post",
        "/comment",
        "/like",
        "/unlike",
    ]
    for request in sent:
        assert await request.header_value("X-CSRFToken") == token
