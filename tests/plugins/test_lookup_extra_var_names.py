"""The names of the run's extra variables, whichever way -e gave them."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible import context
from ansible.module_utils.common.collections import ImmutableDict
from ansible.parsing.dataloader import DataLoader
from ansible_collections.fastapi_deploy.toolkit.plugins.lookup import extra_var_names as plugin


@pytest.fixture
def extra_vars(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    given: list[str] = []
    monkeypatch.setattr(context, "CLIARGS", ImmutableDict(extra_vars=given))
    return given


def names() -> list[str]:
    return plugin.LookupModule(loader=DataLoader()).run([])


def test_no_extra_variables_no_names(extra_vars: list[str]) -> None:
    assert names() == []


def test_key_value_json_and_file_extra_variables_are_named(
    extra_vars: list[str], tmp_path: Path
) -> None:
    given = tmp_path / "vars.yml"
    given.write_text("app_image: registry.example.com/api:1\n")
    extra_vars += ["app_workers=3 app=api", '{"app_env": {"A": "b"}}', f"@{given}"]
    assert names() == ["app", "app_env", "app_image", "app_workers"]
