"""The notes resource against a real PostgreSQL (tests/app/conftest.py), its schema made by the
app's Alembic migrations."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from conftest import APP_DIR
from fastapi.testclient import TestClient
from sqlalchemy import inspect

from app import db
from app.main import app


@pytest.fixture
def client(database_url: str) -> TestClient:
    return TestClient(app)


def test_created_note_is_listed(client: TestClient) -> None:
    created = client.post("/notes", json={"text": "first"})
    assert created.status_code == 201
    assert [note["text"] for note in client.get("/notes").json()] == ["first"]


def test_notes_are_listed_oldest_first(client: TestClient) -> None:
    for text in ("a", "b", "c"):
        client.post("/notes", json={"text": text})
    assert [note["text"] for note in client.get("/notes").json()] == ["a", "b", "c"]


def test_note_is_read_by_its_id(client: TestClient) -> None:
    note_id = client.post("/notes", json={"text": "by id"}).json()["id"]
    assert client.get(f"/notes/{note_id}").json()["text"] == "by id"


def test_unknown_note_is_404(client: TestClient) -> None:
    assert client.get("/notes/999999").status_code == 404


@pytest.mark.parametrize("text", ["", "x" * (db.NOTE_MAX_LENGTH + 1)], ids=["empty", "too-long"])
def test_empty_or_too_long_note_is_refused(client: TestClient, text: str) -> None:
    assert client.post("/notes", json={"text": text}).status_code == 422


def test_notes_without_a_database_answer_503(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(db.DATABASE_URL_VARIABLE, raising=False)
    db.engine.cache_clear()
    assert TestClient(app).get("/notes").status_code == 503


def test_migrations_downgrade_to_nothing_and_upgrade_again(database_url: str) -> None:
    config = Config(str(APP_DIR / "alembic.ini"))
    command.downgrade(config, "base")
    assert "notes" not in inspect(db.engine()).get_table_names()
    command.upgrade(config, "head")
    assert "notes" in inspect(db.engine()).get_table_names()


def test_alembic_command_migrates_from_the_app_directory(empty_database_url: str) -> None:
    """As the pre-start command runs it in the image: the `alembic` script, in the directory
    that holds alembic.ini and the app package (not on sys.path otherwise)."""
    alembic = Path(sys.executable).parent / "alembic"
    result = subprocess.run(
        [str(alembic), "upgrade", "head"], cwd=APP_DIR, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": ""}, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "notes" in inspect(db.engine()).get_table_names()
