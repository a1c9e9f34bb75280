"""Alembic's environment: the app's models, at the database DATABASE_URL names."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine

from app.db import Base, database_url

if context.config.config_file_name is not None:
    fileConfig(context.config.config_file_name)

# One transaction per migration run: a failing migration leaves the schema as it was.
with create_engine(database_url()).connect() as connection:
    context.configure(
        connection=connection, target_metadata=Base.metadata, transaction_per_migration=False
    )
    with context.begin_transaction():
        context.run_migrations()
