"""A real PostgreSQL for the app's tests (never SQLite: the app runs on PostgreSQL): a
throwaway cluster from Debian's packages (postgresql-15 and later) in a temporary directory,
listening on 127.0.0.1 on a free port, removed at the end. The schema is the migrations'."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config

APP_DIR = Path(__file__).resolve().parents[2] / "app"
POSTGRES_BIN_DIRS = sorted(
    Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name)
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def as_cluster_owner(*argv: str) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the packages' postgres user."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else list(argv)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a fresh PostgreSQL server's `postgres` database (trust auth, local only)."""
    if not POSTGRES_BIN_DIRS:
        pytest.fail("PostgreSQL is not installed: apt-get install postgresql-15")
    pg_ctl = str(POSTGRES_BIN_DIRS[-1] / "pg_ctl")
    # Directly under /tmp: the postgres user cannot enter pytest's root-only temporary tree.
    with tempfile.TemporaryDirectory(prefix="app-tests-postgres-") as directory:
        base = Path(directory)
        if os.geteuid() == 0:
            shutil.chown(base, "postgres", "postgres")
        data, log = str(base / "data"), str(base / "log")
        port = free_port()
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off"
        run(as_cluster_owner(pg_ctl, "initdb", "-D", data, "-o", "-U postgres --auth=trust"))
        run(as_cluster_owner(pg_ctl, "start", "-D", data, "-o", options, "-l", log, "-w"))
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(
                as_cluster_owner(pg_ctl, "stop", "-D", data, "-m", "immediate"),
                check=False, capture_output=True,
            )  # fmt: skip


def run(argv: list[str]) -> None:
    """Runs a cluster command; its output is the failure message when it fails."""
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.fail(f"{argv} failed: {result.stdout}{result.stderr}")


@pytest.fixture
def empty_database_url(postgres_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A new empty database per test, and the app pointed at it (DATABASE_URL)."""
    import psycopg

    from app import db

    name = f"test_{os.urandom(4).hex()}"
    admin = postgres_server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = postgres_server.rsplit("/", 1)[0] + f"/{name}"
    monkeypatch.setenv(db.DATABASE_URL_VARIABLE, url)
    db.engine.cache_clear()
    yield url
    db.engine().dispose()
    db.engine.cache_clear()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(empty_database_url: str) -> str:
    """The same, migrated to head by Alembic as the deploy's pre-start command does."""
    command.upgrade(Config(str(APP_DIR / "alembic.ini")), "head")
    return empty_database_url
