"""The scenarios' second app (molecule/apps/hello) answers as the several-apps tests expect:
every answer names it, and it reports the root_path and client it sees."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi.testclient import TestClient

HELLO = Path(__file__).resolve().parents[2] / "molecule" / "apps" / "hello" / "hello" / "main.py"


def hello_client(root_path: str = "") -> TestClient:
    spec = importlib.util.spec_from_file_location("hello_main", HELLO)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return TestClient(module.app, root_path=root_path)


def test_health_names_the_app() -> None:
    assert hello_client().get("/health").json() == {"status": "ok", "app": "hello"}


def test_request_info_reports_the_root_path() -> None:
    info = hello_client("/hello").get("/request-info").json()
    assert info["app"] == "hello"
    assert info["root_path"] == "/hello"
