"""What every benchmark piece shares: servers in subprocesses, /proc
readings, the file limit, percentiles and printed tables."""

import asyncio
import gc
import os
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"  # samples and profiles, not committed
HOST = "127.0.0.1"  # every load goes to loopback, nowhere else
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def prepare_client() -> None:
    """Ready this process to hold thousands of streams and time them fairly.

    The file limit goes up to the hard limit (servers we start inherit it).
    The client's own garbage collector is kept out of the way: a pause here
    would be blamed on whichever server is being measured.
    """
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    """An ASGI server in a subprocess on a free loopback port."""

    name: str
    command: list[str]  # "{port}" in it is replaced by the port
    environment: dict[str, str] = field(default_factory=dict)
    ready_text: str = "Running on"
    port: int = field(default_factory=free_port)
    code: Path = ROOT  # the checkout it runs from (bench.versus serves another)
    process: subprocess.Popen | None = None
    # The server's latest output lines, for tests that read its logs.
    output: deque[str] = field(default_factory=lambda: deque(maxlen=1000))
    _new_line: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout: float = 60) -> "Server":
        command = [part.replace("{port}", str(self.port)) for part in self.command]
        self.process = subprocess.Popen(
            command,
            cwd=self.code,
            env={**os.environ, **self.environment},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ready = threading.Event()
        threading.Thread(target=self._watch_output, args=(ready,), daemon=True).start()
        if not ready.wait(timeout) or self.process.poll() is not None:
            self.stop()
            raise RuntimeError(f"{self.name} did not start")
        return self

    def _watch_output(self, ready: threading.Event) -> None:
        for line in self.process.stdout:
            with self._new_line:
                self.output.append(line)
                self._new_line.notify_all()
            if self.ready_text in line:
                ready.set()
            elif "Error" in line and "CancelledError" not in line:
                print(f"[{self.name}] {line}", end="", file=sys.stderr)
        ready.set()

    def wait_for_output(self, text: str, timeout: float = 10) -> str:
        """The output once a line with `text` has come, or as it is at the
        timeout: a server may log a request a moment after answering it."""
        with self._new_line:
            self._new_line.wait_for(lambda: any(text in line for line in self.output), timeout)
            return "".join(self.output)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def pids(self) -> list[int]:
        """The server process and its workers (hypercorn --workers forks them)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [self.process.pid, *map(int, children.read_text().split())]

    def rss_kib(self) -> int:
        return sum(_status_field(pid, "VmRSS") for pid in self.pids())

    def cpu_seconds(self) -> float:
        return sum(_cpu_seconds(pid) for pid in self.pids())

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def _status_field(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


def _cpu_seconds(pid: int) -> float:
    # Fields 14 and 15 of /proc/PID/stat: user and system time, in ticks.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def wait_for_file(path: Path, timeout_s: float) -> None:
    """Until a server has written `path` (whole: it writes, then renames)."""
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server wrote nothing to {path}")
        time.sleep(0.1)


def database_server_pid() -> int | None:
    """The local MariaDB or MySQL server's process, to read its CPU time."""
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() in ("mariadbd", "mysqld"):
                return int(comm.parent.name)
        except OSError:  # the process ended while we looked
            continue
    return None


@dataclass
class CpuMeter:
    """CPU seconds spent by the server, the database server and this client
    between `start()` and `stop()`: where a machine's cores went. With no
    server, the work measured runs in this process: it is the "client"."""

    server: Server | None
    database_pid: int | None = field(default_factory=database_server_pid)
    spent: dict[str, float] = field(default_factory=dict)  # and "wall": seconds elapsed

    def _readings(self) -> dict[str, float]:
        client = resource.getrusage(resource.RUSAGE_SELF)
        readings = {"wall": time.perf_counter(), "client": client.ru_utime + client.ru_stime}
        if self.server is not None:
            readings["server"] = self.server.cpu_seconds()
        if self.database_pid is not None:
            readings["database"] = _cpu_seconds(self.database_pid)
        return readings

    def start(self) -> None:
        self._started = self._readings()

    def stop(self) -> None:
        now = self._readings()
        self.spent = {name: now[name] - self._started[name] for name in now}


def mysql_parameters(url: str) -> dict:
    """The driver's connection arguments (aiomysql's) for a SQLAlchemy URL."""
    parts = make_url(url)
    return {
        "host": parts.host,
        "port": parts.port or 3306,
        "user": parts.username,
        "password": parts.password or "",
        "db": parts.database,
    }


@dataclass
class Load:
    """What `closed_loop` measured: each request's duration, and the time it all took."""

    durations: list[float]
    elapsed: float

    @property
    def rate(self) -> float:
        return len(self.durations) / self.elapsed


async def closed_loop(clients: list[Callable[[], Awaitable[object]]], seconds: float) -> Load:
    """Each client makes its request again as soon as the last one is
    answered, for `seconds`: as many requests in flight as there are clients,
    as with people who each wait for their page before clicking again."""
    durations: list[float] = []
    deadline = time.perf_counter() + seconds

    async def repeat(request: Callable[[], Awaitable[object]]) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await request()
            durations.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(repeat(request) for request in clients))
    return Load(durations, time.perf_counter() - started)


def hypercorn(app: str, workers: int = 1, graceful_timeout_s: float = 3) -> list[str]:
    return [
        sys.executable, "-m", "hypercorn", "--bind", f"{HOST}:{{port}}",
        "--workers", str(workers), "--backlog", "4096",
        "--graceful-timeout", str(graceful_timeout_s), "--error-logfile", "-", app,
    ]  # fmt: skip


def uvicorn(app: str) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", "--host", HOST, "--port", "{port}",
        "--backlog", "4096", "--no-access-log", app,
    ]  # fmt: skip


def quart_baseline() -> Server:
    return Server("Quart baseline", hypercorn("bench.baselines.quart_broadcast:app"))


def starlette_baseline() -> Server:
    command = uvicorn("bench.baselines.starlette_broadcast:app")
    return Server("sse-starlette baseline", command, ready_text="Uvicorn running on")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def print_table(title: str, headers: list[str], rows: list[list]) -> None:
    cells = [headers] + [[_cell(value) for value in row] for row in rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    print(f"\n{title}")
    for index, row in enumerate(cells):
        print("  ".join(value.rjust(width) for value, width in zip(row, widths, strict=True)))
        if index == 0:
            print("  ".join("-" * width for width in widths))


def _cell(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def milliseconds(seconds: float) -> float:
    return seconds * 1000


def median_and_max_ms(seconds: list[float]) -> str:
    """The median and the largest of durations, in milliseconds: "12.3 / 45.6"."""
    if not seconds:
        return "n/a"
    return f"{milliseconds(statistics.median(seconds)):.1f} / {milliseconds(max(seconds)):.1f}"
