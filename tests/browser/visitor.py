"""A person using QuartFeed in their own browser context, and what they do there.

Each step ends by waiting for what the person would see next: Playwright's
`expect` retries until it shows (or fails after a few seconds), so no test
ever sleeps for a fixed time.
"""

import re
from collections.abc import Awaitable, Callable

from playwright.async_api import ConsoleMessage, Dialog, Locator, Page, expect

from tests.helpers import PASSWORD
from tests.live import Person


def exactly(text: str) -> re.Pattern:
    """Matches an element whose whole text is `text`, markup characters and all."""
    return re.compile(f"^{re.escape(text)}$")


class Visitor:
    """One person (`username`) with one browser tab (`page`)."""

    def __init__(self, username: str, page: Page) -> None:
        self.username = username
        self.page = page
        # Console errors (which include CSP violations), uncaught exceptions
        # and dialogs: the conftest fails the test if there are any.
        self.problems: list[str] = []
        # Console errors a test expects: (a piece of their text, of their URL).
        self.tolerated: list[tuple[str, str]] = []
        # The other tabs this person opened in the same browser (`open_tab`).
        self.tabs: list[Visitor] = []
        page.on("console", self._note_console_error)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught error: {error}"))
        page.on("dialog", self._note_dialog)

    def _note_console_error(self, message: ConsoleMessage) -> None:
        if message.type != "error" or self._is_page_status(message):
            return
        if not self._is_tolerated(message):
            self.problems.append(f"console error on {self.page.url}: {message.text}")

    def tolerate(self, console_error: str, about: str = "") -> None:
        """Expect console errors that contain `console_error` from now on, only
        those about a URL that contains `about` when it is given."""
        self.tolerated.append((console_error, about))

    def _is_tolerated(self, message: ConsoleMessage) -> bool:
        url = message.location.get("url", "")
        return any(text in message.text and about in url for text, about in self.tolerated)

    def _is_page_status(self, message: ConsoleMessage) -> bool:
        """Chrome logs an error when the page itself comes with an error status,
        e.g. a form shown again with its message and 400: the test checks
        what that page says. A script, image or request that fails still counts.
        """
        is_load_failure = message.text.startswith("Failed to load resource")
        return is_load_failure and message.location.get("url") == self.page.url

    async def _note_dialog(self, dialog: Dialog) -> None:
        # Only script opens a dialog, and QuartFeed never does: some text ran as code.
        self.problems.append(f"{dialog.type} dialog opened: {dialog.message}")
        await dialog.dismiss()

    async def open_tab(
        self, path: str, prepare: Callable[[Page], Awaitable] | None = None
    ) -> "Visitor":
        """Open `path` in another tab of the same browser (cookies, and the
        console errors tolerated, and all); `prepare` the tab first."""
        tab = Visitor(self.username, await self.page.context.new_page())
        tab.tolerated = self.tolerated
        self.tabs.append(tab)
        if prepare is not None:
            await prepare(tab.page)
        await tab.page.goto(path)
        return tab

    # --- What the person sees ------------------------------------------------

    @property
    def alert(self) -> Locator:
        """The alert that says something: the flash message, or the message of
        a form or an action that failed (their regions are empty until then)."""
        return self.page.get_by_role("alert").filter(has_text=re.compile(r"\S"))

    @property
    def navbar_username(self) -> Locator:
        return self.page.locator("#navbar-username")

    @property
    def post_bodies(self) -> Locator:
        """The text of every post on the page, top to bottom."""
        return self.page.locator("#posts .post-body")

    @property
    def delivered_post_bodies(self) -> Locator:
        """The text of every post that reached the page, newest first: those
        that wait behind the "N new posts" button, then those in the list."""
        return self.page.locator("#waiting-posts .post-body, #posts .post-body")

    def post(self, text: str) -> Locator:
        """The card of the post that says `text`."""
        body = self.page.locator(".post-body").filter(has_text=exactly(text))
        return self.page.locator("article.post").filter(has=body)

    def comments_on(self, post_text: str) -> Locator:
        return self.post(post_text).locator(".comment-body")

    def comment_of(self, text: str) -> Locator:
        """The comment that says `text`."""
        body = self.page.locator(".comment-body").filter(has_text=exactly(text))
        return self.page.locator(".comment").filter(has=body)

    def likes_of(self, post_text: str) -> Locator:
        """The "2 likes · Liked by alice, bob" line under a post (empty when none)."""
        # The post's own comes before its comments'.
        return self.post(post_text).locator(".likes").first

    def comment_likes_of(self, comment_text: str) -> Locator:
        """The likes line under a comment."""
        return self.comment_of(comment_text).locator(".likes")

    @property
    def delete_buttons(self) -> Locator:
        """Every Delete button on the page; its text says whose post or comment."""
        return self.page.locator("#posts .delete-button")

    # --- Accounts --------------------------------------------------------------

    async def submit_credentials(
        self, path: str, button: str, username: str, password: str = PASSWORD
    ) -> None:
        await self.page.goto(path)
        await self.page.get_by_label("Username").fill(username)
        await self.page.get_by_label("Password").fill(password)
        await self.page.get_by_role("button", name=button, exact=True).click()

    async def register(self, username: str | None = None) -> None:
        await self.submit_credentials("/register", "Register", username or self.username)

    async def log_in(self) -> None:
        await self.submit_credentials("/login", "Log in", self.username)
        await expect(self.navbar_username).to_have_text(self.username)

    async def sign_up(self) -> None:
        """Register, which logs the person in and takes them home."""
        await self.register()
        await expect(self.alert).to_have_text(f"Welcome to QuartFeed, {self.username}!")
        await expect(self.navbar_username).to_have_text(self.username)

    async def log_out(self) -> None:
        # The page's stream may ask again in the moment the session ends: a
        # 401, which is how a page learns it is logged out.
        self.tolerate("status of 401", "/sse")
        await self.page.get_by_role("button", name="Logout").click()
        await expect(self.alert).to_have_text("You have been logged out")

    async def edit_profile(self, username: str, image: bytes | None = None) -> None:
        """Submit the profile form with a new username and, if given, a PNG."""
        await self.page.goto("/profile/edit")
        await self.page.get_by_label("Username").fill(username)
        if image is not None:
            upload = {"name": "me.png", "mimeType": "image/png", "buffer": image}
            await self.page.get_by_label("New profile image").set_input_files(upload)
        await self.page.get_by_role("button", name="Save").click()

    # --- People ----------------------------------------------------------------

    async def follow(self, other: "Visitor | Person") -> None:
        """Find `other` on the People page and follow them."""
        await self.page.goto("/people")
        person = self.page.locator(f'#people-list li[data-username="{other.username}"]')
        await person.get_by_role("button", name="Follow").click()
        await expect(self.alert).to_have_text(f"Followed {other.username}")
        await expect(person.get_by_role("button", name="Unfollow")).to_be_visible()

    # --- Groups ------------------------------------------------------------------

    @property
    def group_members(self) -> Locator:
        """The names a group's page lists as its members, top to bottom."""
        return self.page.locator("#member-list .member-name")

    async def start_group(self, name: str, description: str = "") -> None:
        """Fill in and send the form of /groups (its answer is the test's to check)."""
        await self.page.goto("/groups")
        await self.page.get_by_label("Name", exact=True).fill(name)
        await self.page.get_by_label("Description (optional)").fill(description)
        await self.page.get_by_role("button", name="Create group").click()

    async def search_groups(self, text: str) -> None:
        await self.page.goto("/groups")
        await self.page.get_by_placeholder("Group name contains").fill(text)
        await self.page.get_by_role("button", name="Search").click()
        await expect(self.page.locator("#groups-heading")).to_contain_text(text)

    async def join_group(self, slug: str, name: str) -> None:
        await self.page.goto(f"/groups/{slug}")
        await self.page.get_by_role("button", name="Join group").click()
        await expect(self.alert).to_have_text(f"Joined {name}")

    # --- The home page -----------------------------------------------------------

    async def open_home(self) -> None:
        """Open the home page and mark it, to tell later that it was never reloaded."""
        await self.page.goto("/")
        await expect(self.page.locator("#post-form")).to_be_visible()
        await self.page.evaluate("document.body.dataset.openedByTest = 'yes'")

    async def expect_no_reload(self) -> None:
        """The page is still the document `open_home` opened: it changed live."""
        await expect(self.page.locator("body")).to_have_attribute("data-opened-by-test", "yes")

    async def show_new_posts(self, count: int = 1) -> None:
        """Press the button that others' posts arriving at the top of the page
        wait behind, once `count` of them wait."""
        noun = "post" if count == 1 else "posts"
        await self.page.get_by_role("button", name=f"Show {count} new {noun}").click()

    async def write_post(self, text: str) -> None:
        await self.page.get_by_label(re.compile(r"^What's new")).fill(text)
        await self.page.get_by_role("button", name="Post", exact=True).click()
        await expect(self.post(text)).to_be_visible()

    async def comment(self, post_text: str, text: str) -> None:
        post = self.post(post_text)
        await post.get_by_role("button", name=re.compile(r"^Comment on ")).click()
        await post.get_by_placeholder("Write a comment").fill(text)
        await post.get_by_role("button", name="Send").click()
        await expect(self.comments_on(post_text).filter(has_text=exactly(text))).to_be_visible()

    def like_button(self, post_text: str) -> Locator:
        """The toggle named "Like <author>'s post"; aria-pressed says if it is on."""
        return self.post(post_text).get_by_role("button", name=re.compile(r"^Like \w+'s post$"))

    def comment_like_button(self, comment_text: str) -> Locator:
        """The toggle named "Like <author>'s comment"."""
        return self.comment_of(comment_text).get_by_role("button", name=re.compile(r"^Like "))

    async def like(self, post_text: str) -> None:
        await self._press(self.like_button(post_text), pressed="true")

    async def unlike(self, post_text: str) -> None:
        await self._press(self.like_button(post_text), pressed="false")

    async def like_comment(self, comment_text: str) -> None:
        await self._press(self.comment_like_button(comment_text), pressed="true")

    async def _press(self, like_button: Locator, pressed: str) -> None:
        await like_button.click()
        await expect(like_button).to_have_attribute("aria-pressed", pressed)

    async def delete(self, item: Locator, kind: str) -> None:
        """Delete a post or a comment (`kind`, `item` its element): press its
        Delete button, then Yes when asked, and see it go."""
        await item.get_by_role("button", name=re.compile(rf"^Delete \w+'s {kind}$")).click()
        question = item.get_by_role("group", name=re.compile(rf"^Delete \w+'s {kind}\?$"))
        await question.get_by_role("button", name="Yes").click()
        await expect(item).to_have_count(0)
