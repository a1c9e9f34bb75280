#!/usr/bin/env python3
"""Checks the server and tells the operator when something goes wrong, and when it is right
again: the served certificates and the proxy's failures to get one (from its log), free disk space
and inodes, containers that restart in a loop or are not running, each app's health through the
proxy, and the backups. Run by a systemd timer; standard library only (the server's own Python),
no daemon, no open port.

An alert is sent when a check starts failing (firing), again every `repeat_hours` while it
fails, and once when it passes again (resolved). What could not be delivered waits in a spool
and is sent first at the next run. The state between runs is one JSON file.

    fastapi-alerts [--config FILE] [--test | --status]

--status prints each check's state as the last run left it; --test also sends a test alert to
every sender.
"""

from __future__ import annotations

import argparse
import datetime
import fcntl
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG_FILE = Path("/etc/fastapi-deploy/alerts/config.json")
DAY = 86_400
HOUR = 3_600
# A certificate is renewed with a third of its lifetime left (Caddy, Traefik): an alert when a
# sixth is left, and never later than 3 days before it expires.
CERTIFICATE_MIN_LEFT = 3 * DAY
CERTIFICATE_MIN_LEFT_FRACTION = 1 / 6
# The system's mail transfer agent (exim4, postfix, msmtp-mta, ... all install it here).
SENDMAIL = "/usr/sbin/sendmail"


@dataclass(frozen=True)
class Result:
    """One check's outcome: `key` names what was checked (certificate:app.example.com)."""

    key: str
    ok: bool
    summary: str


@dataclass(frozen=True)
class CertificateEvent:
    """What one line of the proxy's log says about a domain's certificate."""

    domain: str
    obtained: bool  # got one (first or renewed); False: could not
    reason: str = ""  # why not, short


@dataclass
class Notification:
    key: str
    status: str  # firing, resolved or test
    summary: str
    server: str
    at: float = field(default_factory=time.time)

    def as_json(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "check": self.key,
            "status": self.status,
            "summary": self.summary,
            "at": datetime.datetime.fromtimestamp(self.at, datetime.UTC).isoformat(),
        }


# Decisions: pure functions of what was observed.


def certificate_result(domain: str, not_before: float, not_after: float, now: float) -> Result:
    left = not_after - now
    threshold = max(CERTIFICATE_MIN_LEFT, (not_after - not_before) * CERTIFICATE_MIN_LEFT_FRACTION)
    days = left / DAY
    return Result(
        f"certificate:{domain}",
        left > threshold,
        f"the certificate of {domain} expires in {days:.1f} days"
        if left > 0
        else f"the certificate of {domain} expired {-days:.1f} days ago",
    )


def disk_result(
    path: str, free_fraction: float, free_inodes_fraction: float, minimum: float
) -> Result:
    return Result(
        f"disk:{path}",
        free_fraction >= minimum and free_inodes_fraction >= minimum,
        f"{path}: {free_fraction:.0%} of the space and {free_inodes_fraction:.0%} of the inodes "
        f"free (alert under {minimum:.0%})",
    )


def restart_results(
    before: dict[str, int], now: dict[str, int], running: dict[str, bool], limit: int
) -> list[Result]:
    """Containers restarted more than `limit` times since the last run (the increase, not the
    lifetime total: a container restarted once a month ago is fine), or not running."""
    results = []
    for name in sorted(now):
        restarts = now[name] - before.get(name, now[name])
        if restarts < 0:  # a new container of the same name
            restarts = now[name]
        ok = running.get(name, False) and restarts <= limit
        state = "running" if running.get(name, False) else "NOT running"
        results.append(
            Result(
                f"container:{name}",
                ok,
                f"{name}: {state}, {restarts} restarts since the last check",
            )
        )
    return results


def age_result(name: str, last: float | None, now: float, max_age_hours: float) -> Result:
    if last is None:
        return Result(f"backup:{name}", False, f"{name}: none found")
    hours = (now - last) / HOUR
    return Result(
        f"backup:{name}",
        hours <= max_age_hours,
        f"{name}: {hours:.1f} h old (limit {max_age_hours:g} h)",
    )


