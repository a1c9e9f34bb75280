"""The app role's decisions about releases: what a retirement stops and prunes, where a
rollback goes."""

from __future__ import annotations

from typing import Any

from ansible_collections.fastapi_deploy.toolkit.plugins.filter import releases


def container(name: str, state: str, image: str, prestart_of: str = "") -> dict[str, Any]:
    labels = {"fastapi-deploy.app": "app"}
    if prestart_of:
        labels["fastapi-deploy.prestart-of"] = prestart_of
    return {"Names": [f"/{name}"], "State": state, "Image": image, "Labels": labels}


def test_the_release_replaced_is_stopped_not_removed() -> None:
    plan = releases.retirement_plan(
        [container("app-b", "running", "img:b"), container("app-a", "running", "img:a")],
        live="app-b",
        history=["app-a", "app-b"],
    )
    assert plan == {"stop": ["app-a"], "remove": [], "remove_images": []}


def test_releases_out_of_the_history_go_with_their_prestart_runs_and_images() -> None:
    plan = releases.retirement_plan(
        [
            container("app-a", "exited", "img:a"),
            container("app-a-prestart", "exited", "img:a", prestart_of="app-a"),
            container("app-b", "exited", "img:b"),
            container("app-c", "running", "img:c"),
        ],
        live="app-c",
        history=["app-b", "app-c"],
    )
    assert plan == {"stop": [], "remove": ["app-a", "app-a-prestart"], "remove_images": ["img:a"]}


def test_an_image_still_used_by_a_kept_release_stays() -> None:
    """A settings-only change gives a new container on the same image."""
    plan = releases.retirement_plan(
        [container("app-x-1", "exited", "img:x"), container("app-x-2", "running", "img:x")],
        live="app-x-2",
        history=["app-x-2"],
    )
    assert plan == {"stop": [], "remove": ["app-x-1"], "remove_images": []}


def test_a_running_prestart_is_not_stopped_as_a_release() -> None:
    plan = releases.retirement_plan(
        [
            container("app-b", "running", "img:b"),
            container("app-b-prestart", "running", "img:b", prestart_of="app-b"),
        ],
        live="app-b",
        history=["app-b"],
    )
    assert plan["stop"] == []


def test_rollback_goes_to_the_release_live_before() -> None:
    assert releases.rollback_target(["app-a", "app-b", "app-c"], live="app-c") == "app-b"


def test_rollback_goes_where_asked() -> None:
    assert releases.rollback_target(["app-a", "app-b"], live="app-b", wanted="app-a") == "app-a"


def test_no_rollback_without_an_earlier_release() -> None:
    assert releases.rollback_target(["app-a"], live="app-a") == ""
