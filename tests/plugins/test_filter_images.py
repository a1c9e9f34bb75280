"""The registry path's decisions: what an image reference names, and which digest was pulled."""

from __future__ import annotations

import pytest
from ansible_collections.fastapi_deploy.toolkit.plugins.filter import images

DIGEST = "sha256:" + "ab" * 32
REGISTRY = "registry.example.test:5000"


@pytest.mark.parametrize(
    ("reference", "registry", "repository", "tag", "digest"),
    [
        ("example.com/team/api:1.4.2", "example.com", "example.com/team/api", "1.4.2", ""),
        (f"{REGISTRY}/demo/app@{DIGEST}", REGISTRY, f"{REGISTRY}/demo/app", "", DIGEST),
        (f"ghcr.io/acme/api:1.0@{DIGEST}", "ghcr.io", "ghcr.io/acme/api", "1.0", DIGEST),
        ("localhost/app:2", "localhost", "localhost/app", "2", ""),
        ("team/api:1.0", "docker.io", "team/api", "1.0", ""),
        ("python:3.11-slim", "docker.io", "python", "3.11-slim", ""),
    ],
)  # fmt: skip
def test_a_reference_names_its_registry_repository_tag_and_digest(
    reference: str, registry: str, repository: str, tag: str, digest: str
) -> None:
    assert images.image_reference(reference) == {
        "valid": True, "registry": registry, "repository": repository, "tag": tag, "digest": digest,
    }  # fmt: skip


@pytest.mark.parametrize(
    "reference",
    [
        "",
        "registry.example.com/team/api",
        "Registry/API:1",
        "api:",
        "api@sha256:abc",
        "a b:1",
        "api:1 ",
    ],
)
def test_a_reference_without_tag_or_digest_or_malformed_is_invalid(reference: str) -> None:
    assert images.image_reference(reference)["valid"] is False


def test_the_digest_pulled_is_the_one_of_the_references_repository() -> None:
    repo_digests = [
        f"other.example/x@sha256:{'cd' * 32}",
        f"registry.example.test:5000/demo/app@{DIGEST}",
    ]
    assert images.repo_digest(repo_digests, "registry.example.test:5000/demo/app:1.0") == DIGEST


def test_docker_hub_repositories_match_without_their_implicit_prefixes() -> None:
    assert images.repo_digest([f"python@{DIGEST}"], "docker.io/library/python:3.11") == DIGEST


def test_a_digest_reference_is_its_own_digest() -> None:
    assert images.repo_digest([], f"registry.example.test:5000/demo/app@{DIGEST}") == DIGEST


def test_an_image_never_pulled_has_no_digest() -> None:
    assert images.repo_digest([], "registry.example.test:5000/demo/app:1.0") == ""