def transitions(
    state: dict[str, dict[str, Any]],
    results: Iterable[Result],
    now: float,
    repeat_seconds: float,
    server: str,
) -> tuple[dict[str, dict[str, Any]], list[Notification]]:
    """The next state and what to send: a check that starts failing fires; one still failing
    fires again every `repeat_seconds`; one passing again is resolved. A check no longer made
    (an app removed) leaves the state without a word."""
    next_state: dict[str, dict[str, Any]] = {}
    notifications = []
    for result in results:
        before = state.get(result.key, {"firing": False, "since": now, "sent": 0.0})
        entry = dict(before)
        if not result.ok and not before["firing"]:
            entry = {"firing": True, "since": now, "sent": now}
            notifications.append(Notification(result.key, "firing", result.summary, server, now))
        elif not result.ok and now - float(before["sent"]) >= repeat_seconds:
            entry["sent"] = now
            notifications.append(Notification(result.key, "firing", result.summary, server, now))
        elif result.ok and before["firing"]:
            entry = {"firing": False, "since": now, "sent": before["sent"]}
            notifications.append(Notification(result.key, "resolved", result.summary, server, now))
        entry["summary"] = result.summary
        next_state[result.key] = entry
    return next_state, notifications


# The proxy's log: what it says about getting certificates.

# Traefik colors its default log format even when it does not write to a terminal.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
# A Go-quoted field value ("..." with backslash escapes), or one without spaces.
TRAEFIK_ERROR = re.compile(r'\berror=("(?:[^"\\]|\\.)*"|\S+)')
TRAEFIK_DOMAINS = re.compile(r'\bdomains=(\[[^\]]*\]|"(?:[^"\\]|\\.)*"|\S+)')
# Its renewal errors name the domain as Go prints a struct: {a.test [b.test]} (%v, the renewal
# failed) or {Main:a.test SANs:[b.test]} (%+v, no ACME client to try with).
TRAEFIK_RENEWAL_FAILED = re.compile(
    r"Error renewing ACME certificate: \{(?:Main:)?(\S*) (?:SANs:)?\[([^\]]*)\]\}"
)
ACME_PROBLEM = re.compile(r"urn:ietf:params:acme:error:(\w+)(?:\s*(?:::|-)\s*(.*))?")
REASON_MAX = 160


def short_reason(error: str) -> str:
    """The part of an ACME client's error an operator acts on: the ACME problem (rateLimited,
    unauthorized ...) and its detail when the CA answered, else the innermost cause (the errors
    are wrapped as "doing x: doing y: connection refused")."""
    problem = ACME_PROBLEM.search(error)
    if problem:
        reason = f"{problem[1]}: {problem[2]}" if problem[2] else problem[1]
    else:
        reason = error.rsplit(": ", 1)[-1].strip() or error
    return reason if len(reason) <= REASON_MAX else reason[: REASON_MAX - 3] + "..."


def go_unquote(value: str) -> str:
    if not value.startswith('"'):
        return value
    try:
        return str(json.loads(value))  # Go's quoting of log text is JSON's, but for \x escapes
    except ValueError:
        return value[1:-1]


def caddy_events(line: str) -> list[CertificateEvent]:
    """Caddy (certmagic) logs one JSON object a line: each attempt that failed and each success,
    for a first certificate (logger tls.obtain) and a renewal (tls.renew), naming the domain in
    "identifier". Its "will retry" and "job failed" lines repeat the failure without the
    domain's own field (and "job failed" also comes at a shutdown, context canceled)."""
    try:
        entry = json.loads(line)
    except ValueError:
        return []
    if not isinstance(entry, dict) or entry.get("logger") not in ("tls.obtain", "tls.renew"):
        return []
    domain = str(entry.get("identifier", "")).lower()
    message = entry.get("msg")
    if not domain:
        return []
    if message == "could not get certificate from issuer":
        return [CertificateEvent(domain, False, short_reason(str(entry.get("error", ""))))]
    if message in ("certificate obtained successfully", "certificate renewed successfully"):
        return [CertificateEvent(domain, True)]
    return []


