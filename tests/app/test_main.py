"""The demo app's behaviour, in process: endpoints, root_path handling and self-hosted docs."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.main import app

PREFIX = "/api/v1"


@pytest.fixture
def client() -> TestClient:
    return TestClient(app)


@pytest.fixture
def prefixed_client() -> TestClient:
    """As behind a proxy that strips PREFIX: uvicorn's --root-path sets the scope's root_path."""
    return TestClient(app, root_path=PREFIX)


def test_root_says_hello(client: TestClient) -> None:
    assert client.get("/").json() == {"Hello": "World"}


def test_items_echo_id_and_query(client: TestClient) -> None:
    assert client.get("/items/5", params={"q": "x"}).json() == {"item_id": 5, "q": "x"}


def test_items_reject_a_non_integer_id(client: TestClient) -> None:
    assert client.get("/items/five").status_code == 422


def test_uploads_count_the_body(client: TestClient) -> None:
    assert client.post("/uploads", content=b"x" * 1000).json() == {"bytes": 1000}


def test_health_is_ok(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}


def test_app_reports_the_root_path(prefixed_client: TestClient) -> None:
    assert prefixed_client.get("/app").json()["root_path"] == PREFIX


def test_request_info_reports_what_the_worker_sees(prefixed_client: TestClient) -> None:
    info = prefixed_client.get("/request-info", headers={"host": "app.example.test"}).json()
    assert info["scheme"] == "http"
    assert info["host"] == "app.example.test"
    assert info["root_path"] == PREFIX
    assert isinstance(info["pid"], int)
    assert info["release"] == "dev"


def test_openapi_servers_name_the_root_path(prefixed_client: TestClient) -> None:
    assert prefixed_client.get("/openapi.json").json()["servers"] == [{"url": PREFIX}]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_reference_prefixed_local_assets(prefixed_client: TestClient, page: str) -> None:
    html = prefixed_client.get(page).text
    assert f"{PREFIX}/openapi.json" in html
    assert f"{PREFIX}/static/" in html
    assert "cdn.jsdelivr.net" not in html
    assert "fonts.googleapis.com" not in html


@pytest.mark.parametrize(
    "asset", ["swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png"]
)
def test_docs_assets_are_served_locally(client: TestClient, asset: str) -> None:
    assert client.get(f"/static/{asset}").status_code == 200


def test_a_slow_request_answers_after_the_time_asked(client: TestClient) -> None:
    assert client.get("/slow", params={"seconds": 0.2}).json()["slept"] == 0.2


def test_a_slow_request_is_bounded(client: TestClient) -> None:
    assert client.get("/slow", params={"seconds": 3600}).status_code == 422


def test_the_websocket_echoes_each_message_with_the_release(client: TestClient) -> None:
    with client.websocket_connect("/ws") as websocket:
        for text in ("one", "two"):
            websocket.send_text(text)
            assert websocket.receive_json() == {"echo": text, "release": "dev"}
