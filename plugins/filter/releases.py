"""What retiring a release does to the app's containers, decided in one tested place."""

from __future__ import annotations

from typing import Any

PRESTART_OF = "fastapi-deploy.prestart-of"


def _name(container: dict[str, Any]) -> str:
    return container["Names"][0].lstrip("/")


def _owner(container: dict[str, Any]) -> str:
    """The release a container belongs to: itself, or the release its pre-start ran for."""
    return (container.get("Labels") or {}).get(PRESTART_OF) or _name(container)


def retirement_plan(
    containers: list[dict[str, Any]], live: str, history: list[str]
) -> dict[str, list[str]]:
    """From `docker ps -a`-style records of the app's containers: the old releases to stop
    (kept for rollback), the containers to remove (releases no longer in the history, with
    their pre-start runs) and the images only those used."""
    kept = set(history) | {live}
    releases = [c for c in containers if PRESTART_OF not in (c.get("Labels") or {})]
    removed = [c for c in containers if _owner(c) not in kept]
    images_in_use = {c["Image"] for c in containers if _owner(c) in kept}
    return {
        "stop": sorted(
            _name(c) for c in releases if c.get("State") == "running" and _name(c) != live
        ),
        "remove": sorted(_name(c) for c in removed),
        "remove_images": sorted({c["Image"] for c in removed} - images_in_use),
    }


def rollback_target(history: list[str], live: str, wanted: str = "") -> str:
    """The release to roll back to: the one asked for, else the one live before `live`."""
    if wanted:
        return wanted
    earlier = [name for name in history if name != live]
    return earlier[-1] if earlier else ""


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"app_retirement_plan": retirement_plan, "app_rollback_target": rollback_target}
