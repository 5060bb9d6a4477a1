"""The production install, as the Docker image makes it, really runs.

A virtual environment gets the runtime dependencies only, from the lock, by
the script the Dockerfile runs (scripts/install-runtime.sh). It migrates a
fresh MariaDB database owned by an ordinary account with a password, serves
with the image's own command (scripts/serve.sh), and a person registers,
logs in, posts and hears of the post on their event stream.
"""

import asyncio
import os
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import aiomysql
import pytest
from sqlalchemy.engine import make_url

from bench.common import Server
from tests.conftest import MYSQL_SERVER_URL, ROOT, mysql_admin, unavailable
from tests.live import Person

# Characters a URL must escape, so the password's trip through
# DATABASE_URL, Alembic's configuration and the driver is tested too.
PASSWORD = "Pr0d:pass/w@rd%"


def run(command: list[str], environment: dict[str, str] | None = None, timeout: float = 600):
    result = subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, **(environment or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}"
    return result


@pytest.fixture(scope="module")
def runtime_venv(tmp_path_factory) -> Path:
    """A virtual environment installed exactly as the Docker image installs itself."""
    venv = tmp_path_factory.mktemp("production") / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    for step in ("dependencies", "project"):
        run(["sh", "scripts/install-runtime.sh", step], {"PYTHON": str(venv / "bin" / "python")})
    return venv


@pytest.fixture(scope="module")
def owned_database() -> str:
    """A new, empty database and the account that owns it: not root, with a password."""
    suffix = secrets.token_hex(4)
    name, account = f"quartfeed_production_{suffix}", f"quartfeed_{suffix}"
    try:
        asyncio.run(
            mysql_admin(
                f"CREATE DATABASE {name} CHARACTER SET utf8mb4",
                f"CREATE USER '{account}'@'%' IDENTIFIED BY '{PASSWORD}'",
                f"GRANT ALL PRIVILEGES ON {name}.* TO '{account}'@'%'",
            )
        )
    except (OSError, aiomysql.OperationalError) as error:
        unavailable(f"MySQL is not reachable at {MYSQL_SERVER_URL}: {error}")
    url = make_url(MYSQL_SERVER_URL)
    yield (
        f"mysql+aiomysql://{account}:{quote(PASSWORD, safe='')}"
        f"@{url.host or '127.0.0.1'}:{url.port or 3306}/{name}"
    )
    asyncio.run(mysql_admin(f"DROP DATABASE IF EXISTS {name}", f"DROP USER '{account}'@'%'"))


def in_venv(venv: Path, code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], cwd=ROOT, capture_output=True, text=True
    )


def test_the_runtime_install_has_no_test_or_benchmark_packages(runtime_venv):
    for package in ("pytest", "httpx", "playwright", "uvicorn", "matplotlib"):
        assert in_venv(runtime_venv, f"import {package}").returncode != 0, package
    run([str(runtime_venv / "bin" / "python"), "-m", "pip", "check"])


# What PyMySQL (under aiomysql) does for MySQL 8's caching_sha2_password over a
# connection without TLS: encrypt the password with the server's RSA key.
# Here the key is made on the spot and the result decrypted again.
RSA_EXCHANGE = """
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pymysql import _auth

server_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
public_pem = server_key.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)
salt = b"0123456789abcdefghij"
sealed = _auth.sha2_rsa_encrypt(b"secret", salt, public_pem)
oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
opened = server_key.decrypt(sealed, oaep)
assert opened == _auth._xor_password(b"secret\\0", salt), opened
print("RSA exchange works")
"""


def test_the_runtime_install_can_send_a_password_rsa_encrypted(runtime_venv):
    result = in_venv(runtime_venv, RSA_EXCHANGE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "RSA exchange works"


@pytest.fixture
def production_server(runtime_venv, owned_database, tmp_path):
    """scripts/serve.sh from the runtime venv: migrate, then Hypercorn with an access log."""
    server = Server(
        "QuartFeed (production install)",
        ["sh", "scripts/serve.sh"],
        {
            "PATH": f"{runtime_venv / 'bin'}:/usr/bin:/bin",
            "HOST": "127.0.0.1",
            "PORT": "{port}",
            "DATABASE_URL": owned_database,
            "SECRET_KEY": secrets.token_hex(16),
            "MEDIA_ROOT": str(tmp_path / "media"),
        },
    )
    server.environment["PORT"] = str(server.port)
    server.start()
    yield server
    server.stop()


async def test_a_person_registers_posts_and_hears_of_it_live(production_server):
    alice = await Person(production_server.url, "alice").sign_up()
    try:
        async with alice.stream() as stream:
            posted = await alice.post("Hello from the production install")
            event = await stream.next("alice's own post")
    finally:
        await alice.close()
    assert event.name == "post"
    assert event.data["post"]["uid"] == posted["uid"]
    assert event.data["post"]["body"] == "Hello from the production install"
    access_line = '"POST /post 1.1" 201'
    log = await asyncio.to_thread(production_server.wait_for_output, access_line)
    assert "Running upgrade" in log, "serve.sh did not migrate first"
    assert access_line in log, f"no access log line for the post:\n{log}"
