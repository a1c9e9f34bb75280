"""Apps as Docker Swarm services: whether a rollout is over and how it ended, decided in one
tested place from what the manager reports (the service's inspection and its tasks).

Swarm reports a rolled-back update the way it reports a good one as far as the command line's
exit status goes: `docker service update` exits 0 either way. What tells them apart is the
service's UpdateStatus: `completed` for an update that went through, `rollback_completed` (or a
`paused` state) for one that did not. A service just created has no UpdateStatus: it is done
when its replicas run the image asked for.

A rollback returns the service to the release of its previous specification (Swarm keeps one),
and the status entry point reports the service's replicas, each with its node and release. A
database restore scales the services on the database's network to none while it restores.

The app's processes (app_processes) are services of their own beside its web process's,
`<app>-<process>`, found by their labels: the app's, and the process' name.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.fastapi_deploy.toolkit.plugins.filter.releases import processes_settings
from ansible_collections.fastapi_deploy.toolkit.plugins.filter.swarm import INVENTORY_LABEL

# The labels of the app's services (roles/app/vars/main.yml, app_labels), and the one a process'
# service adds (as a process' container does on one server).
APP_LABEL = "fastapi-deploy.app"
PROCESS_LABEL = "fastapi-deploy.process"

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
    updated: bool = True,
) -> dict[str, Any]:
    """Where the rollout of `image` to the app's service stands: `done` (every replica runs the
    image and any update completed), `failed` with a message naming the app (the update was
    rolled back or paused), or neither yet (`waiting`, with what is awaited). When this run did
    not update the service (`updated` false: it already had the specification asked for), its
    UpdateStatus is an earlier update's, a rolled-back one's included: the replicas alone
    tell."""
    status = ((service or {}).get("UpdateStatus") or {}) if updated else {}
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


def _release(spec: dict[str, Any]) -> str:
    """The release a task specification runs: its APP_RELEASE (service.yml sets it), else the
    first 12 hex digits of its image's digest (how pull.yml names a release), else ""."""
    for entry in spec.get("ContainerSpec", {}).get("Env") or []:
        name, _, value = str(entry).partition("=")
        if name == "APP_RELEASE" and value:
            return value
    _, _, digest = _image(spec).partition("@")
    return digest.split(":")[-1][:12]


def running_release(service: dict[str, Any] | None) -> str:
    """The release the service runs now ("" for no service yet)."""
    return _release((service or {}).get("Spec", {}).get("TaskTemplate", {})) if service else ""


def previous_release(service: dict[str, Any] | None, app: str) -> dict[str, str]:
    """The release a rollback returns the app's service to: the image and release of its
    previous specification, which Swarm keeps beside the current one. `problem` names the app
    when there is none to return to (no service, a service never updated, one whose previous
    specification Swarm dropped, or one whose previous specification runs the same image)."""
    previous = ((service or {}).get("PreviousSpec") or {}).get("TaskTemplate", {})
    image = _image(previous)
    if service is None:
        problem = f"app: '{app}' has no Swarm service yet: deploy it first"
    elif not image:
        problem = (
            f"app: the service of '{app}' has no previous release to return to (Swarm keeps one"
            " previous specification, dropped when it rolled a failed update back itself)."
            " Nothing was changed"
        )
    elif image == running_image(service):
        problem = (
            f"app: the previous specification of '{app}' runs the live image {image}: no earlier"
            " release to return to. Nothing was changed"
        )
    else:
        problem = ""
    if problem:
        return {"image": "", "release": "", "problem": problem}
    return {"image": image, "release": _release(previous), "problem": ""}


def _node_names(nodes: list[dict[str, Any]]) -> dict[str, str]:
    """Each node's name by its ID: its inventory name (the swarm role's label), else its
    hostname."""
    names = {}
    for node in nodes:
        labels = (node.get("Spec") or {}).get("Labels") or {}
        hostname = (node.get("Description") or {}).get("Hostname", "")
        names[str(node.get("ID", ""))] = labels.get(INVENTORY_LABEL) or hostname
    return names


