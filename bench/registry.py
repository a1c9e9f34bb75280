"""Registry deploy: the same code-only change as bench/deploy.py, but built once off the server
(as CI would), pushed to a registry and pulled by deploy.yml (`app_image`), idle and under load.

The registry is the harness's (harness/images/registry: Distribution v2 over HTTPS with its own
CA and basic auth), run on the sandbox network as registry.example.test, which the server's
Docker engine resolves there. Each version is built on this host from a copy of app/ with one
line changed (the same change deploy.py builds on the server) and pushed with skopeo inside the
registry container. Bytes pulled are what the registry wrote in answer to the server's GETs
(manifests and blobs), read from its own request log: the load running beside a deploy does
not pass through the registry, so it does not count.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import deploy
from bench.common import BenchError, Json, Settings, log, playbook
from harness import sandbox
from harness.common import CACHE_DIR, DEPLOY_PLAYBOOK, app_version, docker, run, wait_until

REGISTRY_IMAGE = "fastapi-deploy/registry:latest"
# Where the server finds it: the name the registry's certificate is for.
REGISTRY_HOST = "registry.example.test"
REGISTRY_ADDRESS = f"{REGISTRY_HOST}:5000"
REPOSITORY = "demo/app"
# sandbox: the harness registry's fixed credentials (harness/images/registry/Dockerfile).
REGISTRY_USER = "deploy"
REGISTRY_PASSWORD = "sandbox-registry-password"
REGISTRY_CA = CACHE_DIR / "registry-ca.pem"
BUILD_BASE_IMAGE = "fastapi-deploy/python:3.11-slim"
BUILD_TAG = "fastapi-deploy/bench-app"
# sandbox: pip in the build stage needs the egress's CA, as harness/images.py gives it.
BUILD_CA_FILE = Path("/etc/ssl/certs/ca-certificates.crt")

# Distribution's line for each answered request: method, status and the bytes it wrote.
RESPONSE_LINE = re.compile(
    r'msg="response completed".*?http\.request\.method=(?P<method>\w+).*?'
    r'http\.request\.uri="(?P<uri>[^"]+)".*?http\.response\.written=(?P<written>\d+)'
)


def registry_container(box: sandbox.Sandbox) -> str:
    return f"{box.network}-registry"


def pulled(log_text: str) -> Json:
    """What the registry served to GETs in a stretch of its log: bytes, blobs and manifests."""
    total = blobs = manifests = 0
    for match in RESPONSE_LINE.finditer(log_text):
        if match["method"] != "GET":
            continue
        total += int(match["written"])
        blobs += "/blobs/" in match["uri"]
        manifests += "/manifests/" in match["uri"]
    return {"bytes": total, "blobs": blobs, "manifests": manifests}


def start_registry(box: sandbox.Sandbox) -> str:
    name = registry_container(box)
    docker("rm", "-f", name, check=False)
    docker(
        "run", "-d", "--name", name, "--network", box.network,
        "--network-alias", REGISTRY_HOST, REGISTRY_IMAGE,
    )  # fmt: skip

    def answers() -> bool:
        probe = ["openssl", "s_client", "-connect", "localhost:5000"]
        return run("docker", "exec", name, *probe, check=False, timeout=10).returncode == 0

    wait_until(answers, 30, interval=0.3)
    return name


def registry_log(name: str, since: float) -> str:
    """The registry's log (both streams) from the time `since` (s since the epoch) on."""
    result = run("docker", "logs", "--since", f"{since:.3f}", name, check=False, timeout=60)
    return result.stdout + result.stderr


def build_and_push(registry: str, source: Path, tag: str) -> Json:
    """The CI half: build the changed app on this host and push it; what that took."""
    if BUILD_CA_FILE.is_file():
        shutil.copy(BUILD_CA_FILE, source / "build-ca.pem")
    image = f"{BUILD_TAG}:{tag}"
    started = time.monotonic()
    run("docker", "build", "--build-arg", f"BASE_IMAGE={BUILD_BASE_IMAGE}", "-t", image,
        str(source), timeout=600)  # fmt: skip
    built = time.monotonic()
    save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    copied = subprocess.run(
        ["docker", "exec", "-i", registry, "sh", "-c", "cat > /tmp/bench-push.tar"],
        stdin=save.stdout, capture_output=True, timeout=300, check=False,
    )  # fmt: skip
    if save.wait(timeout=60) != 0 or copied.returncode != 0:
        raise BenchError(f"could not hand {image} to the registry: {copied.stderr!r}")
    run(
        "docker", "exec", registry, "skopeo", "--insecure-policy", "copy", "--quiet",
        "--dest-creds", f"{REGISTRY_USER}:{REGISTRY_PASSWORD}",
        "--dest-cert-dir", "/etc/docker/certs.d/localhost:5000",
        "docker-archive:/tmp/bench-push.tar", f"docker://localhost:5000/{REPOSITORY}:{tag}",
        timeout=300,
    )  # fmt: skip
    run("docker", "exec", registry, "rm", "-f", "/tmp/bench-push.tar")
    run("docker", "rmi", image, check=False)
    return {
        "tag": tag,
        "build_s": round(built - started, 1),
        "push_s": round(time.monotonic() - built, 1),
    }


def image_vars(tag: str) -> Json:
    return {
        "app_source_dir": "",
        "app_image": f"{REGISTRY_ADDRESS}/{REPOSITORY}:{tag}",
        "app_registry_username": REGISTRY_USER,
        "app_registry_password": REGISTRY_PASSWORD,
        "app_registry_ca_file": str(REGISTRY_CA),
    }


def deploy_image(name: str, tag: str) -> Json:
    return deploy.deploy_version(name, image_vars(tag))


def counted(registry: str, measure: Callable[[], Json]) -> Json:
    """A deploy, with what the registry served during it."""
    since = time.time()
    data = measure()
    data["pulled"] = pulled(registry_log(registry, since))
    return data


def measure_registry(box: sandbox.Sandbox, settings: Settings) -> Json:
    """First deploy from the registry (the whole image), a code-only one idle, then
    settings.deploys under load; then the sandbox goes back to its source build."""
    registry = start_registry(box)
    stamp = time.strftime("%Y%m%d%H%M%S")
    tags = ["first", "idle", *(f"load-{index}" for index in range(settings.deploys))]
    try:
        with tempfile.TemporaryDirectory(prefix="bench-registry-") as directory:
            pushes = [
                build_and_push(registry, app_version(Path(directory), f"v{stamp}-r{tag}"), tag)
                for tag in tags
            ]
        log(f"pushed {', '.join(tags)} to {REGISTRY_ADDRESS}/{REPOSITORY}")
        first = counted(registry, lambda: deploy_image("registry-first", "first"))
        idle = counted(registry, lambda: deploy_image("registry-idle", "idle"))
        samples = [
            counted(
                registry,
                lambda index=index: deploy.deploy_under_load(
                    index, image_vars(f"load-{index}"), settings, name="registry"
                ),
            )
            for index in range(settings.deploys)
        ]
    finally:
        # Back to the inventory's source build, so later sections measure the usual setup.
        playbook(DEPLOY_PLAYBOOK, "registry-restore")
        docker("rm", "-f", registry, check=False)
    return {"pushes": pushes, "first": first, "idle": idle, "samples": samples}
