"""What an image reference names, which digest the server pulled for it, and which untagged
images a build leaves over: the image decisions, in one tested place."""

from __future__ import annotations

import re
from typing import Any

DEFAULT_REGISTRY = "docker.io"
# Distribution's grammar, simplified: lower-case path components separated by '.', '_', '__' or
# '-'; an optional registry host (with a '.' or a port, or localhost) first; a tag or a digest.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOST = rf"(?:{_LABEL}(?:\.{_LABEL})*(?::[0-9]+)?)"
_REFERENCE = re.compile(
    rf"^(?:(?P<host>{_HOST})/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)


def _is_registry(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


def image_reference(reference: str) -> dict[str, Any]:
    """registry.example.com:5000/team/api:1.4.2 (or ...@sha256:<hex>) -> its registry, its
    repository (the reference without tag and digest), tag and digest; `valid` false for
    anything Docker would refuse, or with neither a tag nor a digest (a moving 'latest')."""
    match = _REFERENCE.match(reference or "")
    if not match or not (match["tag"] or match["digest"]):
        return {"valid": False, "registry": "", "repository": "", "tag": "", "digest": ""}
    host, path = match["host"], match["path"]
    if host and not _is_registry(host):
        # "team/api": the first component is a namespace on Docker Hub, not a host.
        path, host = f"{host}/{path}", None
    repository = f"{host}/{path}" if host else path
    return {
        "valid": True,
        "registry": host or DEFAULT_REGISTRY,
        "repository": repository,
        "tag": match["tag"] or "",
        "digest": match["digest"] or "",
    }


def _normalized(repository: str) -> str:
    """Docker lists Docker Hub's repositories without docker.io/ and library/."""
    for prefix in ("docker.io/", "index.docker.io/"):
        if repository.startswith(prefix):
            repository = repository[len(prefix) :]
    return repository.removeprefix("library/")


def repo_digest(repo_digests: list[str], reference: str) -> str:
    """The manifest digest (sha256:...) the server holds for the reference's repository, from
    `docker image inspect`'s RepoDigests; empty when it has none (an image never pulled)."""
    parsed = image_reference(reference)
    if parsed["digest"]:
        return str(parsed["digest"])
    wanted = _normalized(str(parsed["repository"]))
    for entry in repo_digests or []:
        repository, _, digest = entry.partition("@")
        if _normalized(repository) == wanted:
            return digest
    return ""


# The classic builder prints each step's image, cached or new, on a line of its own.
_BUILD_STEP_IMAGE = re.compile(r"--->\s*([0-9a-f]{12,64})\s*$", re.MULTILINE)


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def build_leftovers(
    dangling: list[dict[str, Any]], build_log: str, containers: list[dict[str, Any]]
) -> list[str]:
    """The untagged images to remove after a build: every one but those the build's log names
    and those a container (running or not) was made from. A multi-stage Dockerfile's earlier
    stage (its installed packages) is untagged yet the build cache of the next build from the
    same requirements: it stays while builds use it, and goes after the first build that does
    not."""
    kept = {image_id[:12] for image_id in _BUILD_STEP_IMAGE.findall(build_log or "")}
    kept |= {_short(str(container.get("ImageID", ""))) for container in containers or []}
    return [str(image["Id"]) for image in dangling or [] if _short(str(image["Id"])) not in kept]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "app_image_reference": image_reference,
            "app_repo_digest": repo_digest,
            "app_build_leftovers": build_leftovers,
        }
