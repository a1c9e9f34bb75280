"""plugins/modules/deploy_lock.py: one deploy or rollback of an app at a time."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from ansible_collections.fastapi_deploy.toolkit.plugins.modules import deploy_lock

HOLDER = {"operator": "first@ci", "action": "deploy", "release": "r1", "since": "now"}


def test_taking_a_free_lock_creates_it_with_its_holder(tmp_path: Path) -> None:
    lock = tmp_path / "state" / "app.deploy.lock"
    assert deploy_lock.take(str(lock), HOLDER, timeout=0)
    assert json.loads((lock / "holder.json").read_text()) == HOLDER


def test_a_held_lock_is_not_taken_and_names_its_holder(tmp_path: Path) -> None:
    lock = tmp_path / "app.deploy.lock"
    assert deploy_lock.take(str(lock), HOLDER, timeout=0)
    assert not deploy_lock.take(str(lock), {"operator": "second"}, timeout=0)
    holder = deploy_lock.read_holder(str(lock))
    assert holder == HOLDER
    message = deploy_lock.held_message(str(lock), holder, 2)
    assert "is held by first@ci (deploy of release r1, since now)" in message
    assert "app_deploy_lock_break=true" in message


def test_a_lock_without_a_holder_file_names_an_unknown_run(tmp_path: Path) -> None:
    lock = tmp_path / "app.deploy.lock"
    lock.mkdir()
    assert "held by an unknown run" in deploy_lock.held_message(str(lock), {}, 2)


def test_the_history_the_lock_guards_is_read_as_slurp_returns_it(tmp_path: Path) -> None:
    history = tmp_path / "releases.json"
    history.write_text('{"live": "app-r1", "history": []}\n')
    content = deploy_lock.read_history(str(history))["content"]
    assert json.loads(base64.b64decode(content)) == {"live": "app-r1", "history": []}


def test_a_missing_history_is_no_content(tmp_path: Path) -> None:
    assert deploy_lock.read_history(str(tmp_path / "releases.json")) == {}
