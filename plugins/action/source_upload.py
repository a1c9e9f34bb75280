"""Ships an app's source to the server as one archive and unpacks it into a fresh directory:
one task and one transfer however many files, and only the files the release's digest covers
(the lookup app_source_digest: what the tree's .dockerignore keeps, no caches). Nothing of the
archive stays behind, on the controller or on the server. `files` adds controller files the
build needs beside the source (a CA bundle), by their name in the context, in the same archive."""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.fastapi_deploy.toolkit.plugins.lookup.app_source_digest import (
    source_files,
)


def pack(source: Path, archive: Path, extra: dict[str, Path] | None = None) -> list[str]:
    """Writes the source's files (modes kept), then the extra files under their context names,
    into a tar archive; their relative paths."""
    members = {path.relative_to(source).as_posix(): path for path in source_files(source)}
    members.update(extra or {})
    with tarfile.open(archive, "w") as tar:
        for name, path in members.items():
            tar.add(path, arcname=name, recursive=False)
    return list(members)


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    _VALID_ARGS = frozenset(("src", "dest", "owner", "group", "mode", "files"))

    def run(
        self, tmp: str | None = None, task_vars: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = self._task.args
        source = Path(str(args.get("src", ""))).expanduser()
        dest = str(args.get("dest", ""))
        if not source.is_dir() or not dest:
            raise AnsibleActionFail(
                f"source_upload: src must be a directory on the controller (got '{source}') "
                "and dest a directory on the server"
            )
        files = args.get("files") or {}
        extra = {name: Path(str(path)).expanduser() for name, path in files.items()}
        missing = ", ".join(str(path) for path in extra.values() if not path.is_file())
        if missing:
            raise AnsibleActionFail(f"source_upload: no such file on the controller: {missing}")
        owner = {key: args[key] for key in ("owner", "group") if key in args}
        if self._task.check_mode:
            result.update(changed=True, msg=f"check mode: would ship {source} to {dest}")
            return result
        remote_tmp = self._connection._shell.tmpdir
        try:
            with tempfile.TemporaryDirectory(prefix="app-source-") as workdir:
                archive = Path(workdir) / "source.tar"
                files = pack(source, archive, extra)
                made = self._execute_module(
                    module_name="ansible.legacy.file",
                    module_args={"path": dest, "state": "directory", "mode": "0750", **owner},
                    task_vars=task_vars,
                )
                if made.get("failed"):
                    result.update(made)
                    return result
                remote_archive = self._connection._shell.join_path(remote_tmp, "source.tar")
                self._transfer_file(str(archive), remote_archive)
                self._fixup_perms2((remote_tmp, remote_archive))
            unpacked = self._execute_module(
                module_name="ansible.legacy.unarchive",
                module_args={
                    "src": remote_archive,
                    "dest": dest,
                    "mode": args.get("mode"),
                    **owner,
                },
                task_vars=task_vars,
            )
        finally:
            self._remove_tmp_path(remote_tmp)
        result.update(unpacked)
        if not unpacked.get("failed"):
            result.update(changed=True, files=len(files))
        return result
