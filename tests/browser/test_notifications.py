"""The bell and the notifications page, live in Chromium: the count changes
on every open page of the person told, reading on one page reaches the
others, and links and mentions in what people write stay inert."""

import re

from playwright.async_api import expect

from tests.browser import BROWSER_TESTS

pytestmark = BROWSER_TESTS


def bell(visitor):
    """The bell's count of unread notifications (hidden when there are none)."""
    return visitor.page.locator("#notification-count")


async def test_the_bell_counts_live_and_reading_on_one_page_clears_every_other(alice_and_bob):
    alice, bob = alice_and_bob
    await expect(bell(alice)).to_have_text("1 unread")  # bob followed her
    other_page = await alice.open_tab("/people")
    await expect(bell(other_page)).to_have_text("1 unread")
    await alice.write_post("hello everyone")
    await bob.show_new_posts(1)
    await bob.like("hello everyone")
    for page in (alice, other_page):
        await expect(bell(page)).to_have_text("2 unread")
    await other_page.page.goto("/notifications")
    items = other_page.page.locator("#notification-list .notification")
    await expect(items).to_have_text(
        [re.compile(r"bob\s+liked your post"), re.compile("bob\\s+followed you")]
    )
    # Opening the page marked them read: the bell of every page says so.
    for page in (alice, other_page):
        await expect(bell(page)).to_be_hidden()
    await expect(other_page.page.locator(".notification.unread")).to_have_count(0)
    await bob.comment("hello everyone", "hi @alice")
    await expect(bell(alice)).to_have_text("1 unread")
    await expect(items.first).to_have_text(re.compile(r"bob\s+commented on your post"))
    await expect(items.first.get_by_role("link", name="your post")).to_have_attribute(
        "href", re.compile(r"^/posts/[0-9a-f-]+#comment-")
    )
    # Taken back: the like goes from the list and from nothing else.
    await bob.unlike("hello everyone")
    await expect(items).to_have_count(2)
    await expect(bell(alice)).to_have_text("1 unread")
    await alice.expect_no_reload()


LINKS = (
    'see https://example.com/"><img src=x onerror=alert(1)> and javascript:alert(2) '
    "data:text/html,<script>alert(3)</script> @bob @nobody #tag"
)


def the_post(visitor):
    """The post whose text is LINKS (shown with its addresses shortened)."""
    return visitor.page.locator("article.post").filter(has_text="@nobody #tag")


async def test_links_and_mentions_are_links_and_nothing_else_runs(alice_and_bob):
    alice, bob = alice_and_bob
    await alice.page.get_by_label(re.compile(r"^What's new")).fill(LINKS)
    await alice.page.get_by_role("button", name="Post", exact=True).click()
    await bob.show_new_posts(1)
    for page in (bob, alice):
        body = the_post(page).locator(".post-body")
        await expect(body.locator("a")).to_have_count(2)
        await expect(body.get_by_role("link", name="example.com/")).to_have_attribute(
            "rel", "nofollow ugc noopener noreferrer"
        )
        await expect(body.get_by_role("link", name="@bob")).to_have_attribute("href", "/user/bob")
        await expect(body.locator("img, script, a[href^='javascript:']")).to_have_count(0)
    await bob.page.reload()
    await expect(the_post(bob).locator(".post-body a")).to_have_count(2)
