"""Groups in the browser: one person starts a group, another finds it,
joins and leaves it; markup in a group's name and description is shown as
text (the conftest fails a test whose page opens a dialog)."""

from playwright.async_api import expect

from group.views import OWNER_CANNOT_LEAVE
from tests.browser import BROWSER_TESTS

pytestmark = BROWSER_TESTS

NAME_PAYLOAD = "<img src=x onerror=alert('name')>"
DESCRIPTION_PAYLOAD = "<script>alert('description')</script><b>bold</b>"
# Elements the payloads would create if they became markup.
INJECTED = "main script, main b, main img:not(.avatar)"


async def test_a_group_is_started_found_joined_and_left(people):
    alice, bob = await people("alice", "bob")
    await alice.start_group("Night Owls", "We post after midnight.")
    await expect(alice.alert).to_have_text("Created Night Owls")
    await expect(alice.page.locator("#group-description")).to_have_text("We post after midnight.")
    await expect(alice.group_members).to_have_text(["alice"])

    await bob.search_groups("OWLS")
    await bob.page.get_by_role("link", name="Night Owls").click()
    await bob.page.get_by_role("button", name="Join group").click()
    await expect(bob.alert).to_have_text("Joined Night Owls")
    await expect(bob.group_members).to_have_text(["alice", "bob"])
    await expect(bob.page.get_by_label("Post in Night Owls")).to_be_visible()

    await alice.page.reload()
    await alice.page.get_by_role("button", name="Leave group").click()
    await expect(alice.alert).to_have_text(OWNER_CANNOT_LEAVE)

    await bob.page.get_by_role("button", name="Leave group").click()
    await expect(bob.alert).to_have_text("Left Night Owls")
    await expect(bob.group_members).to_have_text(["alice"])
    await expect(bob.page.get_by_role("button", name="Join group")).to_be_visible()


async def test_markup_in_a_group_name_and_description_shows_as_text(people):
    alice, bob = await people("alice", "bob")
    await alice.start_group(NAME_PAYLOAD, DESCRIPTION_PAYLOAD)
    await expect(alice.alert).to_have_text(f"Created {NAME_PAYLOAD}")
    await expect(alice.page.locator("#group-name")).to_have_text(NAME_PAYLOAD)
    await expect(alice.page.locator("#group-description")).to_have_text(DESCRIPTION_PAYLOAD)
    await expect(alice.page.locator(INJECTED)).to_have_count(0)

    await bob.search_groups("<img")
    await expect(bob.page.locator("#group-list .group-name")).to_have_text([NAME_PAYLOAD])
    await expect(bob.page.locator("#group-list .group-description")).to_have_text(
        [DESCRIPTION_PAYLOAD]
    )
    await expect(bob.page.locator(INJECTED)).to_have_count(0)
