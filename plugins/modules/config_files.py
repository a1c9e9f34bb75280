"""Writes several configuration files in one module call, each only where its content, mode or
owner differs. ansible.builtin.template and copy make two calls per file even when nothing
changes (a stat, then the file module for its attributes); a role's files written together cost
one call, which is most of an idempotent run's time on files."""

from __future__ import annotations

import os
import shlex
import tempfile
from collections.abc import Callable
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: config_files
short_description: Write several files in one call, each only where it differs
description:
  - Each entry's C(content) is compared with the file at C(path); a file that differs (or is
    missing) is replaced atomically (a new file in the same directory, given its mode and owner,
    then renamed over it). Mode, owner and group are then set where they differ.
  - The files' directories must exist or be listed in C(directories), which are created first
    (their missing parents too, mode 0755) and given their mode and owner where they differ. In
    check mode nothing is written or created; with C(--diff) each changed file's content before
    and after is returned.
  - Contents come from the task (a template lookup, a variable); a secret's task sets C(no_log).
options:
  directories:
    description: Directories to create, or whose mode and owner to set, before the files.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The directory.
        type: path
        required: true
      mode:
        description: Its mode (as M(ansible.builtin.file) takes it).
        type: raw
      owner:
        description: Its owner.
        type: str
        default: root
      group:
        description: Its group.
        type: str
        default: root
  files:
    description: The files.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Where the file goes.
        type: path
        required: true
      content:
        description: The file's whole content.
        type: str
        required: true
      mode:
        description: Its mode (as M(ansible.builtin.file) takes it).
        type: raw
      owner:
        description: Its owner (configuration files are root's unless said otherwise).
        type: str
        default: root
      group:
        description: Its group.
        type: str
        default: root
      validate:
        description:
          - A command that checks the new file before it replaces the old one, C(%s) standing for
            the new file's path (as M(ansible.builtin.template)'s C(validate)). A file it refuses
            is not written, and the task fails with the command's output.
        type: str
author: fastapi-deploy
"""

EXAMPLES = r"""
- name: Write the app's environment file in its root-only directory
  fastapi_deploy.toolkit.config_files:
    directories:
      - path: /etc/fastapi-app
        mode: "0700"
    files:
      - path: /etc/fastapi-app/app.env
        content: "{{ app_environment_file }}"
        mode: "0600"
  no_log: true

- name: Install the backup script, its service and its timer
  fastapi_deploy.toolkit.config_files:
    files:
      - path: /usr/local/bin/backup
        content: "{{ lookup('ansible.builtin.template', 'backup.sh.j2') }}"
        mode: "0750"
      - path: /etc/systemd/system/backup.timer
        content: "{{ lookup('ansible.builtin.template', 'backup.timer.j2') }}"
        mode: "0644"

- name: Let the deploy user use sudo
  fastapi_deploy.toolkit.config_files:
    files:
      - path: /etc/sudoers.d/50-deploy
        content: "deploy ALL=(ALL:ALL) NOPASSWD: ALL\n"
        mode: "0440"
        validate: /usr/sbin/visudo -cf %s
"""

RETURN = r"""
changed_paths:
  description: The directories created and the files written, or those whose mode or owner was set.
  type: list
  elements: str
  returned: always
"""


def current_content(path: str) -> bytes | None:
    """The file's bytes; None where there is no file."""
    try:
        with open(path, "rb") as existing:
            return existing.read()
    except FileNotFoundError:
        return None


def octal_mode(mode: int | str | None) -> int | None:
    """A mode given as octal digits ("0644", 0o644 from YAML's 0644), else None (symbolic modes
    are left to the attributes step)."""
    if isinstance(mode, int):
        return mode
    if isinstance(mode, str) and mode.isdigit():
        return int(mode, 8)
    return None


def check_argv(command: str, candidate: str) -> list[str]:
    """A validate command's arguments, the candidate file where it says %s."""
    return [candidate if word == "%s" else word for word in shlex.split(command)]


