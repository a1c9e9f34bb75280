"""A small service of its own, deployed with the fastapi_deploy.toolkit collection."""

from __future__ import annotations

from fastapi import FastAPI, Request

application = FastAPI(title="inventory api")


@application.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@application.get("/items")
def items() -> list[dict[str, object]]:
    return [{"id": 1, "name": "widget"}, {"id": 2, "name": "gadget"}]


@application.get("/whoami")
def whoami(request: Request) -> dict[str, str]:
    """What the service sees of the request once the proxy's forwarded headers are applied."""
    return {
        "client": request.client.host if request.client else "",
        "scheme": request.url.scheme,
        "host": request.headers.get("host", ""),
        "root_path": str(request.scope.get("root_path", "")),
    }