def traefik_events(line: str) -> list[CertificateEvent]:
    """Traefik at level INFO, its default (console) format: a first certificate it could not get
    is an error naming domains=[...]; a renewal, an error naming the domains as a Go struct.
    Its own "Certificates obtained" is a DEBUG line, but its ACME library (lego) logs "Server
    responded with a certificate." at INFO for a first certificate and a renewal alike, with
    domains="a.test, b.test" (or domains=a.test)."""
    text = ANSI_ESCAPE.sub("", line)
    error = TRAEFIK_ERROR.search(text)
    reason = short_reason(go_unquote(error[1])) if error else "no reason logged"
    # The error's text could hold anything: the fields are looked for around it.
    fields = text[: error.start()] + text[error.end() :] if error else text
    renewal = TRAEFIK_RENEWAL_FAILED.search(fields)
    if renewal:
        domains = [renewal[1], *renewal[2].split()]
        return [CertificateEvent(d.lower(), False, reason) for d in domains if d]
    obtained = "Server responded with a certificate." in fields
    if not obtained and "Unable to obtain ACME certificate for domain" not in fields:
        return []
    listed = TRAEFIK_DOMAINS.search(fields)
    if not listed:
        return []
    value = listed[1]
    if value.startswith("["):
        try:
            domains = [str(d) for d in json.loads(value)]
        except ValueError:
            return []
    else:
        domains = go_unquote(value).split(",")
    return [
        CertificateEvent(d.strip().lower(), obtained, "" if obtained else reason)
        for d in domains
        if d.strip()
    ]


def certificate_events(engine: str, line: str) -> list[CertificateEvent]:
    """What a line of the proxy's log says about certificates: for each domain it names,
    obtained or failed (and why); nothing for every other line."""
    if engine == "caddy":
        return caddy_events(line)
    if engine == "traefik":
        return traefik_events(line)
    return []


def renewal_results(
    state: dict[str, dict[str, Any]],
    events: Iterable[CertificateEvent],
    domains: Collection[str],
) -> tuple[dict[str, dict[str, Any]], list[Result]]:
    """The proxy's certificate failures folded, in the log's order, over the previous state: a
    domain fails from a line saying the proxy could not get its certificate until a later one
    says it got one (both engines log the success at their level). Only the domains whose
    certificates are checked count: the proxy serves no other (the engine-switch candidate is
    another container, with its own log), and a domain that leaves the inventory must take its
    check along, or a failure nothing will resolve would be repeated forever. A domain that
    failed once keeps its check, passing, so that the resolution is sent and a new failure
    fires again; the state holds nothing else (a domain never failed has no check)."""
    wanted = {domain.lower() for domain in domains}
    next_state = {domain: dict(entry) for domain, entry in state.items() if domain in wanted}
    for event in events:
        if event.domain not in wanted:
            continue
        if not event.obtained:
            next_state[event.domain] = {"failing": True, "reason": event.reason}
        elif event.domain in next_state:
            next_state[event.domain] = {"failing": False, "reason": ""}
    results = [
        Result(
            f"renewal:{domain}",
            not entry["failing"],
            f"{domain}: the proxy could not get a certificate ({entry['reason']})"
            if entry["failing"]
            else f"{domain}: the proxy got a certificate",
        )
        for domain, entry in sorted(next_state.items())
    ]
    return next_state, results


# Observations: the server as it is.


