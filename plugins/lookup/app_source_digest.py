"""The app's image tag: a digest of what a build would use, computed on the controller.

An unchanged source is then found on the server as an existing image and neither copied nor
rebuilt; any change that would give another image gives another tag.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

DOCUMENTATION = """
name: app_source_digest
short_description: Digest of the app's build inputs, for the image tag
description:
  - SHA-256 over the source tree (relative paths, contents, executable bits; Python caches
    and what the tree's .dockerignore leaves out of the build context left out), the build
    stage's CA bundle and the base image, first 12 hex digits.
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


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as Docker reads it: `*` and `?` stay within one path segment,
    `**` crosses any number of them."""
    parts = re.split(r"(\*\*|\*|\?)", pattern.strip().strip("/"))
    wildcards = {"**": ".*", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(wildcards.get(part, re.escape(part)) for part in parts))


def dockerignore(root: Path) -> list[tuple[bool, re.Pattern[str]]]:
    """The tree's .dockerignore rules in order, each (re-includes, pattern)."""
    path = root / ".dockerignore"
    lines = path.read_text().splitlines() if path.is_file() else []
    rules = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return [(rule.startswith("!"), pattern_regex(rule.removeprefix("!"))) for rule in rules]


def ignored(relative: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether Docker leaves the file out: the last rule matching it or a directory above it."""
    segments = relative.split("/")
    candidates = ["/".join(segments[:count]) for count in range(1, len(segments) + 1)]
    left_out = False
    for includes, pattern in rules:
        if any(pattern.fullmatch(candidate) for candidate in candidates):
            left_out = not includes
    return left_out


def source_files(root: Path) -> list[Path]:
    """Files a build context gets, sorted, without caches that differ between checkouts and
    without what .dockerignore leaves out (editing those does not make a new release)."""
    rules = dockerignore(root)
    found: list[Path] = []
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(name for name in subdirs if name not in SKIPPED_DIRS)
        found.extend(Path(directory, name) for name in files if not name.endswith(SKIPPED_SUFFIXES))
    return sorted(path for path in found if not ignored(path.relative_to(root).as_posix(), rules))


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
