"""Shipping the source: the archive holds exactly the files the release's digest covers, with
their modes, and nothing the build context would not get."""

from __future__ import annotations

import tarfile
from pathlib import Path

from ansible_collections.fastapi_deploy.toolkit.plugins.action import source_upload
from ansible_collections.fastapi_deploy.toolkit.plugins.lookup.app_source_digest import (
    source_files,
)


def make_source(root: Path) -> Path:
    (root / "app").mkdir(parents=True)
    (root / "app" / "main.py").write_text("app = None\n")
    (root / "app" / "__pycache__").mkdir()
    (root / "app" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\0")
    (root / "notes.md").write_text("left out by .dockerignore\n")
    (root / ".dockerignore").write_text("*.md\n")
    script = root / "entrypoint.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    return root


def test_the_archive_holds_the_files_the_digest_covers_and_no_other(tmp_path: Path) -> None:
    source = make_source(tmp_path / "source")
    archive = tmp_path / "source.tar"
    names = source_upload.pack(source, archive)
    with tarfile.open(archive) as tar:
        packed = sorted(tar.getnames())
    assert packed == sorted(names)
    assert packed == sorted(path.relative_to(source).as_posix() for path in source_files(source))
    assert "app/main.py" in packed
    assert "notes.md" not in packed
    assert not any("__pycache__" in name for name in packed)


def test_the_archive_keeps_each_file_executable_or_not(tmp_path: Path) -> None:
    source = make_source(tmp_path / "source")
    archive = tmp_path / "source.tar"
    source_upload.pack(source, archive)
    with tarfile.open(archive) as tar:
        assert tar.getmember("entrypoint.sh").mode & 0o111
        assert not tar.getmember("app/main.py").mode & 0o111


def test_an_extra_file_goes_into_the_context_under_its_name_there(tmp_path: Path) -> None:
    source = make_source(tmp_path / "source")
    bundle = tmp_path / "elsewhere" / "ca-certificates.crt"
    bundle.parent.mkdir()
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    archive = tmp_path / "source.tar"
    names = source_upload.pack(source, archive, {"build-ca.pem": bundle})
    with tarfile.open(archive) as tar:
        packed = tar.extractfile("build-ca.pem")
        assert packed is not None and packed.read() == bundle.read_bytes()
    assert "build-ca.pem" in names