def replace(
    path: str,
    content: bytes,
    mode: int | str | None = None,
    check: Callable[[str], None] | None = None,
) -> None:
    """The file replaced whole: a new file beside it, its mode set (and checked, when a check is
    given: it raises to refuse) before it is renamed over the old one, so a reader sees the old
    file or the new one, never a part, a wider mode or a file its check refused."""
    descriptor, temporary = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".tmp-")
    try:
        with os.fdopen(descriptor, "wb") as new:
            new.write(content)
            wanted = octal_mode(mode)
            if wanted is not None:
                os.fchmod(new.fileno(), wanted)
        if check is not None:
            check(temporary)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def attributes_of(entry: dict[str, Any]) -> dict[str, Any]:
    """The arguments AnsibleModule's attribute setters take for an entry's path."""
    return {
        "path": entry["path"], "mode": entry["mode"], "owner": entry["owner"],
        "group": entry["group"], "secontext": [None, None, None], "attributes": None,
    }  # fmt: skip


def ensure_directory(module: AnsibleModule, entry: dict[str, Any]) -> bool:
    """The directory created where it is missing (its mode set before anything can be written in
    it), then its mode and owner set where they differ; whether anything changed."""
    path = entry["path"]
    missing = not os.path.isdir(path)
    if missing and module.check_mode:
        return True
    if missing:
        os.makedirs(os.path.dirname(path.rstrip("/")) or "/", mode=0o755, exist_ok=True)
        wanted = octal_mode(entry["mode"])
        os.mkdir(path, 0o755 if wanted is None else wanted)
    return module.set_fs_attributes_if_different(attributes_of(entry), False) or missing


def file_diff(path: str, before: bytes | None, after: bytes) -> dict[str, str]:
    return {
        "before_header": path if before is not None else f"{path} (absent)",
        "after_header": path,
        "before": (before or b"").decode("utf-8", errors="replace"),
        "after": after.decode("utf-8", errors="replace"),
    }


def validator(module: AnsibleModule, entry: dict[str, Any]) -> Callable[[str], None] | None:
    """The check of an entry's new file by its validate command, failing the task where the
    command refuses it."""
    command = entry.get("validate")
    if not command:
        return None

    def check(candidate: str) -> None:
        rc, stdout, stderr = module.run_command(check_argv(command, candidate))
        if rc != 0:
            module.fail_json(
                msg=f"{entry['path']}: '{command}' refused the new file (exit {rc}): "
                f"{(stderr or stdout).strip()}"
            )

    return check


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "directories": {
                "type": "list", "elements": "dict", "default": [],
                "options": {
                    "path": {"type": "path", "required": True},
                    "mode": {"type": "raw"},
                    "owner": {"type": "str", "default": "root"},
                    "group": {"type": "str", "default": "root"},
                },
            },
            "files": {
                "type": "list", "elements": "dict", "required": True,
                "options": {
                    "path": {"type": "path", "required": True},
                    "content": {"type": "str", "required": True},
                    "mode": {"type": "raw"},
                    "owner": {"type": "str", "default": "root"},
                    "group": {"type": "str", "default": "root"},
                    "validate": {"type": "str"},
                },
            },
        },
        supports_check_mode=True,
    )  # fmt: skip
    changed_paths: list[str] = []
    diffs: list[dict[str, str]] = []
    for entry in module.params["directories"]:
        if ensure_directory(module, entry):
            changed_paths.append(entry["path"])
    for entry in module.params["files"]:
        path, wanted = entry["path"], entry["content"].encode("utf-8")
        before = current_content(path)
        differs = before != wanted
        if differs:
            diffs.append(file_diff(path, before, wanted))
            if not module.check_mode:
                replace(path, wanted, entry["mode"], validator(module, entry))
        # In check mode a file not written yet has no attributes to compare.
        exists = before is not None or not module.check_mode
        set_now = exists and module.set_fs_attributes_if_different(attributes_of(entry), False)
        if set_now or differs:
            changed_paths.append(path)
    result: dict[str, Any] = {"changed": bool(changed_paths), "changed_paths": changed_paths}
    if module._diff and diffs:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
