"""Rate limits: a 429 Too Many Requests for whoever tries something too often.

`await rate_limit("LOGIN_LIMIT_PER_ACCOUNT", "alice")` counts one attempt of
that subject (an account, an address, a user id) against the limit of that
name in settings.py, e.g. 10 attempts per 300 seconds. The window starts at
the subject's first attempt; past the count, requests get a 429 whose
Retry-After says when the window ends.

With a Redis BROKER_URL (a server or a cluster) the counts live in Redis,
so every process shares them; with memory:// they live in this process. If
Redis is down, requests go through uncounted and a warning is logged:
logging in without a limit for a while is better than not logging in at all.
"""

import logging
import math
import time
from dataclasses import dataclass

import redis.asyncio as redis
from quart import Quart, current_app
from redis.exceptions import RedisClusterException
from werkzeug.exceptions import TooManyRequests

from settings import Rate
from utilities.redis_client import redis_client

logger = logging.getLogger(__name__)

REDIS_TIMEOUT_S = 0.5  # the most a hung Redis can add to a limited request
SWEEP_INTERVAL_S = 60  # how often the in-process counter forgets ended windows


@dataclass
class Window:
    ends_at: float  # on the time.monotonic() clock
    attempts: int = 0


class MemoryCounter:
    """Counts attempts in this process: right for a single process."""

    def __init__(self) -> None:
        self._windows: dict[str, Window] = {}
        self._next_sweep = 0.0

    async def count(self, key: str, window_s: int) -> tuple[int, float] | None:
        """Count one attempt: (attempts in the window so far, seconds until it ends)."""
        now = time.monotonic()
        self._forget_ended_windows(now)
        window = self._windows.get(key)
        if window is None or window.ends_at <= now:
            window = self._windows[key] = Window(ends_at=now + window_s)
        window.attempts += 1
        return window.attempts, window.ends_at - now

    def _forget_ended_windows(self, now: float) -> None:
        # Every address and name ever tried would otherwise stay in memory.
        if now < self._next_sweep:
            return
        windows = self._windows.items()
        self._windows = {key: window for key, window in windows if window.ends_at > now}
        self._next_sweep = now + SWEEP_INTERVAL_S

    async def close(self) -> None:
        """Nothing to release."""


# Redis runs a script as one step: the count and its expiry are set together,
# so no key can be left counting for ever (and lock someone out for good).
COUNT_SCRIPT = """
local attempts = redis.call('INCR', KEYS[1])
local ttl_ms = redis.call('PTTL', KEYS[1])
if ttl_ms < 0 then
    ttl_ms = tonumber(ARGV[1])
    redis.call('PEXPIRE', KEYS[1], ttl_ms)
end
return {attempts, ttl_ms}
"""


class RedisCounter:
    """Counts attempts in Redis, shared by every process that uses it."""

    def __init__(self, url: str) -> None:
        self._redis = redis_client(
            url, socket_connect_timeout=REDIS_TIMEOUT_S, socket_timeout=REDIS_TIMEOUT_S
        )
        self._count = self._redis.register_script(COUNT_SCRIPT)
        self._unavailable = False  # so that an outage is logged once, not per request

    async def count(self, key: str, window_s: int) -> tuple[int, float] | None:
        """Like MemoryCounter.count; None when Redis is down and nothing was counted."""
        try:
            attempts, ttl_ms = await self._count(keys=[key], args=[window_s * 1000])
        except (redis.RedisError, RedisClusterException) as error:
            if not self._unavailable:
                logger.warning("Redis is unavailable, rate limits are not applied: %r", error)
            self._unavailable = True
            return None
        if self._unavailable:
            logger.info("Redis is back, rate limits apply again")
            self._unavailable = False
        return attempts, ttl_ms / 1000

    async def close(self) -> None:
        await self._redis.aclose()


def create_counter(broker_url: str) -> MemoryCounter | RedisCounter:
    """Where the counts live: in Redis when it is the broker, else in this process."""
    if broker_url.startswith("memory://"):
        return MemoryCounter()
    return RedisCounter(broker_url)


async def rate_limit(limit_name: str, subject: object) -> None:
    """Count one attempt of `subject` against the limit `limit_name` (a key of
    the app's config); abort with 429 once the subject has had its count."""
    limit: Rate = current_app.config[limit_name]
    key = f"{current_app.config['RATE_LIMIT_PREFIX']}{limit_name}:{subject}"
    counted = await current_app.extensions["rate_limits"].count(key, limit.window_s)
    if counted is None:
        return
    attempts, seconds_left = counted
    if attempts > limit.count:
        retry_after = max(1, math.ceil(seconds_left))
        raise TooManyRequests(
            f"Too many attempts. Please wait {retry_after} seconds and try again.",
            retry_after=retry_after,
        )


def init_app(app: Quart) -> None:
    counter = create_counter(app.config["BROKER_URL"])
    app.extensions["rate_limits"] = counter
    app.after_serving(counter.close)
