"""Apps as Docker Swarm services: whether a rollout is over and how it ended, decided in one
tested place from what the manager reports (the service's inspection and its tasks).

Swarm reports a rolled-back update the way it reports a good one as far as the command line's
exit status goes: `docker service update` exits 0 either way. What tells them apart is the
service's UpdateStatus: `completed` for an update that went through, `rollback_completed` (or a
`paused` state) for one that did not. A service just created has no UpdateStatus: it is done
when its replicas run the image asked for.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

# UpdateStatus states: an update still going, and how one ended.
_UPDATING = {"updating", "rollback_started"}
_FAILED = {"rollback_completed", "paused", "rollback_paused"}


def _image(spec: dict[str, Any]) -> str:
    return str(spec.get("ContainerSpec", {}).get("Image", ""))


def _running_with(tasks: list[dict[str, Any]], image: str) -> int:
    """How many of the service's tasks run the image asked for (the manager's task objects, as
    docker_swarm_info returns them with verbose_output)."""
    return sum(
        1
        for task in tasks
        if task.get("DesiredState") == "running"
        and task.get("Status", {}).get("State") == "running"
        and _image(task.get("Spec", {})) == image
    )


def named(services: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """The service of that exact name (Swarm's name filter also matches longer names)."""
    return next((s for s in services if s.get("Spec", {}).get("Name") == name), None)


def running_image(service: dict[str, Any] | None) -> str:
    """The image the service runs now ("" for no service yet)."""
    return _image((service or {}).get("Spec", {}).get("TaskTemplate", {}))


def rollout(
    service: dict[str, Any] | None,
    tasks: list[dict[str, Any]],
    image: str,
    replicas: int,
    app: str,
) -> dict[str, Any]:
    """Where the rollout of `image` to the app's service stands: `done` (every replica runs the
    image and any update completed), `failed` with a message naming the app (the update was
    rolled back or paused), or neither yet (`waiting`, with what is awaited)."""
    status = (service or {}).get("UpdateStatus") or {}
    state = status.get("State", "")
    running = _running_with(tasks, image)
    if state in _FAILED:
        detail = status.get("Message") or state
        return {
            "done": True,
            "failed": True,
            "message": (
                f"app: the update of '{app}' to {image} did not complete ({state}: {detail});"
                " Swarm returned the service to its previous image, which keeps serving"
            ),
        }
    if state in _UPDATING or running < int(replicas):
        return {
            "done": False,
            "failed": False,
            "message": f"app '{app}': {running} of {int(replicas)} replicas run {image}"
            + (f" (update {state})" if state else ""),
        }
    return {
        "done": True,
        "failed": False,
        "message": f"app '{app}': {running} of {int(replicas)} replicas run {image}",
    }


def previous_image(service: dict[str, Any] | None, app: str) -> str:
    """The image a rollback returns the app's service to: the one of its previous
    specification, which Swarm keeps beside the current one."""
    previous = (service or {}).get("PreviousSpec") or {}
    image = _image(previous.get("TaskTemplate", {}))
    if not image:
        raise AnsibleFilterError(
            f"app: the service of '{app}' has no previous release to return to"
        )
    return image


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "swarm_service_named": named,
            "swarm_service_image": running_image,
            "swarm_rollout": rollout,
            "swarm_previous_image": previous_image,
        }
