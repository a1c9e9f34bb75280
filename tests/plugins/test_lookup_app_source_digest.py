"""The app role's image tag: what changes it (anything a build would see) and what does not."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from ansible_collections.fastapi_deploy.toolkit.plugins.lookup import app_source_digest as plugin

DEMO_APP = Path(__file__).resolve().parents[2] / "app"


@pytest.fixture
def source(tmp_path: Path) -> Path:
    copy = tmp_path / "app"
    shutil.copytree(DEMO_APP, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_same_source_gives_same_tag(source: Path, tmp_path: Path) -> None:
    twin = tmp_path / "twin"
    shutil.copytree(source, twin)
    assert plugin.source_digest(source) == plugin.source_digest(twin)


def test_tag_is_twelve_hex_digits(source: Path) -> None:
    assert len(plugin.source_digest(source)) == 12
    int(plugin.source_digest(source), 16)


def test_changed_code_changes_tag(source: Path) -> None:
    before = plugin.source_digest(source)
    with (source / "app" / "main.py").open("a") as main:
        main.write("# changed\n")
    assert plugin.source_digest(source) != before


def test_new_file_changes_tag(source: Path) -> None:
    before = plugin.source_digest(source)
    (source / "app" / "extra.py").write_text("VALUE = 1\n")
    assert plugin.source_digest(source) != before


def test_renamed_file_changes_tag(source: Path) -> None:
    before = plugin.source_digest(source)
    (source / "requirements.txt").rename(source / "requirements-old.txt")
    assert plugin.source_digest(source) != before


def test_executable_bit_changes_tag(source: Path) -> None:
    before = plugin.source_digest(source)
    (source / "app" / "main.py").chmod(0o755)
    assert plugin.source_digest(source) != before


def test_python_caches_do_not_change_tag(source: Path) -> None:
    before = plugin.source_digest(source)
    cache = source / "app" / "__pycache__"
    cache.mkdir()
    (cache / "main.cpython-311.pyc").write_bytes(b"\x00compiled")
    (source / "app" / "stray.pyc").write_bytes(b"\x00")
    assert plugin.source_digest(source) == before


def test_build_ca_changes_tag(source: Path, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n")
    without = plugin.source_digest(source)
    with_ca = plugin.source_digest(source, ca_file=str(ca))
    ca.write_text("-----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----\n")
    assert len({without, with_ca, plugin.source_digest(source, ca_file=str(ca))}) == 3


def test_base_image_changes_tag(source: Path) -> None:
    assert plugin.source_digest(source, base_image="python:3.11-slim") != plugin.source_digest(
        source, base_image="python:3.12-slim"
    )


def test_files_the_dockerignore_leaves_out_do_not_change_the_tag(source: Path) -> None:
    (source / ".dockerignore").write_text("# not the image's\ninventory\n*.md\n")
    (source / "inventory").mkdir()
    before = plugin.source_digest(source)
    (source / "inventory" / "hosts.yml").write_text("web: {}\n")
    (source / "NOTES.md").write_text("notes\n")
    assert plugin.source_digest(source) == before


def test_a_single_star_stays_in_its_directory(source: Path) -> None:
    (source / ".dockerignore").write_text("*.md\n")
    before = plugin.source_digest(source)
    (source / "app" / "README.md").write_text("the image has this one\n")
    assert plugin.source_digest(source) != before


def test_an_exception_brings_a_file_back(source: Path) -> None:
    (source / ".dockerignore").write_text("docs\n!docs/shipped.txt\n")
    (source / "docs").mkdir()
    before = plugin.source_digest(source)
    (source / "docs" / "draft.txt").write_text("left out\n")
    assert plugin.source_digest(source) == before
    (source / "docs" / "shipped.txt").write_text("in the image\n")
    assert plugin.source_digest(source) != before