def replicas(tasks: list[dict[str, Any]], nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The service's replicas Swarm means to run (tasks desired running), by slot: each with
    its node's name, its state and since when, its image, its release and its error if any."""
    names = _node_names(nodes)
    found = []
    for task in tasks:
        if task.get("DesiredState") != "running":
            continue
        status = task.get("Status") or {}
        spec = task.get("Spec") or {}
        found.append(
            {
                "slot": int(task.get("Slot") or 0),
                "task": str(task.get("ID", "")),
                "node": names.get(str(task.get("NodeID", "")), str(task.get("NodeID", ""))),
                "state": str(status.get("State", "")),
                "since": str(status.get("Timestamp", ""))[:19],
                "image": _image(spec),
                "release": _release(spec),
                "error": str(status.get("Err", "")),
            }
        )
    return sorted(found, key=lambda replica: (replica["slot"], replica["task"]))


def status_lines(
    service: dict[str, Any] | None,
    tasks: list[dict[str, Any]],
    nodes: list[dict[str, Any]],
    app: str,
    kind: str = "app",
) -> list[str]:
    """What the status entry point reports of the app's service (or of a process', `kind`
    "process"): the release it runs, its replicas running of those asked for and the last
    update's state, then one line per replica: its slot, node, state since when, release and
    image."""
    if service is None:
        return [f"{kind} {app}: no Swarm service yet (deploy it first)"]
    found = replicas(tasks, nodes)
    asked = ((service.get("Spec") or {}).get("Mode") or {}).get("Replicated", {}).get("Replicas")
    update = service.get("UpdateStatus") or {}
    running = sum(1 for replica in found if replica["state"] == "running")
    lines = [
        f"{kind} {app}: service running {running_image(service)}, {running} of"
        f" {asked if asked is not None else len(found)} replicas running, last update"
        f" {update.get('State') or 'none'}"
        + (f" ({update['Message']})" if update.get("Message") else "")
    ]
    for replica in found:
        lines.append(
            f"replica {replica['slot']} on {replica['node']}: {replica['state']}"
            f" since {replica['since']}Z, release {replica['release']}, {replica['image']}"
            + (f", error {replica['error']}" if replica["error"] else "")
        )
    return lines


def process_services(processes: list[dict[str, Any]], app: str) -> list[dict[str, Any]]:
    """The Swarm services of the app's processes: `<app>-<process>`, each with its process'
    command, replicas (its count), stop signal and grace period (its stop timeout)."""
    return [
        {
            "name": f"{app}-{entry['name']}",
            "process": entry["name"],
            "command": entry["command"],
            "replicas": entry["count"],
            "stop_signal": entry["stop_signal"],
            "stop_timeout": entry["stop_timeout"],
        }
        for entry in processes_settings(processes)
    ]


def _process_services_of(services: list[dict[str, Any]], app: str) -> list[dict[str, Any]]:
    """The services of the app's processes among those listed, by name."""
    found = [
        service
        for service in services
        if ((service.get("Spec") or {}).get("Labels") or {}).get(APP_LABEL) == app
        and PROCESS_LABEL in ((service.get("Spec") or {}).get("Labels") or {})
    ]
    return sorted(found, key=lambda service: str(service["Spec"].get("Name", "")))


def process_services_removed(
    services: list[dict[str, Any]], processes: list[dict[str, Any]], app: str
) -> list[str]:
    """The names of the app's process services (among those listed, as the manager inspects
    them) whose process the app no longer declares: the services a run removes."""
    declared = {service["name"] for service in process_services(processes, app)}
    return [
        str(service["Spec"].get("Name", ""))
        for service in _process_services_of(services, app)
        if service["Spec"].get("Name") not in declared
    ]


def process_status_lines(
    services: list[dict[str, Any]],
    tasks: list[dict[str, Any]],
    nodes: list[dict[str, Any]],
    app: str,
) -> list[str]:
    """What the status entry point reports of the app's process services (among those listed),
    by name: each as status_lines reports the web process', with the tasks of that service."""
    lines = []
    for service in _process_services_of(services, app):
        own = [task for task in tasks if task.get("ServiceID") == service.get("ID")]
        lines += status_lines(service, own, nodes, str(service["Spec"].get("Name", "")), "process")
    return lines


def services_on_network(
    services: list[dict[str, Any]], network_id: str, network_name: str
) -> list[dict[str, Any]]:
    """The replicated services whose tasks join the network (by its ID, as Swarm records it, or
    its name), each with the replicas its specification asks for, by name: those a database
    restore scales to none and back (docker_swarm_info's services with verbose_output)."""
    found = []
    for service in services:
        spec = service.get("Spec") or {}
        attached = [
            str(network.get("Target", ""))
            for network in (spec.get("TaskTemplate") or {}).get("Networks") or []
        ]
        replicated = ((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas")
        if replicated is not None and {network_id, network_name} & set(attached):
            found.append({"name": str(spec.get("Name", "")), "replicas": int(replicated)})
    return sorted(found, key=lambda service: service["name"])


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "swarm_service_named": named,
            "swarm_service_image": running_image,
            "swarm_service_release": running_release,
            "swarm_rollout": rollout,
            "swarm_previous_release": previous_release,
            "swarm_service_status": status_lines,
            "swarm_process_services": process_services,
            "swarm_process_services_removed": process_services_removed,
            "swarm_process_status": process_status_lines,
            "swarm_services_on_network": services_on_network,
        }
