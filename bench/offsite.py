"""Off-site copies: the backup playbook with the copies turned on (a dump, then restic to an S3
store and to an SFTP backup host), and the off-site restore from each of them, on a database of
the stated size (the database section's notes, written the same way).

The sandbox copies nothing off the server: this section turns the copies on for its own
measurement with the traefik Molecule scenario's settings (roles/offsite: an S3 repository on
SeaweedFS, an SFTP repository on the OpenSSH backup host), the repositories' path being the
sandbox server's. The two stores run on the sandbox network under the names the scenario's
repositories give them, started here and removed at the end. The variables go to the playbooks
as extra variables, the repositories (their keys) and the password in a file of mode 0600 that
no log shows. First playbooks/database.yml installs the role (restic, its files, its timer);
then playbooks/db_backup.yml dumps the database and copies the dumps' directory to both
repositories; then, for each repository in turn, the bench's dump is removed from the server,
playbooks/offsite_restore.yml brings it back, the bench's rows are deleted and
playbooks/db_restore.yml restores that dump: every row must be back. At the end the rows and
the dump are deleted, the copies turned off again (playbooks/database.yml with offsite_enabled
false takes the role's timer and files away) and the stores removed.
"""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import urlsplit

import yaml

from bench import database
from bench.common import BenchError, Json, Settings, log, on_server, playbook
from harness import images, sandbox
from harness.common import (
    CACHE_DIR,
    REPO_DIR,
    ROLES_DIR,
    docker,
    docker_exists,
    inventory_host,
    run,
    wait_until,
)

DATABASE_PLAYBOOK = "playbooks/database.yml"
OFFSITE_RESTORE_PLAYBOOK = "playbooks/offsite_restore.yml"
# The traefik scenario's off-site copies: the settings the bench turns on, written down once.
SCENARIO_OFFSITE_VARS = REPO_DIR / "molecule/traefik/host_vars/fd-traefik-server/offsite.yml"
# What serves each kind of repository, and the port that answers once it is up.
STORES = {
    "s3": ("s3", "fastapi-deploy/s3:latest", 8333),
    "sftp": ("backup-host", images.BACKUP_HOST_TAG, 22),
}
# What the SFTP repository logs in with (harness/images.py exports them from the host's image).
BACKUP_HOST_FILES = ("backup-host-key", "backup-host-known-hosts")
COPY_TASK = "Run the off-site copy"
RESTORED_LINE = re.compile(r"offsite: \S+: (?P<count>\d+) files restored")


# Settings ------------------------------------------------------------------------------------


def scenario_vars() -> Json:
    return dict(yaml.safe_load(SCENARIO_OFFSITE_VARS.read_text()))


def offsite_vars(scenario: Json, host: str, backup_dir: str) -> tuple[Json, Json]:
    """(extra vars, secret vars) that turn the copies of the dumps' directory on for the
    sandbox: the scenario's repositories, each with the sandbox server's name as its last path
    segment (the scenario's has its own server's), and its password. No volume is copied."""
    repositories = [
        {**entry, "repository": entry["repository"].rsplit("/", 1)[0] + f"/{host}"}
        for entry in scenario["offsite_repositories"]
    ]
    extra = {"offsite_enabled": True, "offsite_paths": [backup_dir], "offsite_volumes": []}
    secret = {
        "offsite_repositories": repositories,
        "offsite_password": scenario["offsite_password"],
    }
    return extra, secret


def repository_kind(repository: str) -> str:
    return repository.partition(":")[0]


def repository_host(repository: str) -> str:
    """The host a repository is reached at: s3:<url> or sftp:<user>@<host>:<path>."""
    kind, _, rest = repository.partition(":")
    if kind == "s3":
        return urlsplit(rest).hostname or ""
    return rest.rpartition("@")[2].partition(":")[0]


def role_var(name: str) -> str:
    """A path the offsite role sets in its vars/main.yml (those made of offsite_config_dir)."""
    role_vars = yaml.safe_load((ROLES_DIR / "offsite/vars/main.yml").read_text())
    return str(role_vars[name]).replace("{{ offsite_config_dir }}", role_vars["offsite_config_dir"])


def restored_files(log_file: str) -> int:
    """Files offsite_restore.yml put back, from the restore script's lines in its log."""
    with open(log_file) as text:
        return sum(int(match["count"]) for match in RESTORED_LINE.finditer(text.read()))


def task_seconds(tasks: dict[str, float], name: str) -> float | None:
    """Seconds of a task in a playbook run's profile, by its name without the role's prefix."""
    times = [seconds for task, seconds in tasks.items() if task.endswith(name)]
    return round(sum(times), 2) if times else None


# The stores ----------------------------------------------------------------------------------


def store_container(box: sandbox.Sandbox, repository: str) -> str:
    return f"{box.network}-{STORES[repository_kind(repository)][0]}"


