"""/healthz, and behaviour with the database down."""

from application import create_app

# Nothing listens on port 1: the connection is refused at once.
UNREACHABLE = "mysql+aiomysql://root@127.0.0.1:1/quartfeed"


async def test_healthz_ok(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert await response.get_json() == {"status": "ok", "database": "ok"}


async def test_healthz_503_when_database_unreachable(app_config):
    app = create_app({**app_config, "DATABASE_URL": UNREACHABLE})
    async with app.test_app():
        response = await app.test_client().get("/healthz")
    assert response.status_code == 503
    assert (await response.get_json())["database"] == "unreachable"


async def test_pages_say_503_clearly_when_database_unreachable(app_config):
    app = create_app({**app_config, "DATABASE_URL": UNREACHABLE})
    async with app.test_app():
        client = app.test_client()
        login_page = await client.get("/login")  # needs no query: still served
        token_page = await login_page.get_data(as_text=True)
        token = token_page.split('name="csrf-token" content="')[1].split('"')[0]
        response = await client.post(
            "/login", form={"csrf_token": token, "username": "alice", "password": "pw"}
        )
    assert login_page.status_code == 200
    assert response.status_code == 503
    assert "cannot reach its database" in await response.get_data(as_text=True)