def served_certificate(
    domain: str, address: str, port: int, cafile: str | None = None, timeout: float = 10
) -> tuple[float, float]:
    """(not before, not after) of the certificate served for `domain` at `address`, through a
    real TLS handshake that verifies it (against the system's CAs, or `cafile`'s)."""
    context = ssl.create_default_context(cafile=cafile)
    with (
        socket.create_connection((address, port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=domain) as tls,
    ):
        certificate = tls.getpeercert()
    return (
        ssl.cert_time_to_seconds(str(certificate["notBefore"])),
        ssl.cert_time_to_seconds(str(certificate["notAfter"])),
    )


def free_fractions(path: str) -> tuple[float, float]:
    """Free space and inodes of the file system holding `path` (its nearest existing parent's)."""
    while not os.path.exists(path) and path not in ("", "/"):
        path = os.path.dirname(path)
    usage = shutil.disk_usage(path)
    stats = os.statvfs(path)
    inodes = stats.f_favail / stats.f_files if stats.f_files else 1.0
    return usage.free / usage.total, inodes


def watched_containers(
    inspected: list[dict[str, Any]], live: set[str]
) -> tuple[dict[str, int], dict[str, bool]]:
    """Restart counts and running state of the containers that should run: those Docker restarts
    by itself, but of an app's containers only the live releases' and their processes' (the
    releases kept for a rollback are stopped on purpose)."""
    counts, running = {}, {}
    for container in inspected:
        if container["HostConfig"]["RestartPolicy"]["Name"] in ("", "no"):
            continue  # one-off containers (jobs, runs, pre-start) are not expected to run
        name = container["Name"].lstrip("/")
        labels = container.get("Config", {}).get("Labels") or {}
        is_running = bool(container["State"]["Running"])
        release = labels.get("fastapi-deploy.process-of", name)
        if "fastapi-deploy.app" in labels and release not in live and not is_running:
            continue  # a kept release, or a process of one
        counts[name] = int(container["RestartCount"])
        running[name] = is_running
    return counts, running


def live_releases(releases_dir: str) -> set[str]:
    """The live release container of each app, from the apps' release histories."""
    live = set()
    for path in Path(releases_dir).glob("**/releases.json"):
        try:
            live.add(str(json.loads(path.read_text()).get("live", "")))
        except (OSError, ValueError):
            continue
    return live - {""}


def containers(releases_dir: str) -> tuple[dict[str, int], dict[str, bool]]:
    names = run(["docker", "ps", "--all", "--format", "{{.Names}}"]).split()
    if not names:
        return {}, {}
    inspected = json.loads(run(["docker", "inspect", *names]))
    return watched_containers(inspected, live_releases(releases_dir))


def health_result(
    app: str, url: str, address: str, cafile: str | None = None, timeout: float = 10
) -> Result:
    """The app's health check as a client sees it: through the proxy, over verified HTTPS, the
    name resolved to the server's own address."""
    parsed = urllib.parse.urlsplit(url)
    port = parsed.port or 443
    try:
        context = ssl.create_default_context(cafile=cafile)
        with (
            socket.create_connection((address, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=parsed.hostname) as tls,
        ):
            path = parsed.path or "/"
            tls.sendall(
                f"GET {path} HTTP/1.1\r\nHost: {parsed.hostname}\r\nConnection: close\r\n"
                "User-Agent: fastapi-alerts\r\n\r\n".encode()
            )
            status_line = tls.recv(64).split(b"\r\n", 1)[0].decode(errors="replace")
        ok = status_line.split()[1:2] == ["200"]
        return Result(f"health:{app}", ok, f"{app}: {url} answered {status_line or 'nothing'}")
    except OSError as error:
        return Result(f"health:{app}", False, f"{app}: {url} did not answer ({error})")


def failed_unit_results(units: Iterable[str]) -> list[Result]:
    results = []
    for unit in units:
        state = subprocess.run(
            ["systemctl", "is-failed", unit], capture_output=True, text=True, check=False
        ).stdout.strip()
        results.append(Result(f"unit:{unit}", state != "failed", f"{unit}: {state or 'unknown'}"))
    return results


def newest_mtime(directory: str) -> float | None:
    try:
        times = [entry.stat().st_mtime for entry in os.scandir(directory) if entry.is_file()]
    except FileNotFoundError:
        return None
    return max(times, default=None)


def file_mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime
    except FileNotFoundError:
        return None


def proxy_log(container: str, since: float) -> list[str]:
    """The lines about certificates in the proxy container's log since `since` (a Unix time),
    its stdout and stderr in one stream: Caddy writes its log to stderr, Traefik to stdout.
    Read as a stream and only those lines kept: a busy proxy's access log between two runs
    can be large. Whole seconds: a line read again changes nothing (the last line for a domain
    decides)."""
    command = ["docker", "logs", "--since", str(int(since)), container]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    ) as process:
        # Every line either engine logs about getting a certificate names one.
        lines = [line.rstrip("\n") for line in process.stdout or () if "certificate" in line]
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, command)
    return lines


