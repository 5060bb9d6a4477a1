"""A real Redis Cluster of three nodes on free loopback ports, for the
tests of the bus on a cluster (`redis_cluster` in conftest.py).

Each node is `redis-server` in a subprocess, keeping nothing on disk; then
`redis-cli --cluster create` hands each a third of the hash slots, as an
administrator would.
"""

import shutil
import subprocess
import time
from pathlib import Path

import redis

from bench.common import HOST, Server, free_port

NODES = 3
READY_TIMEOUT_S = 60  # a cluster forms in about 2 s; more while the suite loads both cores


def redis_node(folder: Path) -> Server:
    """One node, not started. Its cluster bus (the nodes' own link) gets a
    free port too: the default, the node's port + 10000, may be taken."""
    port = free_port()
    command = [
        "redis-server",
        *("--bind", HOST, "--port", "{port}", "--cluster-port", str(free_port())),
        *("--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf"),
        *("--dir", str(folder), "--save", "", "--appendonly", "no"),
    ]
    return Server("Redis node", command, ready_text="Ready to accept connections", port=port)


class RedisClusterNodes:
    """Three nodes that serve all 16384 slots between them."""

    def __init__(self, folder: Path) -> None:
        self.nodes = [redis_node(folder) for _ in range(NODES)]

    @property
    def url(self) -> str:
        """BROKER_URL for this cluster: any one node names it."""
        return f"redis+cluster://{HOST}:{self.nodes[0].port}"

    def start(self) -> "RedisClusterNodes":
        try:
            for node in self.nodes:
                node.start(timeout=READY_TIMEOUT_S)
            self._share_the_slots()
        except BaseException:
            self.stop()
            raise
        return self

    def _share_the_slots(self) -> None:
        addresses = [f"{HOST}:{node.port}" for node in self.nodes]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *addresses]
            + ["--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=READY_TIMEOUT_S,
        )
        self._wait_until_every_node_agrees()

    def _wait_until_every_node_agrees(self) -> None:
        """`--cluster create` returns before every node has heard of the others."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        clients = [redis.Redis(host=HOST, port=node.port) for node in self.nodes]
        while any(client.cluster("info")["cluster_state"] != "ok" for client in clients):
            if time.monotonic() > deadline:
                raise RuntimeError("The Redis Cluster did not come up")
            time.sleep(0.05)
        for client in clients:
            client.close()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def missing_programs() -> list[str]:
    return [program for program in ("redis-server", "redis-cli") if shutil.which(program) is None]
