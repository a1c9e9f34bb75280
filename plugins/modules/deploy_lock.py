"""One deploy or rollback of an app at a time: takes or releases the app's deploy lock, a
directory beside its release history. mkdir either creates it or fails, atomically, so two runs
that start together cannot both hold it. Taking and releasing it leave the server as it was:
neither reports a change."""

from __future__ import annotations

import base64
import json
import os
import shutil
import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: deploy_lock
short_description: Take or release an app's deploy lock, waiting while another run holds it
description:
  - C(state=present) creates the lock directory (its parent too) and writes who holds it in
    C(holder.json); while another run holds it, waits up to C(timeout) seconds, then fails
    naming the holder.
  - C(state=absent) removes it. In check mode nothing is taken or released.
  - With C(history), also reads the file the lock guards once it is held (in check mode, without
    taking it), so that the run reads what is live in the same step: its content is returned as
    M(ansible.builtin.slurp) returns a file.
options:
  path:
    description: The lock directory.
    type: path
    required: true
  state:
    description: Take (present) or release (absent) the lock.
    type: str
    choices: [present, absent]
    default: present
  holder:
    description: What the lock says of the run holding it (operator, action, release, since).
    type: dict
    default: {}
  timeout:
    description: Seconds to wait for another run's lock.
    type: int
    default: 600
  break_lock:
    description: Remove a lock a killed run left behind before taking it.
    type: bool
    default: false
  history:
    description: The file the lock guards (the app's release history), read once the lock is held.
    type: path
author: fastapi-deploy
"""

EXAMPLES = r"""
- name: Take the app's deploy lock
  fastapi_deploy.toolkit.deploy_lock:
    path: /var/lib/fastapi-app/app.deploy.lock
    holder: {operator: alice, action: deploy, release: 1a2b3c}
"""

RETURN = r"""
content:
  description: The history file's content, base64-encoded; absent when it does not exist.
  returned: when history is given and the file exists
  type: str
holder:
  description: Who holds the lock when it could not be taken.
  returned: failure
  type: dict
"""

POLL_SECONDS = 1.0


def read_holder(path: str) -> dict[str, Any]:
    try:
        with open(os.path.join(path, "holder.json"), encoding="utf-8") as file:
            holder = json.load(file)
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def held_message(path: str, holder: dict[str, Any], timeout: int) -> str:
    return (
        f"the deploy lock {path} is held by {holder.get('operator', 'an unknown run')}"
        f" ({holder.get('action', '?')} of release {holder.get('release', '?')},"
        f" since {holder.get('since', '?')}); waited {timeout} s (app_deploy_lock_timeout)."
        " Nothing was changed. If that run was killed, clear the lock with"
        " -e app_deploy_lock_break=true."
    )


def take(path: str, holder: dict[str, Any], timeout: int) -> bool:
    """True once the lock is ours; False when another run kept it for `timeout` seconds."""
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.mkdir(path, 0o755)
        except FileExistsError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_SECONDS)
            continue
        with open(os.path.join(path, "holder.json"), "w", encoding="utf-8") as file:
            json.dump(holder, file, indent=2, sort_keys=True)
            file.write("\n")
        return True


def read_history(path: str | None) -> dict[str, str]:
    """The file's content as slurp returns it ({content: base64}), or nothing when it is absent."""
    if not path:
        return {}
    try:
        with open(path, "rb") as file:
            return {"content": base64.b64encode(file.read()).decode("ascii")}
    except FileNotFoundError:
        return {}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "holder": {"type": "dict", "default": {}},
            "timeout": {"type": "int", "default": 600},
            "break_lock": {"type": "bool", "default": False},
            "history": {"type": "path"},
        },
        supports_check_mode=True,
    )
    params = module.params
    path = params["path"]
    if module.check_mode:
        module.exit_json(changed=False, **read_history(params["history"]))
    if params["state"] == "absent" or params["break_lock"]:
        shutil.rmtree(path, ignore_errors=True)
    if params["state"] == "present" and not take(path, params["holder"], params["timeout"]):
        holder = read_holder(path)
        module.fail_json(msg=held_message(path, holder, params["timeout"]), holder=holder)
    module.exit_json(changed=False, **read_history(params["history"]))


if __name__ == "__main__":
    main()