def run(argv: list[str]) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


# Delivery: every sender, what fails waits in the spool.


def webhook(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST")
    request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    with urllib.request.urlopen(request, timeout=20) as response:
        response.read()


def ntfy(url: str, token: str, notification: Notification) -> None:
    request = urllib.request.Request(url, data=notification.summary.encode(), method="POST")
    title = f"{notification.server}: {notification.status} {notification.key}"
    request.add_header("Title", title)
    request.add_header("Priority", "high" if notification.status == "firing" else "default")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=20) as response:
        response.read()


def email(to: str, notification: Notification) -> None:
    subject = f"[{notification.server}] {notification.status}: {notification.key}"
    message = f"To: {to}\nSubject: {subject}\n\n{notification.summary}\n"
    subprocess.run([SENDMAIL, "-t"], input=message, text=True, check=True)


def sender(config: dict[str, Any]) -> Callable[[Notification], None]:
    kind = config["kind"]
    if kind == "webhook":
        return lambda n: webhook(config["url"], n.as_json(), config.get("headers"))
    if kind == "ntfy":
        return lambda n: ntfy(config["url"], config.get("token", ""), n)
    if kind == "email":
        return lambda n: email(config["to"], n)
    raise ValueError(f"unknown sender kind {kind!r}")


def spool_path(spool: Path, notification: Notification, index: int, sender_index: int) -> Path:
    """Spooled files sort in the order the alerts were raised."""
    return spool / f"{notification.at:017.6f}-{index:03d}-{sender_index}.json"


def deliver(
    notifications: list[Notification], senders: list[dict[str, Any]], spool: Path
) -> list[str]:
    """Sends what the spool holds, then the new notifications, to every sender; what cannot be
    sent goes (back) into the spool. Returns the failures' descriptions, never a secret."""
    spool.mkdir(parents=True, exist_ok=True)
    failures = []
    for waiting in sorted(spool.glob("*.json")):
        queued = json.loads(waiting.read_text())
        try:
            sender(senders[queued["sender"]])(Notification(**queued["notification"]))
            waiting.unlink()
        except (OSError, subprocess.CalledProcessError, IndexError) as error:
            failures.append(f"still undelivered {waiting.name}: {type(error).__name__}")
    for index, notification in enumerate(notifications):
        for sender_index, config in enumerate(senders):
            try:
                sender(config)(notification)
            except (OSError, subprocess.CalledProcessError) as error:
                failures.append(f"{config['kind']} sender: {type(error).__name__}")
                path = spool_path(spool, notification, index, sender_index)
                body = {"sender": sender_index, "notification": vars(notification)}
                path.write_text(json.dumps(body))
    return failures


# The run.


def observe_renewals(
    config: dict[str, Any], state: dict[str, Any], now: float
) -> tuple[list[Result], dict[str, Any]]:
    """The proxy's certificate failures from its log since the last run (the first run looks
    one repeat window back), and the state the next run starts from. Docker not answering
    changes nothing: the same results, the same log read again next time (the docker check
    reports docker)."""
    previous = state.get("renewal", {})
    domains = [certificate["domain"] for certificate in config.get("certificates", [])]
    proxy = config.get("proxy", {})
    since = float(previous.get("since", now - float(config.get("repeat_hours", 24)) * HOUR))
    try:
        lines = proxy_log(str(proxy.get("container", "proxy")), since)
    except (OSError, subprocess.CalledProcessError):
        lines, now = [], since
    engine = str(proxy.get("engine", "caddy"))
    events = [event for line in lines for event in certificate_events(engine, line)]
    domains_state, results = renewal_results(previous.get("domains", {}), events, domains)
    return results, {"since": now, "domains": domains_state}


