"""The settings page in a browser: what deleting an account and changing a
password do to pages open elsewhere, live."""

from playwright.async_api import expect

from tests.browser import BROWSER_TESTS
from tests.browser.visitor import Visitor
from tests.helpers import PASSWORD

pytestmark = BROWSER_TESTS


async def fill_in_settings(visitor: Visitor, fields: dict[str, str], button: str) -> None:
    """Open Settings from the navbar, fill in `fields` (by label), press `button`."""
    # Their own page's stream ends with the session: a 401 when it asks again.
    visitor.tolerate("status of 401", "/sse")
    await visitor.page.get_by_role("link", name="Settings").click()
    for label, value in fields.items():
        await visitor.page.get_by_label(label, exact=True).fill(value)
    await visitor.page.get_by_role("button", name=button).click()


async def test_a_deleted_accounts_posts_and_comments_leave_an_open_page(alice_and_bob):
    alice, bob = alice_and_bob  # bob follows alice
    await alice.follow(bob)
    await bob.write_post("Anyone for tea?")
    await alice.open_home()
    await alice.comment("Anyone for tea?", "Yes please")
    await alice.write_post("Off to Wonderland")
    await bob.show_new_posts()
    await expect(bob.post_bodies).to_have_text(["Off to Wonderland", "Anyone for tea?"])
    await expect(bob.comments_on("Anyone for tea?")).to_have_text(["Yes please"])

    await fill_in_settings(alice, {"Your password": PASSWORD}, "Delete my account")
    await expect(alice.alert).to_have_text("Your account has been deleted. Goodbye!")

    await expect(bob.post_bodies).to_have_text(["Anyone for tea?"])
    await expect(bob.comments_on("Anyone for tea?")).to_have_count(0)
    await bob.expect_no_reload()


async def test_a_new_password_logs_out_another_browser(people):
    (laptop,) = await people("alice")
    (phone,) = await people("alice", signed_up=False)
    await phone.log_in()
    phone.tolerate("status of 401", "/sse")  # its stream asks again, and learns it is out
    fields = {"Current password": PASSWORD, "New password": "a brand new passphrase"}
    await fill_in_settings(laptop, fields, "Change password")

    await expect(laptop.alert).to_have_text(
        "Your password has been changed; your other sessions are logged out"
    )
    await expect(phone.page.locator("#stream-status")).to_contain_text("You are logged out.")
    await laptop.page.goto("/")
    await expect(laptop.navbar_username).to_have_text("alice")
