"""The notes resource's storage: PostgreSQL through SQLAlchemy, at the DATABASE_URL the
deploy gives the app. Without one the app still serves everything else; only /notes answers
503. The schema is Alembic's (app/migrations), run by the deploy's pre-start command, never by
the app at start-up: N workers starting at once must not race to migrate."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Engine, String, create_engine, func
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

DATABASE_URL_VARIABLE = "DATABASE_URL"
NOTE_MAX_LENGTH = 1000


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    text: Mapped[str] = mapped_column(String(NOTE_MAX_LENGTH))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class DatabaseNotConfiguredError(RuntimeError):
    """The app runs without a database (no DATABASE_URL)."""


def database_url() -> str:
    url = os.environ.get(DATABASE_URL_VARIABLE, "")
    if not url:
        raise DatabaseNotConfiguredError(f"{DATABASE_URL_VARIABLE} is not set")
    return url


@functools.cache
def engine() -> Engine:
    # pool_pre_ping: a connection the database dropped (a restart) is replaced, not handed out.
    return create_engine(database_url(), pool_pre_ping=True, pool_size=5, max_overflow=5)


def session() -> Iterator[Session]:
    """One session per request (a FastAPI dependency)."""
    with Session(engine()) as db:
        yield db
