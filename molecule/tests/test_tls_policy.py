"""The served TLS meets Mozilla's "intermediate" profile, graded by an outside scanner, and
answers carry the security headers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import testinfra
from conftest import Response, Site

testinfra_hosts = ["ansible://fastapi_servers"]

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "strict-origin-when-cross-origin",
}


@pytest.fixture(scope="module")
def pebble_root_file(
    client: testinfra.host.Host, pebble_root: str, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    path = tmp_path_factory.mktemp("pebble") / "root.pem"
    path.write_text(client.file(pebble_root).content_string)
    return path


def test_sslyze_grades_tls_mozilla_intermediate(site: Site, pebble_root_file: Path) -> None:
    """sslyze scans from this machine; exit code 0 means compliant with the profile."""
    result = subprocess.run(
        [
            sys.executable, "-m", "sslyze", "--mozilla_config=intermediate",
            f"--certinfo_ca_file={pebble_root_file}",
            f"{site.domain}:443{{{site.server_address}}}",
        ],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:]
    # sslyze also exits 0 when it could not connect at all: the verdict line must be there.
    assert "OK - Compliant." in result.stdout, result.stdout[-4000:]


@pytest.mark.parametrize(("name", "value"), SECURITY_HEADERS.items())
def test_security_header_is_sent(https_get: Callable[..., Response], name: str, value: str) -> None:
    assert https_get("/health").headers[name] == value


@pytest.mark.parametrize("path", ["/health", "/no-such-page"])
@pytest.mark.parametrize("header", ["server", "via"])
def test_answers_do_not_name_the_software(
    https_get: Callable[..., Response], path: str, header: str
) -> None:
    assert header not in https_get(path).headers
