"""The off-site copies' rules and reports: which repositories an inventory may copy to, and how
old a server's backups are, as `status` reports them."""

from __future__ import annotations

import re
from typing import Any

HOUR = 3600
# restic's S3 backend: s3:<scheme>://<endpoint>/<bucket>[/<path>]; its SFTP backend:
# sftp:<user>@<host>:<path>.
S3_REPOSITORY = re.compile(r"^s3:https?://[^/\s]+/[^/\s]+")
SFTP_REPOSITORY = re.compile(r"^sftp:[^@:\s]+@(?P<host>[^:/\s]+):\S+$")
ENVIRONMENT_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
S3_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def offsite_repositories_problems(entries: list[dict[str, Any]]) -> list[str]:
    """What is wrong with offsite_repositories, each problem naming its entry and field; the
    storage's secrets are never quoted (only the variables' names)."""
    if not entries:
        return ["offsite_repositories: name at least one repository to copy to"]
    problems, seen = [], set()
    for index, entry in enumerate(entries):
        where = f"offsite_repositories[{index}]"
        repository = str(entry.get("repository", ""))
        environment = entry.get("environment") or {}
        sftp = SFTP_REPOSITORY.match(repository)
        if not (S3_REPOSITORY.match(repository) or sftp):
            problems.append(
                f"{where}.repository: '{repository}' is neither an S3 repository "
                "(s3:https://<endpoint>/<bucket>/<path>) nor an SFTP one "
                "(sftp:<user>@<host>:<path>): a copy on the server's own disk is lost with it"
            )
        elif repository in seen:
            problems.append(f"{where}.repository: '{repository}' is named twice")
        seen.add(repository)
        misnamed = [name for name in environment if not ENVIRONMENT_NAME.match(str(name))]
        if misnamed:
            problems.append(
                f"{where}.environment: {', '.join(map(str, misnamed))}: not environment variable "
                "names"
            )
        if repository.startswith("s3:") and not all(environment.get(key) for key in S3_KEYS):
            problems.append(
                f"{where}.environment: an S3 repository needs {' and '.join(S3_KEYS)} (in "
                "ansible-vault)"
            )
        if sftp:
            problems.extend(sftp_problems(where, sftp.group("host"), entry))
    return problems


def sftp_problems(where: str, host: str, entry: dict[str, Any]) -> list[str]:
    """An SFTP repository logs in with its own key and checks the host's key: trusting it on
    first use would hand the backups to whoever answers first."""
    problems = []
    if "PRIVATE KEY" not in str(entry.get("ssh_private_key", "")):
        problems.append(
            f"{where}.ssh_private_key: an SFTP repository needs the private key it logs in with "
            "(in ansible-vault)"
        )
    known = [
        line.split()[0].split(",")
        for line in str(entry.get("ssh_known_hosts", "")).splitlines()
        if line.strip() and not line.startswith("#")
    ]
    if not any(host in names for names in known):
        problems.append(
            f"{where}.ssh_known_hosts: no key of {host} (a line of `ssh-keyscan {host}`, checked "
            "out of band)"
        )
    return problems


def age_in_words(seconds: float) -> str:
    """'3 min', '5 h 07 min', '2 d 4 h': the two largest units."""
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def backup_ages(
    times: dict[str, float], now: float, set_up: float, max_age_hours: int
) -> dict[str, list[str]]:
    """`times`: label -> when it last happened (seconds since the epoch; 0: never). A backup
    that never happened is stale only once the server has been set up for longer than the
    limit: a new server is given that long for its first."""
    limit = float(max_age_hours) * HOUR
    lines, stale = [], []
    for label, when in times.items():
        when, now_s = float(when or 0), float(now)
        if when > 0:
            lines.append(f"{label} {age_in_words(max(now_s - when, 0))} ago")
            too_old = now_s - when > limit
        else:
            lines.append(
                f"{label}: none yet (set up {age_in_words(max(now_s - float(set_up), 0))} ago)"
            )
            too_old = now_s - float(set_up) > limit
        if too_old:
            stale.append(label)
    return {"lines": lines, "stale": stale}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "backup_ages": backup_ages,
            "offsite_repositories_problems": offsite_repositories_problems,
        }