def observe(
    config: dict[str, Any], state: dict[str, Any], now: float
) -> tuple[list[Result], dict[str, int], dict[str, Any]]:
    results: list[Result] = []
    for certificate in config.get("certificates", []):
        domain = certificate["domain"]
        try:
            not_before, not_after = served_certificate(
                domain,
                certificate.get("address", "127.0.0.1"),
                int(certificate.get("port", 443)),
                config.get("cafile"),
            )
            results.append(certificate_result(domain, not_before, not_after, now))
        except (OSError, ssl.SSLError, ValueError) as error:
            results.append(
                Result(
                    f"certificate:{domain}",
                    False,
                    f"{domain}: no valid certificate served ({error})",
                )
            )
    for disk in config.get("disks", []):
        space, inodes = free_fractions(disk["path"])
        results.append(disk_result(disk["path"], space, inodes, float(disk.get("min_free", 0.1))))
    try:
        counts, running = containers(config.get("releases_dir", "/var/lib/fastapi-app"))
        results.append(Result("docker", True, "docker: answering"))
    except (OSError, subprocess.CalledProcessError, ValueError) as error:
        counts, running = {}, {}
        results.append(Result("docker", False, f"docker: not answering ({error})"))
    results += restart_results(
        state.get("restart_counts", {}), counts, running, int(config.get("restart_limit", 3))
    )
    for check in config.get("health", []):
        results.append(
            health_result(
                check["app"], check["url"], check.get("address", "127.0.0.1"), config.get("cafile")
            )
        )
    for backup in config.get("backups", []):
        last = (
            newest_mtime(backup["path"])
            if backup.get("directory", True)
            else file_mtime(backup["path"])
        )
        max_age = float(backup["max_age_hours"])
        created = file_mtime(backup["path"]) if backup.get("directory", True) else None
        if last is None and created is not None and now - created <= max_age * HOUR:
            # A new server is given the limit for its first backup.
            results.append(Result(f"backup:{backup['name']}", True, f"{backup['name']}: none yet"))
            continue
        results.append(age_result(backup["name"], last, now, max_age))
    results += failed_unit_results(config.get("units", []))
    renewal_checks, renewal = observe_renewals(config, state, now)
    return results + renewal_checks, counts, renewal


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=CONFIG_FILE)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--test", action="store_true", help="send a test alert to every sender")
    mode.add_argument("--status", action="store_true", help="print each check's last state")
    args = parser.parse_args(argv)
    config = json.loads(args.config.read_text())
    lock = Path(config["state_file"]).with_suffix(".lock").open("a")
    fcntl.flock(lock, fcntl.LOCK_EX)  # one run at a time (the timer's, the test playbook's)
    now = time.time()
    state_file = Path(config["state_file"])
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    server = config.get("server", socket.gethostname())
    if args.test or args.status:
        test = Notification("test", "test", "a test alert: delivery works", server, now)
        notifications = [test] if args.test else []
        results: list[Result] = []
        for key, entry in sorted(state.get("checks", {}).items()):
            since = datetime.datetime.fromtimestamp(float(entry["since"]), datetime.UTC)
            summary = f"{entry.get('summary', '')} (since {since:%Y-%m-%d %H:%M} UTC)"
            results.append(Result(key, not entry["firing"], summary))
    else:
        results, counts, renewal = observe(config, state, now)
        checks, notifications = transitions(
            state.get("checks", {}),
            results,
            now,
            float(config.get("repeat_hours", 24)) * HOUR,
            server,
        )
        state = {"checks": checks, "restart_counts": counts, "renewal": renewal}
    if (args.test or args.status) and not results:
        print("no check has run yet")
    failures = (
        []
        if args.status
        else deliver(notifications, config.get("senders", []), Path(config["spool_dir"]))
    )
    if not (args.test or args.status):
        state_file.parent.mkdir(parents=True, exist_ok=True)
        partial = state_file.with_suffix(".partial")
        partial.write_text(json.dumps(state, indent=1))
        partial.replace(state_file)
    for result in results:
        print(f"{'ok' if result.ok else 'FAILING'}: {result.key}: {result.summary}")
    for failure in failures:
        print(f"alerts: {failure}", file=sys.stderr)
    heartbeat = config.get("heartbeat_url")
    if heartbeat and not (args.test or args.status):
        try:
            urllib.request.urlopen(heartbeat, timeout=20).read()
        except OSError as error:
            print(f"alerts: heartbeat: {type(error).__name__}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
