"""The app's image tag: a digest of what a build would use, computed on the controller.

An unchanged source is then found on the server as an existing image and neither copied nor
rebuilt; any change that would give another image gives another tag.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

DOCUMENTATION = """
name: app_source_digest
short_description: Digest of the app's build inputs, for the image tag
description:
  - SHA-256 over the source tree (relative paths, contents, executable bits; Python caches
    left out), the build stage's CA bundle and the base image, first 12 hex digits.
options:
  _terms:
    description: The source directory on the controller.
    required: true
  ca_file:
    description: Controller path of the build stage's CA bundle; empty for none.
    default: ""
  base_image:
    description: The image the Dockerfile builds FROM.
    default: ""
"""

RETURN = """
_raw:
  description: One string, 12 hex digits.
"""

SKIPPED_DIRS = frozenset({"__pycache__", ".git", ".pytest_cache", ".ruff_cache"})
SKIPPED_SUFFIXES = (".pyc", ".pyo")


def source_files(root: Path) -> list[Path]:
    """Files a build context gets, sorted, without caches that differ between checkouts."""
    found: list[Path] = []
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(name for name in subdirs if name not in SKIPPED_DIRS)
        found.extend(Path(directory, name) for name in files if not name.endswith(SKIPPED_SUFFIXES))
    return sorted(found)


def source_digest(root: Path, ca_file: str = "", base_image: str = "") -> str:
    digest = hashlib.sha256()
    for path in source_files(root):
        executable = "x" if os.access(path, os.X_OK) else "-"
        digest.update(f"{path.relative_to(root).as_posix()}\0{executable}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    digest.update(b"\0ca\0" + (Path(ca_file).read_bytes() if ca_file else b""))
    digest.update(b"\0base\0" + base_image.encode())
    return digest.hexdigest()[:12]


class LookupModule(LookupBase):
    def run(
        self, terms: list[object], variables: dict[str, object] | None = None, **kwargs: object
    ) -> list[str]:
        self.set_options(var_options=variables, direct=kwargs)
        if len(terms) != 1:
            raise AnsibleLookupError("app_source_digest takes one source directory")
        root = Path(str(terms[0]))
        if not root.is_dir():
            raise AnsibleLookupError(f"app_source_digest: {root} is not a directory")
        return [source_digest(root, self.get_option("ca_file"), self.get_option("base_image"))]
