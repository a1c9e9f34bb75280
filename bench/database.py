"""Database: a read endpoint that queries PostgreSQL (the demo app's GET /notes/{id}, one row by
primary key), direct to the app and through the proxy; then the backup and the restore
playbooks (playbooks/db_backup.yml, playbooks/db_restore.yml) on a database of a stated size.

The rows are made inside the database container (generate_series), so the figures are the
database's and the playbooks', not the time it took to write them through the app. Both read
paths use the client inside the server, on the proxy network, and alternate within each round
as in bench/throughput.py. The rows are deleted and the bench's backup removed at the end.
"""

from __future__ import annotations

import uuid

from bench.common import Json, Settings, inventory_vars, log, on_server, playbook, server_docker
from bench.load import direct_url, median_run, wrk
from bench.stats import Spread, paired_ratios
from harness import sandbox
from harness.common import database_names

BACKUP_PLAYBOOK = "playbooks/db_backup.yml"
RESTORE_PLAYBOOK = "playbooks/db_restore.yml"
# The stated size: settings.database_rows notes of NOTE_BYTES characters each.
NOTE_BYTES = 200
MARK = "bench note"


def database() -> dict[str, str]:
    return database_names(inventory_vars())


def sql(query: str) -> str:
    """One query as the superuser over the database container's own socket."""
    db = database()
    return server_docker(
        "exec", "--user", "postgres", db["container"],
        "psql", "--no-psqlrc", "-tA", "-d", db["name"], "-c", query,
        timeout=600,
    )  # fmt: skip


def seed(rows: int) -> Json:
    # Random text (UUIDs' hex) compresses about as a real note would, unlike repeated letters:
    # the dump's size is then a real figure.
    random_text = " || ".join(["gen_random_uuid()::text"] * (NOTE_BYTES // 36 + 1))
    sql(
        f"INSERT INTO notes (text) SELECT left('{MARK} ' || n || ' ' || {random_text}, "
        f"{NOTE_BYTES}) FROM generate_series(1, {rows}) AS n"
    )
    sql("VACUUM ANALYZE notes")
    return {
        "rows": int(sql("SELECT count(*) FROM notes")),
        "database_bytes": int(sql("SELECT pg_database_size(current_database())")),
        "probe_id": int(sql(f"SELECT id FROM notes WHERE text LIKE '{MARK} {rows // 2} %'")),
    }


def measure_reads(settings: Settings, live: str, note_id: int) -> Json:
    paths = {
        "direct": f"{direct_url(live)}notes/{note_id}",
        "proxy": sandbox.site().url(f"/notes/{note_id}"),
    }
    runs: dict[str, list[Json]] = {name: [] for name in paths}
    for _ in range(settings.rounds):
        for name, url in paths.items():
            runs[name].append(wrk(url, settings, inner=True))
    rates = {name: [run["requests_per_second"] for run in runs[name]] for name in paths}
    return {
        "urls": paths,
        "median": {name: median_run(samples) for name, samples in runs.items()},
        "ratio_proxy_direct": Spread.of(paired_ratios(rates["proxy"], rates["direct"])).as_json(),
    }


def backup_size(name: str) -> int:
    path = f"{database()['backup_dir']}/{name}.dump"
    return int(on_server("stat", "--format", "%s", path).stdout)


def measure_backup_and_restore(rows_before: int) -> Json:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    backup = playbook(BACKUP_PLAYBOOK, "db-backup", {"postgres_backup_name": name})
    size = backup_size(name)
    restore = playbook(RESTORE_PLAYBOOK, "db-restore", {"postgres_restore_backup": name})
    rows_after = int(sql("SELECT count(*) FROM notes"))
    on_server("rm", "-f", f"{database()['backup_dir']}/{name}.dump")
    return {
        "backup": backup.summary(),
        "backup_bytes": size,
        "restore": restore.summary(),
        "rows_before": rows_before,
        "rows_after": rows_after,
    }


def measure_database(live: str, settings: Settings) -> Json:
    rows = settings.database_rows
    log(f"writing {rows} notes of {NOTE_BYTES} characters in the database")
    try:
        seeded = seed(rows)
        reads = measure_reads(settings, live, seeded["probe_id"])
        backup_restore = measure_backup_and_restore(seeded["rows"])
    finally:
        sql(f"DELETE FROM notes WHERE text LIKE '{MARK} %'")
    return {"seeded": {**seeded, "note_bytes": NOTE_BYTES}, "reads": reads, **backup_restore}
