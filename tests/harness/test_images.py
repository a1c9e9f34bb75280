"""The image build is incremental: inputs decide, recorded as a label on each image."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness import images
from harness.common import REPO_DIR, run


def build_all() -> str:
    return run(sys.executable, "-m", "harness.images", cwd=REPO_DIR, timeout=None).stderr


def test_second_build_does_nothing_and_says_so() -> None:
    build_all()
    log = build_all()
    assert "built in" not in log
    assert log.count("is up to date") == len(images.IMAGES)


@pytest.mark.parametrize("image", images.IMAGES, ids=lambda image: image.key)
def test_image_carries_the_hash_of_its_inputs(image: images.Image) -> None:
    by_key = {i.key: i for i in images.IMAGES}

    def expected(link: images.Image) -> str:
        parent = expected(by_key[link.parent]) if link.parent else None
        return images.inputs_hash(link, parent, tuple(expected(by_key[k]) for k in link.inputs))

    assert images.current_label(image.tag) == expected(image)


def test_changed_build_file_changes_the_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "server").mkdir()
    dockerfile = tmp_path / "server" / "Dockerfile"
    dockerfile.write_text("FROM scratch\n")
    monkeypatch.setattr(images, "BUILD_FILES_DIR", tmp_path)
    server = images.Image("server", "unused", "debian")
    before = images.inputs_hash(server, "parent")
    dockerfile.write_text("FROM scratch\nLABEL changed=yes\n")
    assert images.inputs_hash(server, "parent") != before


def test_changed_parent_changes_the_hash() -> None:
    server = next(i for i in images.IMAGES if i.key == "server")
    assert images.inputs_hash(server, "a") != images.inputs_hash(server, "b")


@pytest.mark.parametrize("image", [i for i in images.IMAGES if i.archive], ids=lambda i: i.key)
def test_archive_for_the_server_matches_the_image(image: images.Image) -> None:
    label = images.current_label(image.tag)
    assert label is not None
    archive = images.ARCHIVE_DIR / f"{image.key}.tar"
    assert archive.resolve() == images.archive_path(image, label)
