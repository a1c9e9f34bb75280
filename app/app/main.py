"""The demo app: the endpoints of FastAPI's deployment docs, plus what the tests look at, a
small persisted resource (notes, in PostgreSQL: app/db.py), and background jobs that a worker
process does (Redis, arq: app/queue.py).

The interactive docs load their JavaScript and CSS from the app itself, under the app's
root_path, so they render behind a prefix-stripping proxy and on a server without internet.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Annotated

import fastapi_offline
from arq import ArqRedis, create_pool
from arq.connections import RedisSettings
from arq.jobs import Job, JobStatus
from fastapi import Depends, FastAPI, HTTPException, Query, Request, WebSocket, status
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app import db, queue, scheduled

DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"

app = FastAPI(title="fastapi-deploy demo", docs_url=None, redoc_url=None)
app.mount("/static", StaticFiles(directory=DOCS_ASSETS), name="static")


def root_path(request: Request) -> str:
    return str(request.scope.get("root_path", ""))


def docs_page(
    request: Request, render: Callable[..., HTMLResponse], title: str, **assets: str
) -> HTMLResponse:
    """A docs page whose OpenAPI document and assets are the app's own, under its root_path."""
    prefix = root_path(request)
    return render(
        openapi_url=f"{prefix}{app.openapi_url}",
        title=f"{app.title} - {title}",
        **{name: f"{prefix}/static/{asset}" for name, asset in assets.items()},
    )


@app.get("/docs", include_in_schema=False)
def swagger_ui(request: Request) -> HTMLResponse:
    return docs_page(
        request, get_swagger_ui_html, "Swagger UI", swagger_js_url="swagger-ui-bundle.js",
        swagger_css_url="swagger-ui.css", swagger_favicon_url="favicon.png",
    )  # fmt: skip


@app.get("/redoc", include_in_schema=False)
def redoc(request: Request) -> HTMLResponse:
    return docs_page(
        request, partial(get_redoc_html, with_google_fonts=False), "ReDoc",
        redoc_js_url="redoc.standalone.js", redoc_favicon_url="favicon.png",
    )  # fmt: skip


@app.get("/")
def read_root() -> dict[str, str]:
    return {"Hello": "World"}


@app.get("/items/{item_id}")
def read_item(item_id: int, q: str | None = None) -> dict[str, int | str | None]:
    return {"item_id": item_id, "q": q}


@app.get("/app")
def read_main(request: Request) -> dict[str, str]:
    return {"message": "Hello World", "root_path": root_path(request)}


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/uploads")
async def receive_upload(request: Request) -> dict[str, int]:
    """Reads the whole request body and says how large it was (the proxy's body limit is tested
    against it)."""
    return {"bytes": len(await request.body())}


# The longest a slow request may take: long enough to span a deploy's switch, short enough that
# nobody can hold a worker for long with it.
SLOW_MAX_SECONDS = 30.0


@app.get("/slow")
async def slow(
    seconds: Annotated[float, Query(ge=0, le=SLOW_MAX_SECONDS)] = 2.0,
) -> dict[str, str | float]:
    """Answers after `seconds`: a long request, as a report or an export would be."""
    await asyncio.sleep(seconds)
    return {"slept": seconds, "release": os.environ.get("APP_RELEASE", "dev")}


@app.websocket("/ws")
async def echo(websocket: WebSocket) -> None:
    """Echoes each text message with the release that answered it: a long-lived connection, as
    a live view or a chat would hold."""
    await websocket.accept()
    release = os.environ.get("APP_RELEASE", "dev")
    async for text in websocket.iter_text():
        await websocket.send_json({"echo": text, "release": release})


@app.get("/request-info")
def request_info(request: Request) -> dict[str, str | int | None]:
    """What this worker sees of the request once uvicorn has applied the proxy headers."""
    return {
        "scheme": request.url.scheme,
        "client": request.client.host if request.client else None,
        "host": request.headers.get("host"),
        "pid": os.getpid(),
        "root_path": root_path(request),
        "release": os.environ.get("APP_RELEASE", "dev"),
    }


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=db.NOTE_MAX_LENGTH)


class NoteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    text: str
    created_at: datetime


DbSession = Annotated[Session, Depends(db.session)]


@app.exception_handler(db.DatabaseNotConfiguredError)
def no_database(request: Request, exc: db.DatabaseNotConfiguredError) -> JSONResponse:
    return JSONResponse({"detail": "no database configured"}, status.HTTP_503_SERVICE_UNAVAILABLE)


@app.exception_handler(OperationalError)
def database_unavailable(request: Request, exc: OperationalError) -> JSONResponse:
    """The database is down or restarting: a 503 the client may retry, not a 500 with a trace."""
    return JSONResponse({"detail": "database unavailable"}, status.HTTP_503_SERVICE_UNAVAILABLE)


@app.post("/notes", status_code=status.HTTP_201_CREATED)
def create_note(note: NoteIn, session: DbSession) -> NoteOut:
    row = db.Note(text=note.text)
    session.add(row)
    session.commit()
    session.refresh(row)
    return NoteOut.model_validate(row)


@app.get("/notes")
def list_notes(session: DbSession) -> list[NoteOut]:
    """Every note, oldest first."""
    rows = session.scalars(select(db.Note).order_by(db.Note.id))
    return [NoteOut.model_validate(row) for row in rows]


@app.get("/notes/{note_id}")
def read_note(note_id: int, session: DbSession) -> NoteOut:
    row = session.get(db.Note, note_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such note")
    return NoteOut.model_validate(row)


class JobIn(BaseModel):
    text: str = Field(min_length=1, max_length=10_000)
    # Pretended work, so that a job can outlast a deploy.
    seconds: float = Field(default=0.0, ge=0, le=queue.MAX_JOB_SECONDS)


async def job_pool() -> ArqRedis:
    """The queue's connection pool, made on first use; 503 where no queue is configured."""
    url = queue.redis_url()
    if url is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no queue configured")
    if getattr(app.state, "job_pool", None) is None:
        app.state.job_pool = await create_pool(RedisSettings.from_dsn(url))
    return app.state.job_pool


JobPool = Annotated[ArqRedis, Depends(job_pool)]


@app.exception_handler(RedisConnectionError)
def queue_unavailable(request: Request, exc: RedisConnectionError) -> JSONResponse:
    return JSONResponse({"detail": "queue unavailable"}, status.HTTP_503_SERVICE_UNAVAILABLE)


@app.post("/jobs", status_code=status.HTTP_202_ACCEPTED)
async def enqueue_job(job: JobIn, pool: JobPool) -> dict[str, str]:
    """Queues a word count for the worker; GET /jobs/{job} tells when it is done."""
    queued = await pool.enqueue_job(queue.count_words.__name__, job.text, job.seconds)
    if queued is None:  # only when a job of the same id exists, which a fresh id never does
        raise HTTPException(status.HTTP_409_CONFLICT, "job already queued")
    return {"job": queued.job_id}


@app.get("/jobs/{job_id}")
async def read_job(job_id: str, pool: JobPool) -> dict[str, object]:
    """A job's state (queued, in_progress, complete, not_found) and, once complete, its result."""
    job = Job(job_id, pool)
    state = await job.status()
    answer: dict[str, object] = {"job": job_id, "status": state.value}
    if state == JobStatus.complete:
        info = await job.result_info()
        if info is not None:
            answer |= {"success": info.success, "result": info.result if info.success else None}
    return answer


@app.get("/scheduled-runs")
async def scheduled_runs(pool: JobPool) -> list[dict[str, object]]:
    """What the scheduled job (app/scheduled.py) recorded, newest first."""
    return [json.loads(run) for run in await pool.lrange(scheduled.RUNS_KEY, 0, -1)]
