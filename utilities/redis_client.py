"""Redis, on one server or a cluster, as BROKER_URL names it.

    redis://host:6379/0            one server (rediss:// over TLS, unix:// by socket)
    redis+cluster://host:7000      a Redis Cluster (rediss+cluster:// over TLS)

A cluster URL names any one of its nodes; redis-py asks it for the others.
The event bus (`feed.broker`) and the rate limits (`utilities.ratelimit`)
both connect through `redis_client`, so both work with either.
"""

from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster

# A cluster's scheme, and the scheme redis-py spells it with (one node's).
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://")


def is_cluster(url: str) -> bool:
    return urlsplit(url).scheme in CLUSTER_SCHEMES


def redis_client(url: str, **options) -> redis.Redis | RedisCluster:
    """A client of the server, or the cluster, that `url` names."""
    if is_cluster(url):
        parts = urlsplit(url)
        return RedisCluster.from_url(node_url(url, parts.hostname, parts.port), **options)
    return redis.Redis.from_url(url, **options)


def node_url(cluster_url: str, host: str, port: int | None) -> str:
    """The URL of one node of a cluster: a server's scheme, and the
    cluster's credentials and options."""
    parts = urlsplit(cluster_url)
    credentials, _, _ = parts.netloc.rpartition("@")
    address = f"{host}:{port or 6379}"
    netloc = f"{credentials}@{address}" if credentials else address
    return urlunsplit(parts._replace(scheme=CLUSTER_SCHEMES[parts.scheme], netloc=netloc))
