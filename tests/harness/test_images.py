"""The image build is incremental: inputs decide, recorded as a label on each image."""

from __future__ import annotations

import shutil
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


@pytest.fixture
def recorded_builds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """`ensure` against a record of labels in place of Docker (building every image takes many
    minutes; test_second_build_does_nothing_and_says_so runs the real one): the keys it builds,
    each build recording its label, over a copy of the build files that a test may change."""
    shutil.copytree(images.BUILD_FILES_DIR, tmp_path / "images")
    monkeypatch.setattr(images, "BUILD_FILES_DIR", tmp_path / "images")
    monkeypatch.setattr(images, "ARCHIVE_DIR", tmp_path / "archives")
    labels: dict[str, str] = {}
    built: list[str] = []

    def build(image: images.Image, label: str, *parent_tag: str) -> None:
        built.append(image.key)
        labels[image.tag] = label

    monkeypatch.setattr(images, "current_label", labels.get)
    monkeypatch.setattr(images, "build_debian_base", build)
    monkeypatch.setattr(images, "build_from_dockerfile", build)
    monkeypatch.setattr(images, "save_archive", lambda image, label: None)
    images.ensure(images.IMAGES, ALL_KEYS)
    assert sorted(built) == sorted(ALL_KEYS)  # nothing recorded yet: every image is built
    built.clear()
    return built


ALL_KEYS = {image.key for image in images.IMAGES}


def built_on(build_dir: Path) -> set[str]:
    """The images whose label takes in the build directory's files: those built from it, their
    children and the images they are an input of, and theirs."""
    found = {image.key for image in images.IMAGES if image.build_dir == build_dir}
    while True:
        more = {
            image.key
            for image in images.IMAGES
            if image.parent in found or found & set(image.inputs)
        } - found
        if not more:
            return found
        found |= more


def test_unchanged_inputs_rebuild_nothing(recorded_builds: list[str]) -> None:
    images.ensure(images.IMAGES, ALL_KEYS)
    assert recorded_builds == []


# A leaf; one whose build files another image shares (server-trixie); an input of another image.
@pytest.mark.parametrize("key", ["client", "server", "python"])
def test_a_changed_build_file_rebuilds_that_image_and_those_built_on_it(
    recorded_builds: list[str], key: str
) -> None:
    image = next(i for i in images.IMAGES if i.key == key)
    build_file = next(path for path in sorted(image.build_dir.rglob("*")) if path.is_file())
    build_file.write_bytes(build_file.read_bytes() + b"\n# changed\n")
    images.ensure(images.IMAGES, ALL_KEYS)
    assert set(recorded_builds) == built_on(image.build_dir)
    assert len(recorded_builds) == len(set(recorded_builds))


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
