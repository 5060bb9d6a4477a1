"""Rate limits: 429 with Retry-After for logins, registrations and writes.

Each test sets the limits it exercises, small, and goes through the real
counters: in the process for memory://, in Redis for redis://.
"""

import asyncio
import logging
import secrets

import pytest

from tests.helpers import (
    PASSWORD,
    log_in,
    post_form,
    post_json,
    register,
    register_and_login,
    text_of,
)
from tests.test_group_streams import create_group


def retry_after(response) -> int:
    return int(response.headers["Retry-After"])


async def test_the_eleventh_guess_at_an_account_is_refused_even_if_right(limited_app):
    app = await limited_app()  # the default: 10 attempts per 5 minutes
    client = app.test_client()
    await register(client, "alice")
    guesses = [await log_in(client, "alice", f"guess {number}") for number in range(10)]
    refused = await log_in(client, "alice", PASSWORD)
    assert [response.status_code for response in guesses] == [200] * 10
    assert refused.status_code == 429
    assert 0 < retry_after(refused) <= 300
    assert "Too many attempts" in await text_of(refused)


async def test_the_account_limit_holds_whatever_the_address(limited_app):
    app = await limited_app(LOGIN_LIMIT_PER_ACCOUNT="2/60")
    client = app.test_client()
    await register(client, "alice")
    await register(client, "bob")
    await log_in(client, "alice", "guess", address="192.0.2.1")
    await log_in(client, "ALICE", "guess", address="192.0.2.2")  # one account, any case
    refused = await log_in(client, "alice", PASSWORD, address="192.0.2.3")
    other_account = await log_in(client, "bob", PASSWORD, address="192.0.2.3")
    assert refused.status_code == 429
    assert other_account.status_code == 302


async def test_the_address_limit_holds_whatever_the_account(limited_app):
    app = await limited_app(LOGIN_LIMIT_PER_ADDRESS="2/60")
    client = app.test_client()
    await register(client, "alice")
    for username in ("bob", "carol"):
        await log_in(client, username, "guess", address="192.0.2.1")
    refused = await log_in(client, "alice", PASSWORD, address="192.0.2.1")
    other_address = await log_in(client, "alice", PASSWORD, address="192.0.2.2")
    assert refused.status_code == 429
    assert other_address.status_code == 302


async def test_a_login_succeeds_again_once_the_window_is_over(limited_app):
    app = await limited_app(LOGIN_LIMIT_PER_ACCOUNT="1/1")
    client = app.test_client()
    await register(client, "alice")
    await log_in(client, "alice", "guess")
    refused = await log_in(client, "alice", PASSWORD)
    assert refused.status_code == 429
    await asyncio.sleep(retry_after(refused))  # the window is time itself
    assert (await log_in(client, "alice", PASSWORD)).status_code == 302


async def test_registrations_are_limited_per_address(limited_app):
    app = await limited_app(REGISTER_LIMIT_PER_ADDRESS="2/60")
    client = app.test_client()
    answers = [await register(client, name) for name in ("alice", "bob", "carol")]
    assert [response.status_code for response in answers] == [302, 302, 429]
    assert retry_after(answers[2]) > 0


@pytest.mark.parametrize(
    ("limit", "path", "payload"),
    [
        ("POST_LIMIT_PER_USER", "/post", {"post": "again"}),
        ("COMMENT_LIMIT_PER_USER", "/comment", {"comment": "again"}),
        ("LIKE_LIMIT_PER_USER", "/like", {}),
    ],
)
async def test_writes_are_limited_per_user(limited_app, limit, path, payload):
    app = await limited_app(**{limit: "2/60"})
    alice, bob = app.test_client(), app.test_client()
    await register_and_login(alice, "alice")
    await register_and_login(bob, "bob")
    post_uid = (await (await post_json(bob, "/post", {"post": "a post"})).get_json())["uid"]
    payload = {**payload, "post_uid": post_uid}
    answers = [await post_json(alice, path, payload) for _ in range(3)]
    assert [response.status_code < 300 for response in answers] == [True, True, False]
    assert answers[2].status_code == 429
    assert retry_after(answers[2]) > 0
    assert (await answers[2].get_json())["error"].startswith("Too many attempts")
    assert (await post_json(bob, path, payload)).status_code < 300  # bob has his own count


async def test_edits_are_limited_per_user(limited_app):
    app = await limited_app(EDIT_LIMIT_PER_USER="2/60")
    alice = app.test_client()
    await register_and_login(alice, "alice")
    uid = (await (await post_json(alice, "/post", {"post": "a post"})).get_json())["uid"]
    answers = [
        await post_json(alice, "/edit", {"post_uid": uid, "post": f"take {number}"})
        for number in range(3)
    ]
    assert [response.status_code for response in answers] == [200, 200, 429]


async def test_muting_and_unmuting_are_limited_per_user(limited_app):
    app = await limited_app(MUTE_LIMIT_PER_USER="2/60")
    alice = app.test_client()
    await register_and_login(alice, "alice")
    slug = await create_group(alice, "Mine")
    answers = [
        await post_json(alice, f"/groups/{slug}/{action}", {}, f"/groups/{slug}")
        for action in ("mute", "unmute", "mute")
    ]
    assert [response.status_code for response in answers] == [200, 200, 429]


async def test_starting_groups_is_limited_per_user(limited_app):
    app = await limited_app(GROUP_LIMIT_PER_USER="2/60")
    alice = app.test_client()
    await register_and_login(alice, "alice")
    answers = [
        await post_form(alice, "/groups", {"name": f"Group {number}"}, "/groups")
        for number in range(3)
    ]
    assert [response.status_code for response in answers] == [302, 302, 429]
    assert "Too many attempts" in await text_of(answers[2])


async def test_processes_share_their_counts_through_redis(
    limited_app, app_config, redis_broker_url
):
    app_config["RATE_LIMIT_PREFIX"] = f"quartfeed-test:{secrets.token_hex(4)}:"
    limits = {"broker_url": redis_broker_url, "LOGIN_LIMIT_PER_ACCOUNT": "3/60"}
    first, second = await limited_app(**limits), await limited_app(**limits)
    await register(first.test_client(), "alice")
    on_first, on_second = first.test_client(), second.test_client()
    answers = [
        await log_in(on_first, "alice", "guess"),
        await log_in(on_second, "alice", "guess"),
        await log_in(on_first, "alice", "guess"),
        await log_in(on_second, "alice", PASSWORD),
        await log_in(on_first, "alice", PASSWORD),
    ]
    assert [response.status_code for response in answers] == [200, 200, 200, 429, 429]


async def test_with_redis_down_requests_go_through_unlimited(limited_app, caplog):
    app = await limited_app(broker_url="redis://127.0.0.1:1/0", LOGIN_LIMIT_PER_ACCOUNT="1/60")
    client = app.test_client()
    await register(client, "alice")
    with caplog.at_level(logging.WARNING, logger="utilities.ratelimit"):
        answers = [await log_in(client, "alice", "guess") for _ in range(2)]
        answers.append(await log_in(client, "alice", PASSWORD))
    assert [response.status_code for response in answers] == [200, 200, 302]
    warnings = [record for record in caplog.records if record.name == "utilities.ratelimit"]
    assert len(warnings) == 1  # once for the outage, not once per request
    assert "rate limits are not applied" in warnings[0].getMessage()
