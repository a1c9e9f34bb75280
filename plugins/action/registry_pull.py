"""Pulls an image, logged in to its registry for that pull alone when credentials are given: the
login, the pull and the logout run in one task, so Docker's config holds the password only while
the pull runs, and the logout follows whether the pull worked or not. A failure names its step
(the login or the pull) and the registry, never the password."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

LOGIN = "community.docker.docker_login"
PULL = "community.docker.docker_image_pull"


def failure_message(step: str, image: str, registry: str, username: str, cause: str) -> str:
    """What a failed login or pull says: its step, the registry, the cause (Docker's own words),
    and that nothing was switched."""
    what = (
        f"could not log in to the registry {registry} as {username}"
        if step == "login"
        else f"could not pull {image} from {registry}"
    )
    cause = cause.strip() or "see the task's output"
    return f"app: {what}: {cause}. Nothing was started or switched; the live release keeps serving."


class ActionModule(ActionBase):
    _VALID_ARGS = frozenset(("name", "pull", "timeout", "registry", "username", "password"))

    def run(
        self, tmp: str | None = None, task_vars: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = self._task.args
        image, registry = str(args.get("name") or ""), str(args.get("registry") or "")
        username = str(args.get("username") or "")
        if not image or not registry:
            raise AnsibleActionFail("registry_pull: name and registry are required")
        timeout = int(args.get("timeout", 600))
        # A dry run asks no registry for a login.
        log_in = bool(username) and not self._task.check_mode

        def fail(step: str, answer: dict[str, Any]) -> dict[str, Any]:
            cause = str(answer.get("msg", ""))
            result.update(failed=True, msg=failure_message(step, image, registry, username, cause))
            return result

        try:
            if log_in:
                login = self._execute_module(
                    module_name=LOGIN,
                    module_args={
                        "registry_url": registry,
                        "username": username,
                        "password": args.get("password", ""),
                        "reauthorize": True,
                        "timeout": timeout,
                    },
                    task_vars=task_vars,
                )
                if login.get("failed"):
                    return fail("login", login)
            pulled = self._execute_module(
                module_name=PULL,
                module_args={"name": image, "pull": args.get("pull", "always"), "timeout": timeout},
                task_vars=task_vars,
            )
            if pulled.get("failed"):
                return fail("pull", pulled)
            result.update(changed=bool(pulled.get("changed")), image=pulled.get("image") or {})
            return result
        finally:
            if log_in:
                logout = self._execute_module(
                    module_name=LOGIN,
                    module_args={"registry_url": registry, "state": "absent"},
                    task_vars=task_vars,
                )
                if logout.get("failed") and not result.get("failed"):
                    cause = logout.get("msg", "")
                    result.update(failed=True, msg=f"could not log out of {registry}: {cause}")
