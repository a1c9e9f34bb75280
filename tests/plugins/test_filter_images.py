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


# The classic builder's log of a code-only build of the demo's two-stage Dockerfile (Docker
# 20.10), shortened: the build stage comes from the cache, the code's layer is new.
CODE_ONLY_BUILD_LOG = """\
Step 1/14 : ARG BASE_IMAGE=python:3.11-slim
Step 2/14 : FROM ${BASE_IMAGE} AS build
 ---> 15520933daed
Step 3/14 : COPY requirements.txt build-ca.pe[m] /tmp/build/
 ---> Using cache
 ---> d7556b0cfd94
Step 4/14 : RUN python -m venv /opt/venv && /opt/venv/bin/pip install -r /tmp/build/requirements.txt
 ---> Using cache
 ---> 83d2c357e0b3
Step 5/14 : FROM ${BASE_IMAGE}
 ---> 15520933daed
Step 7/14 : COPY --from=build /opt/venv /opt/venv
 ---> Using cache
 ---> 820b74b58dbe
Step 11/14 : COPY ./app /code/app
 ---> 2498ec758388
Step 14/14 : CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"]
 ---> Running in 3f142a012a0a
Removing intermediate container 3f142a012a0a
 ---> fa909087761c
Successfully built fa909087761c
"""


def untagged(*short_ids: str) -> list[dict[str, str]]:
    return [{"Id": f"sha256:{short_id}{'0' * 52}"} for short_id in short_ids]


def test_the_build_stage_a_build_used_is_kept_for_the_next_one() -> None:
    assert images.build_leftovers(untagged("83d2c357e0b3"), CODE_ONLY_BUILD_LOG, []) == []


def test_build_stages_no_build_uses_any_more_are_removed() -> None:
    earlier = untagged("5f0c2a9e11aa", "9b1e0d3c7f42")
    leftovers = images.build_leftovers(untagged("83d2c357e0b3") + earlier, CODE_ONLY_BUILD_LOG, [])
    assert leftovers == [image["Id"] for image in earlier]


def test_a_container_the_build_ran_is_not_taken_for_an_image_it_used() -> None:
    [container_id] = untagged("3f142a012a0a")
    assert images.build_leftovers([container_id], CODE_ONLY_BUILD_LOG, []) == [container_id["Id"]]


def test_without_a_build_log_every_untagged_image_is_a_leftover() -> None:
    [stage] = untagged("83d2c357e0b3")
    assert images.build_leftovers([stage], "", []) == [stage["Id"]]


def test_an_untagged_image_a_container_was_made_from_stays() -> None:
    [image] = untagged("7a3e55c0d912")
    assert images.build_leftovers([image], CODE_ONLY_BUILD_LOG, [{"ImageID": image["Id"]}]) == []
