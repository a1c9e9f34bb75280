"""How old a server's backups are, as `status` reports them: each one's age in words, and which
are older than the limit the operator set."""

from __future__ import annotations

from typing import Any

HOUR = 3600


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
        return {"backup_ages": backup_ages}
