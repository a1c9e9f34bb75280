"""Installs Debian packages in one task, updating the package lists first when they are missing
or older than cache_valid_time. A fresh image may ship with its lists removed but a recent lists
directory, which the apt module's cache_valid_time alone would take for a fresh cache; so the
lists themselves are looked for first, on the server, within this same task.

When dpkg reports every package installed already (every rerun, and an image that carries them),
the task ends there: no list update and no apt run, which cost a few seconds each."""

from __future__ import annotations

import re
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

LISTS_DIR = "/var/lib/apt/lists"
LISTS_PATTERN = "*_Packages*"
# A plain package name: dpkg-query can answer for it (not a version, an architecture or a glob).
PLAIN_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+")
DPKG_FORMAT = "${Package} ${db:Status-Status}\\n"


def all_installed(names: list[str], dpkg_rc: int, dpkg_output: str) -> bool:
    """Whether `dpkg-query -W -f DPKG_FORMAT <names>` says each of the names is installed; False
    whenever it cannot say (a name it does not know, or one that is not plain): apt decides."""
    if dpkg_rc != 0 or not all(PLAIN_NAME.fullmatch(name) for name in names):
        return False
    installed = {
        line.split()[0] for line in dpkg_output.splitlines() if line.split()[1:] == ["installed"]
    }
    return set(names) <= installed


def lists_valid_for(lists_found: int, cache_valid_time: int, refresh: bool) -> int:
    """The cache_valid_time to give apt: 0 (update now) when no package list is present or the
    sources just changed, else the age the caller accepts."""
    return 0 if refresh or lists_found == 0 else cache_valid_time


class ActionModule(ActionBase):
    _VALID_ARGS = frozenset(("name", "cache_valid_time", "refresh"))

    def run(
        self, tmp: str | None = None, task_vars: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = self._task.args
        names = args.get("name")
        if isinstance(names, str):
            names = [names]
        if not names:
            raise AnsibleActionFail("apt_install: name must list at least one package")
        query = self._execute_module(
            module_name="ansible.legacy.command",
            module_args={"argv": ["dpkg-query", "-W", "-f", DPKG_FORMAT, *names]},
            task_vars=task_vars,
        )
        # In a dry run the command module runs nothing (skipped): apt answers instead.
        if not query.get("skipped") and all_installed(
            names, int(query.get("rc", 1)), str(query.get("stdout", ""))
        ):
            result.update(changed=False, cache_updated=False, msg="already installed")
            return result
        found = self._execute_module(
            module_name="ansible.legacy.find",
            module_args={"paths": LISTS_DIR, "patterns": LISTS_PATTERN},
            task_vars=task_vars,
        )
        if found.get("failed"):
            result.update(found)
            return result
        valid = lists_valid_for(
            int(found.get("matched", 0)),
            int(args.get("cache_valid_time", 3600)),
            boolean(args.get("refresh", False), strict=True),
        )
        installed = self._execute_module(
            module_name="ansible.legacy.apt",
            module_args={
                "name": names,
                "state": "present",
                "update_cache": True,
                "cache_valid_time": valid,
            },
            task_vars=task_vars,
        )
        result.update(installed)
        return result
