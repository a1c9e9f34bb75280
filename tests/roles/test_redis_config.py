"""Redis' configuration, rendered by Ansible's own templating from the role's template and
variables: the password as given, append-only persistence, and maxmemory below the container's
memory limit with the policy chosen."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

REPO_DIR = Path(__file__).resolve().parents[2]
ROLE = REPO_DIR / "roles" / "redis"
PASSWORD = "test-password-not-a-secret"


@pytest.fixture(scope="module", autouse=True)
def collections_found() -> None:
    """The template and vars call the collection's filters by their full names, as in a run."""
    for name in [name for name in sys.modules if name.startswith("ansible_collections")]:
        del sys.modules[name]
    _AnsibleCollectionFinder(paths=[str(REPO_DIR / "collections")])._install()


def templar(**overrides: Any) -> Templar:  # noqa: ANN401 - any variable
    """The role's defaults and vars, as the role sees them, with the inventory's values."""
    variables: dict[str, Any] = {}
    for path in (ROLE / "defaults" / "main.yml", ROLE / "vars" / "main.yml"):
        variables.update(yaml.safe_load(path.read_text()))
    variables.update({"redis_password": PASSWORD, "ansible_managed": "managed", **overrides})
    trusted = {
        name: trust_as_template(value) if isinstance(value, str) else value
        for name, value in variables.items()
    }
    return Templar(loader=DataLoader(), variables=trusted)


def settings(**overrides: Any) -> dict[str, str]:  # noqa: ANN401 - any variable
    """The rendered redis.conf's directives, each with the rest of its line."""
    source = (ROLE / "templates" / "redis.conf.j2").read_text()
    text = str(templar(**overrides).template(trust_as_template(source), escape_backslashes=False))
    lines = [line.split(" ", 1) for line in text.splitlines() if line and not line.startswith("#")]
    return {name: value for name, value in lines}


def test_the_password_is_required_of_every_client() -> None:
    assert settings()["requirepass"] == f'"{PASSWORD}"'


def test_a_password_with_quotes_and_backslashes_is_escaped() -> None:
    assert settings(redis_password='pass"word\\x')["requirepass"] == '"pass\\"word\\\\x"'


def test_every_write_goes_to_the_append_only_file_on_the_volume() -> None:
    found = settings()
    assert (found["appendonly"], found["appendfsync"], found["dir"]) == ("yes", "everysec", "/data")


@pytest.mark.parametrize(
    ("limit", "maxmemory"),
    [("256m", 201326592), ("1g", 805306368), ("65536k", 50331648)],
)
def test_maxmemory_is_three_quarters_of_the_memory_limit(limit: str, maxmemory: int) -> None:
    assert settings(redis_memory_limit=limit)["maxmemory"] == str(maxmemory)


def test_a_full_queue_refuses_writes_rather_than_evicting_jobs() -> None:
    assert settings()["maxmemory-policy"] == "noeviction"


def test_the_policy_chosen_is_the_one_written() -> None:
    assert settings(redis_maxmemory_policy="allkeys-lru")["maxmemory-policy"] == "allkeys-lru"


def test_the_apps_url_names_the_container_with_the_password_encoded() -> None:
    url = templar(redis_password="a/b@c:d", redis_name="queue").template(
        trust_as_template("{{ redis_url }}")
    )
    assert url == "redis://:a%2Fb%40c%3Ad@queue:6379/0"