def start_store(box: sandbox.Sandbox, repository: str) -> str:
    """The S3 store or the backup host of a repository, on the sandbox network under the name
    the repository gives; returns the container's name once its port answers."""
    name = store_container(box, repository)
    _, image, port = STORES[repository_kind(repository)]
    if not docker_exists("image", image):
        raise BenchError(f"{image} is missing: python -m harness.images s3 backup-host")
    docker("rm", "-f", "-v", name, check=False)
    docker(
        "run", "-d", "--name", name, "--network", box.network,
        "--network-alias", repository_host(repository), image,
    )  # fmt: skip

    def answers() -> bool:
        probe = ["bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{port}"]
        return run("docker", "exec", name, *probe, check=False, timeout=10).returncode == 0

    wait_until(answers, 60, interval=0.5)
    return name


def ensure_backup_host_files() -> None:
    if not all((CACHE_DIR / name).is_file() for name in BACKUP_HOST_FILES):
        images.export_backup_host_keys()


# On the server -------------------------------------------------------------------------------


def checksum(path: str) -> str:
    return on_server("sha256sum", path, timeout=120).stdout.split()[0]


def repository_bytes(index: int) -> int | None:
    """What the repository holds (restic stats, raw data: compressed, encrypted), read on the
    server with the role's own configuration; None when restic cannot say."""
    script = (
        f". {role_var('offsite_repositories_file')} && "
        f'export RESTIC_REPOSITORY="${{offsite_repositories[{index}]}}" && '
        f"offsite_environment_{index} && "
        'restic "${offsite_restic_options[@]}" stats --json --mode raw-data'
    )
    try:
        stats = json.loads(on_server("bash", "-c", script, timeout=300).stdout)
    except (BenchError, ValueError) as error:
        log(f"restic stats of repository {index}: {error}")
        return None
    return int(stats["total_size"])


def timer_state(box: sandbox.Sandbox) -> str:
    """`systemctl is-enabled` of the role's timer on the server (what stays after the section)."""
    unit = role_var("offsite_unit")
    result = run(
        "docker", "exec", box.server, "systemctl", "is-enabled", f"{unit}.timer", check=False
    )  # fmt: skip
    return result.stdout.strip() or "absent"


def delete_bench_rows() -> None:
    database.sql(f"DELETE FROM notes WHERE text LIKE '{database.MARK} %'")


def restore_from(
    repository: str, extra: Json, secret: Json, name: str, rows_before: int, dump_sum: str
) -> Json:
    """The bench's dump removed from the server, brought back from one repository, and
    restored into the database with the bench's rows deleted first."""
    kind = repository_kind(repository)
    dump = f"{database.database()['backup_dir']}/{name}.dump"
    on_server("rm", "-f", dump)
    fetched = playbook(
        OFFSITE_RESTORE_PLAYBOOK, f"offsite-restore-{kind}",
        {**extra, "offsite_restore_from": repository}, secret,
    )  # fmt: skip
    identical = checksum(dump) == dump_sum
    delete_bench_rows()
    restored = playbook(database.RESTORE_PLAYBOOK, f"offsite-db-restore-{kind}",
                        {"postgres_restore_backup": name})  # fmt: skip
    return {
        "repository": repository,
        "offsite_restore": fetched.summary(),
        "files_restored": restored_files(fetched.log),
        "dump_identical": identical,
        "db_restore": restored.summary(),
        "seconds": round(fetched.seconds + restored.seconds, 2),
        "rows_before": rows_before,
        "rows_after": int(database.sql("SELECT count(*) FROM notes")),
    }


def measure_offsite(box: sandbox.Sandbox, settings: Settings) -> Json:
    backup_dir = database.database()["backup_dir"]
    extra, secret = offsite_vars(scenario_vars(), inventory_host(), backup_dir)
    repositories = [entry["repository"] for entry in secret["offsite_repositories"]]
    name = f"bench-offsite-{uuid.uuid4().hex[:8]}"
    dump = f"{backup_dir}/{name}.dump"
    ensure_backup_host_files()
    stores: list[str] = []
    try:
        stores = [start_store(box, repository) for repository in repositories]
        log(f"stores up: {', '.join(stores)}")
        rows = settings.database_rows
        log(f"writing {rows} notes of {database.NOTE_BYTES} characters in the database")
        seeded = database.seed(rows)
        applied = playbook(DATABASE_PLAYBOOK, "offsite-apply", extra, secret)
        backup = playbook(
            database.BACKUP_PLAYBOOK, "offsite-backup", {**extra, "postgres_backup_name": name},
            secret,
        )  # fmt: skip
        dump_sum = checksum(dump)
        result: Json = {
            "seeded": {**seeded, "note_bytes": database.NOTE_BYTES},
            "repositories": repositories,
            "apply": applied.summary(),
            "backup": {**backup.summary(), "copy_s": task_seconds(backup.tasks, COPY_TASK)},
            "backup_bytes": database.backup_size(name),
            "repository_bytes": {
                repository_kind(repository): repository_bytes(index)
                for index, repository in enumerate(repositories)
            },
        }
        result["restores"] = {
            repository_kind(repository): restore_from(
                repository, extra, secret, name, seeded["rows"], dump_sum
            )
            for repository in repositories
        }
    finally:
        delete_bench_rows()
        on_server("rm", "-f", dump)
        playbook(DATABASE_PLAYBOOK, "offsite-off", {"offsite_enabled": False})
        for store in stores:
            docker("rm", "-f", "-v", store, check=False)
    # Turned off, the copies leave no timer behind.
    result["timer_after"] = timer_state(box)
    return result
