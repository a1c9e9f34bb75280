"""The scenarios' second app: small, and every answer names it, so a test knows which app
answered a request (the demo app answers the same paths otherwise)."""

from __future__ import annotations

import os

from fastapi import FastAPI, Request

app = FastAPI(title="hello")
NAME = "hello"


@app.get("/")
def read_root() -> dict[str, str]:
    return {"app": NAME, "greeting": os.environ.get("HELLO_GREETING", "hello")}


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok", "app": NAME}


@app.get("/request-info")
def request_info(request: Request) -> dict[str, str | None]:
    """What the app believes of the request: its client and scheme come from the proxy's
    forwarded headers, which it trusts from the proxy alone."""
    return {
        "app": NAME,
        "client": request.client.host if request.client else None,
        "scheme": request.url.scheme,
        "host": request.headers.get("host"),
        "root_path": str(request.scope.get("root_path", "")),
    }
