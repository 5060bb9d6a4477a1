"""What people write is shown as text, never run: in the page the server
renders and in what broadcast.js renders from live events alike.

The conftest fails any test whose pages open a dialog (every payload here
calls alert), log an error or break the Content Security Policy.
"""

import re

from playwright.async_api import expect

from tests.browser import BROWSER_TESTS
from user.models import USERNAME_RULE

pytestmark = BROWSER_TESTS

PAYLOADS = [
    "<script>alert('script')</script>",
    "<img src=x onerror=alert('img')>",
    "<a href=\"javascript:alert('link')\">click me</a>",
    '"><b>attribute breaker</b>',
    "'><svg onload=alert('svg')>",
    "${alert('template literal')}",
    "`;alert('backtick');`",
]
# Usernames are at most 15 characters (the field cuts what is typed).
USERNAME_PAYLOADS = ['"><b>x</b>', "<script>", "<svg/onload=x>", "${alert(1)}"]
# Elements the payloads would create if they became markup.
INJECTED = ", ".join(
    f"#posts {selector}"
    for selector in ("script", "b", "svg", "img:not(.avatar)", "a[href^='javascript:']")
)


async def expect_payloads_as_text(visitor) -> None:
    """Every payload shows as a post, newest first, and as a comment on the newest."""
    await expect(visitor.post_bodies).to_have_text(PAYLOADS[::-1])
    await expect(visitor.comments_on(PAYLOADS[-1])).to_have_text(PAYLOADS)
    await expect(visitor.page.locator(INJECTED)).to_have_count(0)


async def test_markup_in_posts_and_comments_shows_as_text_live_and_after_reload(alice_and_bob):
    alice, bob = alice_and_bob
    for payload in PAYLOADS:
        await alice.write_post(payload)
    await bob.show_new_posts(len(PAYLOADS))
    for payload in PAYLOADS:
        await bob.comment(PAYLOADS[-1], payload)

    # Rendered by broadcast.js: alice's from her own requests and bob's
    # comments from events, bob's from alice's events and his requests.
    for visitor in (alice, bob):
        await expect_payloads_as_text(visitor)
        await visitor.expect_no_reload()
    # Rendered by the server.
    for visitor in (alice, bob):
        await visitor.open_home()
        await expect_payloads_as_text(visitor)


async def test_markup_in_a_username_is_refused_with_the_rule(people):
    (mallory,) = await people("mallory", signed_up=False)
    username = mallory.page.get_by_label("Username")
    for payload in USERNAME_PAYLOADS:
        # The register form checks the rule before sending, and keeps what was typed.
        await mallory.register(payload)
        await expect(mallory.page).to_have_url(re.compile(r"/register$"))
        await expect(username).to_have_value(payload)
        assert await username.evaluate("field => field.validity.patternMismatch")

    await mallory.sign_up()
    for payload in USERNAME_PAYLOADS:
        await mallory.edit_profile(payload)
        await expect(mallory.alert).to_have_text(USERNAME_RULE)
        await expect(mallory.page.get_by_label("Username")).to_have_value(payload)
    await expect(mallory.navbar_username).to_have_text("mallory")


async def test_markup_searched_for_on_the_people_page_shows_as_text(people):
    (alice,) = await people("alice")
    await alice.page.goto("/people")
    for payload in USERNAME_PAYLOADS:
        await alice.page.get_by_placeholder("Username starts with").fill(payload)
        await alice.page.get_by_role("button", name="Search").click()
        await expect(alice.alert).to_have_text(USERNAME_RULE)
        await expect(alice.page.locator("#people-heading")).to_have_text(
            f"Usernames starting with “{payload}”"
        )
