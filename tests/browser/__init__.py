"""Browser tests: Playwright drives a real Chromium through QuartFeed."""

import pytest


def browser_tests(*databases: str) -> list:
    """The marks of a browser test module, run against `databases`."""
    return [
        # `-m "not browser"` leaves them out on a developer's machine.
        pytest.mark.browser,
        pytest.mark.parametrize("database_url", list(databases), indirect=True),
        # One browser serves the whole session, and Playwright's objects belong
        # to the event loop that made them, so the tests run in that loop too.
        pytest.mark.asyncio(loop_scope="session"),
    ]


# Every browser test module says `pytestmark = BROWSER_TESTS` (or the next).
# MySQL is the production database, and most pages look the same whichever
# database is behind them.
BROWSER_TESTS = browser_tests("mysql")
# The live feed and its recovery after a restart also run on the embedded
# SQLite database and in-process bus that `make run` uses.
BROWSER_TESTS_ON_BOTH_DATABASES = browser_tests("mysql", "sqlite")
