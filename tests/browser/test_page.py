"""The page itself: keyboard paths, focus rings, the current page marked,
one column everywhere, and how little a first visit downloads."""

import re

import pytest
from playwright.async_api import expect

from tests.browser import BROWSER_TESTS
from tests.live import Person

pytestmark = BROWSER_TESTS

WCAG_NON_TEXT_CONTRAST = 3.0
ONE_YEAR_S = 365 * 24 * 3600

# The focused element's outline, and the first opaque background behind it.
RING_AND_BACKGROUND = """() => {
  const focused = document.activeElement;
  const style = getComputedStyle(focused);
  let element = focused.parentElement;
  let background = "rgba(0, 0, 0, 0)";
  while (element && /rgba\\(.*, 0\\)$/.test(background)) {
    background = getComputedStyle(element).backgroundColor;
    element = element.parentElement;
  }
  return {ring: style.outlineColor, width: parseFloat(style.outlineWidth),
          outline: style.outlineStyle, background};
}"""


def luminance(css_color: str) -> float:
    """WCAG's relative luminance of an rgb()/rgba() colour."""
    red, green, blue = (int(part) / 255 for part in re.findall(r"[\d.]+", css_color)[:3])

    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.03928 else ((channel + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


def contrast(first: str, second: str) -> float:
    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


async def test_the_third_post_is_seven_tab_presses_past_the_skip_link(people, server):
    (bob,) = await people("bob")
    alice = await Person(server.url, "alice").sign_up()
    await bob.follow(alice)
    for number in (1, 2, 3):
        await alice.post(f"Post {number}")
    await bob.open_home()
    keyboard = bob.page.keyboard

    await keyboard.press("Tab")
    await expect(bob.page.get_by_role("link", name="Skip to content")).to_be_focused()
    await keyboard.press("Enter")
    await expect(bob.page.locator("main")).to_be_focused()
    third = bob.page.locator("#posts > article").nth(2)
    presses = 0
    while presses < 20 and not await third.evaluate("post => post === document.activeElement"):
        await keyboard.press("Tab")
        presses += 1
    # The composer's box and button, then each post and one of its controls.
    assert presses == 2 + 2 * 2 + 1

    # Inside a post, the arrow keys go from control to control.
    await keyboard.press("Tab")
    author = bob.post("Post 1").locator(".post-author")
    await expect(author).to_be_focused()
    await keyboard.press("ArrowRight")
    await expect(bob.like_button("Post 1")).to_be_focused()
    await alice.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_focus_rings_stand_out_at_three_to_one(people, scheme):
    (alice,) = await people("alice")
    await alice.page.emulate_media(color_scheme=scheme)
    await alice.open_home()
    for control in (
        alice.page.get_by_role("button", name="Post", exact=True),
        # In the navbar, which is dark in both modes.
        alice.page.locator("#main-nav").get_by_role("link", name="People"),
    ):
        await control.focus()
        await alice.page.keyboard.press("Shift+Tab")  # focus by keyboard: :focus-visible
        await alice.page.keyboard.press("Tab")
        await expect(control).to_be_focused()
        ring = await alice.page.evaluate(RING_AND_BACKGROUND)
        assert ring["outline"] != "none" and ring["width"] >= 2
        assert contrast(ring["ring"], ring["background"]) >= WCAG_NON_TEXT_CONTRAST, ring


async def test_only_the_current_pages_link_is_marked_current(people):
    (alice,) = await people("alice")
    for path, name in (("/people", "People"), ("/groups", "Groups"), ("/user/alice", "alice")):
        await alice.page.goto(path)
        current = alice.page.locator('[aria-current="page"]')
        await expect(current).to_have_count(1)
        await expect(current).to_have_accessible_name(name)


async def test_every_single_column_page_has_the_same_width_with_flash_messages_in_it(people):
    alice, bob = await people("alice", "bob")
    await bob.follow(alice)  # "Followed alice", in the column
    column = bob.page.locator(".page-column")
    width = (await column.bounding_box())["width"]
    alert = (await bob.alert.bounding_box())["width"]
    assert alert <= width
    for path in ("/", "/groups", "/user/alice", "/user/alice/followers", "/login"):
        await bob.page.goto(path)
        assert (await column.bounding_box())["width"] == width


async def test_pages_are_compressed_and_files_cached_for_a_year_under_hashed_names(
    alice_and_bob,
):
    _, bob = alice_and_bob
    responses = []
    bob.page.on("response", lambda response: responses.append(response))
    async with bob.page.expect_response(re.compile(r"/sse\?")) as stream:
        await bob.page.reload()
    headers = {response.url: await response.all_headers() for response in responses}

    page = headers[bob.page.url]
    assert page["content-encoding"] == "gzip"
    assert "accept-encoding" in page["vary"].lower()
    # The page's own files. (Not the default profile image: its URL goes into
    # the events that streams replay later, so it keeps a name that lasts.)
    files = {
        url: header
        for url, header in headers.items()
        if "/static/" in url and not url.endswith(".png")
    }
    stylesheets = [url for url in files if url.endswith(".css")]
    assert len(stylesheets) == 2 and len(files) == 6  # and three scripts, and the icon
    for url, header in files.items():
        assert re.search(r"\.[0-9a-f]{10}\.\w+$", url), url
        assert f"max-age={ONE_YEAR_S}" in header["cache-control"]
        assert "immutable" in header["cache-control"]
    # theme.js is too small to gain from it.
    large = [url for url in files if re.search(r"/(bootstrap|broadcast|quartfeed)\.", url)]
    assert len(large) == 4
    for url in large:
        assert files[url]["content-encoding"] == "gzip", url
    # The event stream is sent as it comes, never held back to be compressed.
    assert "content-encoding" not in await (await stream.value).all_headers()
