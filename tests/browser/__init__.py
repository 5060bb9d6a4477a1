"""Browser tests: Playwright drives a real Chromium through QuartFeed."""

import pytest

# Every browser test module says `pytestmark = BROWSER_TESTS`.
BROWSER_TESTS = [
    # `-m "not browser"` leaves them out on a developer's machine.
    pytest.mark.browser,
    # MySQL only: it is the production database, and a page looks the same
    # whichever database is behind it.
    pytest.mark.parametrize("database_url", ["mysql"], indirect=True),
    # One browser serves the whole session, and Playwright's objects belong
    # to the event loop that made them, so the tests run in that loop too.
    pytest.mark.asyncio(loop_scope="session"),
]
