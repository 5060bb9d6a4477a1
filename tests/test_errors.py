"""What the app answers, and logs, when something goes wrong."""

import logging

import pytest

from application import create_app


@pytest.fixture
async def failing_app(app_config):
    """The app with one extra page that fails the way a bug would."""
    app = create_app(app_config)

    async def broken_page():
        raise RuntimeError("a bug in a view")

    app.add_url_rule("/broken", view_func=broken_page)
    async with app.test_app():
        yield app


async def test_an_unexpected_error_is_logged_once_with_its_traceback_and_request(
    failing_app, caplog
):
    with caplog.at_level(logging.INFO):
        response = await failing_app.test_client().get("/broken?x=1")
    assert response.status_code == 500
    assert "Something went wrong on our side" in await response.get_data(as_text=True)
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert [record.getMessage() for record in errors] == ["Unexpected error on GET /broken"]
    assert errors[0].exc_info[0] is RuntimeError
    assert "a bug in a view" in caplog.text  # the traceback's last line


async def test_an_unexpected_json_error_answers_json(failing_app):
    response = await failing_app.test_client().get(
        "/broken", headers={"Accept": "application/json"}
    )
    assert response.status_code == 500
    assert await response.get_json() == {
        "error": "Something went wrong on our side. Please try again."
    }


@pytest.mark.parametrize("folder", ["static", "media"])
async def test_a_file_name_too_long_to_exist_is_not_found(client, folder, caplog):
    response = await client.get(f"/{folder}/{'a' * 300}.png")
    assert response.status_code == 404
    assert "There is nothing here." in await response.get_data(as_text=True)
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]
