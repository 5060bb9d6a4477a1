"""/healthz, and behaviour with the database down."""

import asyncio

import pytest
from sqlalchemy.engine import make_url

from application import create_app
from feed.channels import HOME, Channel
from feed.events import FeedEvent
from tests.conftest import MYSQL_SERVER_URL, REDIS_URL, empty_tables, unavailable
from tests.helpers import csrf_token_from, register_and_login, replayed_home
from tests.proxy import DatabaseProxy
from user.models import user_by_name

# How long a test waits for answers that a hung dependency must not hold up.
HUNG_DEADLINE_S = 20

# Nothing listens on port 1: the connection is refused at once.
UNREACHABLE = "mysql+aiomysql://root@127.0.0.1:1/quartfeed"


async def test_healthz_ok(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    health = await response.get_json()
    assert (health["status"], health["database"]) == ("ok", "ok")


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


@pytest.mark.parametrize("database_url", ["mysql"], indirect=True)
async def test_app_recovers_when_the_database_returns(database_url):
    """A MySQL server that goes away and comes back (SQLite, a file, cannot)."""
    url = make_url(database_url)
    proxy = DatabaseProxy(url.port or 3306)
    await proxy.start()
    proxied_url = url.set(port=proxy.port).render_as_string(hide_password=False)
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE_URL": proxied_url})
    async with app.test_app():
        client = app.test_client()
        if (await client.get("/healthz")).status_code != 200:
            unavailable(f"MySQL is not reachable at {MYSQL_SERVER_URL}")
        await proxy.cut()
        down = await client.get("/healthz")
        await proxy.start()  # the database is back, on the same port
        statuses = [(await client.get("/healthz")).status_code for _ in range(3)]
    assert down.status_code == 503
    assert statuses == [200, 200, 200], f"the app did not recover: {statuses}"


async def test_healthz_reports_statements_when_counting(client, app):
    first = await (await client.get("/healthz")).get_json()
    second = await (await client.get("/healthz")).get_json()
    assert second["statements"] == first["statements"] + 1  # its own SELECT 1
    app.extensions["database"].count_statements = False
    assert "statements" not in await (await client.get("/healthz")).get_json()


async def test_healthz_names_a_missing_schema(app_config, tmp_path):
    """A database the migrations never ran on: reachable, but with no tables."""
    empty = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    app = create_app({**app_config, "DATABASE_URL": empty})
    async with app.test_app():
        client = app.test_client()
        health = await client.get("/healthz")
        page = await client.get("/user/alice")
    assert health.status_code == 503
    assert await health.get_json() == {
        "status": "unavailable",
        "database": "ok",
        "schema": "missing: run alembic upgrade head",
        "broker": "ok",
        "statements": 1,
        "streams": 0,
        "received_messages": 0,
        "received_bytes": 0,
        "published_bytes": 0,
    }
    assert page.status_code == 503
    assert "run `alembic upgrade head`" in await page.get_data(as_text=True)


async def test_healthz_names_an_outdated_schema(app, client):
    database = app.extensions["database"]
    current = await database.fetch_val("SELECT version_num FROM alembic_version")
    await database.execute("UPDATE alembic_version SET version_num = '0001'")
    try:
        response = await client.get("/healthz")
    finally:
        await database.execute(f"UPDATE alembic_version SET version_num = '{current}'")
    assert response.status_code == 503
    health = await response.get_json()
    assert health["schema"] == "outdated (0001): run alembic upgrade head"
    assert health["database"] == "ok"


async def test_app_starts_with_the_broker_down_and_healthz_names_it(app_config):
    app = create_app({**app_config, "BROKER_URL": "redis://127.0.0.1:1/0"})
    async with app.test_app():
        client = app.test_client()
        response = await client.get("/healthz")
        login_page = await client.get("/login")
    assert response.status_code == 503
    health = await response.get_json()
    assert (health["broker"], health["database"], health["schema"]) == ("unreachable", "ok", "ok")
    assert login_page.status_code == 200


@pytest.mark.parametrize("database_url", ["mysql"], indirect=True)
async def test_a_hung_database_gives_prompt_503s_and_the_app_recovers(database_url):
    """A server that keeps its connections open but never answers: each
    request gives up at its deadline, and the app recovers when it answers."""
    url = make_url(database_url)
    proxy = DatabaseProxy(url.port or 3306)
    await proxy.start()
    proxied_url = url.set(port=proxy.port).render_as_string(hide_password=False)
    app = create_app(
        {"TESTING": True, "SECRET_KEY": "test", "DATABASE_URL": proxied_url,
         "DATABASE_TIMEOUT_S": 0.5}
    )  # fmt: skip
    async with app.test_app():
        client = app.test_client()
        before = await client.get("/healthz")
        proxy.freeze()
        async with asyncio.timeout(HUNG_DEADLINE_S):  # fails the test instead of hanging
            hung_health = await client.get("/healthz")
            hung_page = await client.get("/user/nobody")
        proxy.thaw()
        after = [await (await client.get("/healthz")).get_json() for _ in range(3)]
        page_after = await client.get("/user/nobody")
    await proxy.cut()
    assert before.status_code == 200
    assert hung_health.status_code == 503
    assert (await hung_health.get_json())["database"] == "unreachable"
    assert hung_page.status_code == 503
    assert "cannot reach its database" in await hung_page.get_data(as_text=True)
    assert [health["status"] for health in after] == ["ok", "ok", "ok"], after
    assert page_after.status_code == 404  # the page's own answer: there is no "nobody"


@pytest.mark.parametrize("database_url", ["mysql"], indirect=True)
async def test_writers_give_up_on_a_hung_database_and_leave_nothing_half_written(
    database_url,
):
    url = make_url(database_url)
    proxy = DatabaseProxy(url.port or 3306)
    await proxy.start()
    proxied_url = url.set(port=proxy.port).render_as_string(hide_password=False)
    settings = {"TESTING": True, "SECRET_KEY": "test", "DATABASE_TIMEOUT_S": 0.5}
    app = create_app({**settings, "DATABASE_URL": proxied_url})
    async with app.test_app():
        client = app.test_client()
        await register_and_login(client, "writer")
        token = await csrf_token_from(client, "/")
        headers = {"X-CSRFToken": token}
        proxy.freeze()
        async with asyncio.timeout(HUNG_DEADLINE_S):
            hung = await asyncio.gather(
                *(
                    client.post("/post", json={"post": f"hung {n}"}, headers=headers)
                    for n in (1, 2)
                )
            )
        proxy.thaw()
        after = await client.post("/post", json={"post": "after"}, headers=headers)
        database = app.extensions["database"]
        posts = await database.fetch_all("SELECT id FROM post")
        feed_rows = await database.fetch_all("SELECT post_id FROM feed WHERE action = 'post'")
        await empty_tables(database)
    await proxy.cut()
    assert [response.status_code for response in hung] == [503, 503]
    assert after.status_code == 201
    # A post exists with its feed row, or not at all: never one without the other.
    assert sorted(row[0] for row in posts) == sorted(row[0] for row in feed_rows)


async def test_a_post_while_the_broker_is_down_is_kept_for_the_replay(app_config, app):
    """The post is committed before it is published: with the broker down it
    is still saved, and a stream that reconnects replays it.
    (The `app` fixture is there to empty the tables afterwards.)"""
    brokerless = create_app({**app_config, "BROKER_URL": "redis://127.0.0.1:1/0"})
    async with brokerless.test_app():
        client = brokerless.test_client()
        await register_and_login(client, "writer")
        token = await csrf_token_from(client, "/")
        response = await client.post("/post", json={"post": "hi"}, headers={"X-CSRFToken": token})
        writer = await user_by_name(brokerless.extensions["database"], "writer")
        replayed = await replayed_home(brokerless.extensions["feed"], writer["id"])
    assert response.status_code == 201
    assert [(event_id, action) for event_id, action, _ in replayed] == [(1, "post")]
    assert replayed[0][2]["post"]["uid"] == (await response.get_json())["uid"]


async def test_healthz_names_a_hung_broker_promptly(app_config):
    redis_url = make_url(REDIS_URL)
    proxy = DatabaseProxy(redis_url.port or 6379)
    await proxy.start()
    app = create_app({**app_config, "BROKER_URL": f"redis://127.0.0.1:{proxy.port}/0"})
    async with app.test_app():
        client = app.test_client()
        before = await client.get("/healthz")
        proxy.freeze()
        async with asyncio.timeout(HUNG_DEADLINE_S):
            hung = await client.get("/healthz")
        proxy.thaw()
    await proxy.cut()
    assert before.status_code == 200
    assert hung.status_code == 503
    assert (await hung.get_json())["broker"] == "unreachable"


async def test_the_bus_reconnects_when_redis_comes_back(app_config):
    """Started while Redis is away; once it is back, the listener subscribes
    again, ends the streams opened meanwhile (they missed what other
    processes published, and replay it when they reconnect) and delivers."""
    proxy = DatabaseProxy(make_url(REDIS_URL).port or 6379)
    await proxy.start()
    await proxy.cut()  # nothing listens on its port now: Redis is "down"
    app = create_app({**app_config, "BROKER_URL": f"redis://127.0.0.1:{proxy.port}/0"})
    async with app.test_app():
        client = app.test_client()
        bus = app.extensions["bus"]
        down = await client.get("/healthz")
        channels = [Channel(HOME, 5)]
        async with bus.subscribe(channels, 5, "session") as opened_while_down:
            await proxy.start()  # Redis is back, on the same port
            async with asyncio.timeout(HUNG_DEADLINE_S):
                ended = await opened_while_down.next_all()
        async with bus.subscribe(channels, 5, "session") as reader:
            await bus.publish(FeedEvent("post", '{"n":1}', {Channel(HOME, 5): 9}))
            async with asyncio.timeout(HUNG_DEADLINE_S):
                delivered = await reader.next_all()
        up = await client.get("/healthz")
    await proxy.cut()
    assert (down.status_code, up.status_code) == (503, 200)
    assert ended == [None]
    assert [event_id for _, event_id, _ in delivered] == [9]
