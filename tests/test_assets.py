"""Static files under hashed names, kept a year; text compressed (the event
stream is not: tests/browser/test_page.py); a missing Bootstrap build said
on the page and in the log."""

import gzip
import logging

import pytest

from application import create_app
from tests.helpers import text_of
from utilities import assets

STYLESHEET = "css/quartfeed.css"


async def test_a_hashed_name_is_served_for_a_year_and_the_plain_one_as_before(app, client):
    hashed = assets.hashed_name(app.static_folder, STYLESHEET)
    assert hashed != STYLESHEET and hashed.startswith("css/quartfeed.")
    kept = await client.get(f"/static/{hashed}")
    assert kept.status_code == 200
    assert kept.cache_control.max_age == assets.ONE_YEAR_S and kept.cache_control.immutable
    plain = await client.get(f"/static/{STYLESHEET}")
    assert plain.status_code == 200
    assert plain.cache_control.max_age != assets.ONE_YEAR_S
    # A hash that is not the file's content (an old copy's) is not kept for a year.
    stale = await client.get("/static/css/quartfeed.0123456789.css")
    assert stale.status_code == 404


async def test_pages_name_their_files_by_hash(client):
    page = await text_of(await client.get("/login"))
    assert f'href="/static/{assets.hashed_name("static", STYLESHEET)}"' in page


async def test_text_is_gzipped_for_browsers_that_accept_it(client):
    accepting = await client.get("/login", headers={"Accept-Encoding": "gzip, br"})
    assert accepting.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in accepting.headers["Vary"]
    assert b"<!doctype html>" in gzip.decompress(await accepting.get_data())
    plain = await client.get("/login", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers


@pytest.fixture
def without_bootstrap(monkeypatch):
    monkeypatch.setattr(assets, "BUILT_ASSETS", ("vendor/bootstrap/not-built.css",))


async def test_a_missing_build_is_said_on_the_page_and_in_the_log(
    without_bootstrap, app_config, caplog
):
    with caplog.at_level(logging.WARNING, logger="utilities.assets"):
        unbuilt = create_app(app_config)
    assert assets.MISSING_ASSETS in caplog.text
    async with unbuilt.test_app():
        page = await text_of(await unbuilt.test_client().get("/login"))
    assert assets.MISSING_ASSETS in page
