"""Alerts: what one run of the alerts checker costs the server (roles/alerts), run as its timer
runs it: wall time and peak memory per run, and the checks one run makes.

The sandbox sends no alerts: this section turns them on for its own measurement with the default
Molecule scenario's settings (molecule/default/host_vars/fd-default-server/alerts.yml: one
webhook sender, Pebble's root as alerts_cafile), the sender's URL being a receiver the section
starts in the bench's client on the sandbox network (a standard-library HTTP server that keeps
what it gets), Pebble's current root put where alerts_cafile points. playbooks/database.yml
installs the checker and its timer; the timer is stopped (the section starts each run itself),
then `systemctl start fastapi-alerts.service` runs the oneshot checker N times. Each run's wall
time is systemd's, from the main process' start to its exit (ExecMainStart/ExitTimestamp-
Monotonic), its CPU time systemd's CPUUsageNSec, its peak memory systemd's MemoryPeak (the
service's cgroup: the checker and the commands it runs) where this systemd has it; where it has
not (Debian 12's 252), the checker runs as many times again under a short Python script on the
server, whose getrusage gives the checker's own peak resident set (RUSAGE_SELF), the largest of
the commands it waited for (RUSAGE_CHILDREN) and their CPU time. The checks one run made are the
lines of `fastapi-alerts --status`; a test alert (`--test`) must reach the receiver. At the end
the alerts are turned off again (playbooks/database.yml with alerts_enabled false takes the
checker, its units and its state away), Pebble's root is removed and the receiver stopped.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
import time

import yaml

from bench.common import BenchError, Json, Settings, log, on_server, playbook
from bench.load import CLIENT
from bench.stats import Spread
from harness import alerts_receiver, sandbox
from harness.common import REPO_DIR, ROLES_DIR, docker, run, wait_until

DATABASE_PLAYBOOK = "playbooks/database.yml"
# The default scenario's alerts: the settings the bench turns on, written down once.
SCENARIO_ALERTS_VARS = REPO_DIR / "molecule/default/host_vars/fd-default-server/alerts.yml"
# What `systemctl show` is asked for after each run. MemoryPeak is newer than some systemds
# (Debian 12's 252 has none): an unknown property is left out of the answer.
SHOW_PROPERTIES = (
    "ExecMainStartTimestampMonotonic",
    "ExecMainExitTimestampMonotonic",
    "ExecMainStatus",
    "Result",
    "CPUUsageNSec",
    "MemoryPeak",
)
# The fallback for the peak memory: the checker run by a Python one-liner on the server, in its
# own process (runpy, its output kept apart), then getrusage: RUSAGE_SELF's ru_maxrss is the
# checker's own peak resident set, RUSAGE_CHILDREN's the largest of the commands it waited for
# (docker, systemctl), in KiB on Linux; with their CPU time. The last line is that, as JSON.
RUSAGE_ONE_LINER = """
import contextlib, io, json, resource, runpy, sys
sys.argv = sys.argv[1:]
code = 0
with contextlib.redirect_stdout(io.StringIO()):
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit as exit:
        code = exit.code or 0
me, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
print(json.dumps({"exit_status": code, "self_kib": me.ru_maxrss, "children_kib": children.ru_maxrss,
                  "cpu_s": me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime}))
"""


# Settings ------------------------------------------------------------------------------------


def scenario_vars() -> Json:
    return dict(yaml.safe_load(SCENARIO_ALERTS_VARS.read_text()))


def alerts_vars(scenario: Json, receiver_url: str) -> Json:
    """The extra vars that turn the alerts on for the sandbox: the scenario's, its one webhook
    sender pointing at the bench's receiver instead of the scenario's client."""
    senders = [{**sender, "url": receiver_url} for sender in scenario["alerts_senders"]]
    if [sender["kind"] for sender in senders] != ["webhook"]:
        raise BenchError(f"{SCENARIO_ALERTS_VARS}: the bench expects one webhook sender")
    return {
        "alerts_enabled": True,
        "alerts_senders": senders,
        "alerts_cafile": scenario["alerts_cafile"],
    }


def role_var(name: str) -> str:
    """A name or path the alerts role sets in its vars/main.yml."""
    role_vars = yaml.safe_load((ROLES_DIR / "alerts/vars/main.yml").read_text())
    return str(role_vars[name]).replace("{{ alerts_config_dir }}", role_vars["alerts_config_dir"])


def receiver_url(address: str, subnet: str) -> str:
    """The receiver's URL at an address on the sandbox network (and nowhere else)."""
    if ipaddress.ip_address(address) not in ipaddress.ip_network(subnet):
        raise BenchError(f"the receiver's address {address} is not on the sandbox's {subnet}")
    return f"http://{address}:{alerts_receiver.PORT}/alerts"


# Parsing -------------------------------------------------------------------------------------


def parse_show(output: str) -> dict[str, str]:
    """`systemctl show -p A -p B` output (A=value lines) as a dictionary."""
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


def number(value: str | None) -> int | None:
    """A systemd number, None when it is unset ([not set], infinity, empty, absent)."""
    if value is None or not value.isdigit():
        return None
    return int(value)


def run_sample(properties: dict[str, str]) -> Json:
    """One run's figures from its `systemctl show`: wall time from the main process' start to
    its exit, CPU time, peak memory (None where this systemd has no MemoryPeak), and how it
    ended."""
    started = number(properties.get("ExecMainStartTimestampMonotonic"))
    exited = number(properties.get("ExecMainExitTimestampMonotonic"))
    if not started or not exited or exited < started:
        raise BenchError(f"systemd did not record the run's start and exit: {properties}")
    cpu = number(properties.get("CPUUsageNSec"))
    return {
        "wall_s": round((exited - started) / 1e6, 3),
        "cpu_s": None if cpu is None else round(cpu / 1e9, 3),
        "memory_peak_bytes": number(properties.get("MemoryPeak")),
        "result": properties.get("Result", ""),
        "exit_status": number(properties.get("ExecMainStatus")),
    }


def parse_rusage(output: str) -> Json:
    """The one-liner's last line: the checker's exit status, its own peak resident set and the
    largest of its commands' in bytes, the larger of the two (what RUSAGE_CHILDREN of a parent
    running the checker as a child would say), and the CPU time of the checker and its commands."""
    usage = json.loads(output.strip().splitlines()[-1])
    own, commands = usage["self_kib"] * 1024, usage["children_kib"] * 1024
    return {
        "exit_status": int(usage["exit_status"]),
        "checker_bytes": own,
        "largest_command_bytes": commands,
        "max_rss_bytes": max(own, commands),
        "cpu_s": round(float(usage["cpu_s"]), 3),
    }


def count_checks(status: str) -> tuple[int, int]:
    """(checks, failing) from `fastapi-alerts --status`: one line per check, `ok: ...` or
    `FAILING: ...`."""
    lines = [line for line in status.splitlines() if line.startswith(("ok: ", "FAILING: "))]
    return len(lines), sum(line.startswith("FAILING: ") for line in lines)


# The receiver --------------------------------------------------------------------------------


def client_address(box: sandbox.Sandbox) -> str:
    template = f'{{{{(index .NetworkSettings.Networks "{box.network}").IPAddress}}}}'
    return docker("inspect", "--format", template, CLIENT).strip()


def received() -> int:
    return len(alerts_receiver.received(CLIENT))


# On the server -------------------------------------------------------------------------------


def one_run(unit: str) -> Json:
    """The checker once, as its timer starts it; systemd's record of that run."""
    started = time.monotonic()
    on_server("systemctl", "start", f"{unit}.service", timeout=300)
    around = time.monotonic() - started
    show = on_server("systemctl", "show", f"{unit}.service", *(f"-p{p}" for p in SHOW_PROPERTIES))
    return {**run_sample(parse_show(show.stdout)), "start_s": round(around, 3)}


def rusage_run() -> Json:
    """The checker once more, under the one-liner: its peak resident sets and CPU time."""
    command = [role_var("alerts_checker"), "--config", role_var("alerts_config_file")]
    return parse_rusage(on_server("python3", "-c", RUSAGE_ONE_LINER, *command, timeout=300).stdout)


def rusage_memory(runs: list[Json]) -> Json:
    """The peak memory of the runs under the one-liner: the larger of the checker's and its
    commands' per run, and each of them."""
    return {
        "source": "getrusage ru_maxrss",
        **spread_json([run["max_rss_bytes"] for run in runs]),
        "checker": spread_json([run["checker_bytes"] for run in runs]),
        "largest_command": spread_json([run["largest_command_bytes"] for run in runs]),
        "cpu_s": spread_json([run["cpu_s"] for run in runs]),
        "failed_runs": sum(run["exit_status"] != 0 for run in runs),
    }


def unit_state(box: sandbox.Sandbox, unit: str) -> str:
    """`systemctl is-enabled` of the timer (what stays after the section)."""
    result = run(
        "docker", "exec", box.server, "systemctl", "is-enabled", f"{unit}.timer", check=False
    )  # fmt: skip
    return result.stdout.strip() or "absent"


def spread_json(values: list[float]) -> Json:
    return Spread.of(values).as_json()


def checker(*args: str) -> str:
    """The checker by hand (its --status, --test), with the role's configuration."""
    command = [role_var("alerts_checker"), "--config", role_var("alerts_config_file"), *args]
    return on_server(*command, timeout=120).stdout


def test_alert_received() -> bool:
    """The checker's test alert reaches the receiver: the webhook the runs would alert through
    works (a healthy sandbox gives the runs nothing to send)."""
    before = received()
    try:
        checker("--test")
        wait_until(lambda: received() > before, 15, interval=0.2)
    except BenchError:
        return False
    return True


def measure_alerts(box: sandbox.Sandbox, settings: Settings) -> Json:
    scenario = scenario_vars()
    unit = role_var("alerts_unit")
    cafile = str(scenario["alerts_cafile"])
    result: Json = {}
    try:
        alerts_receiver.start(CLIENT)
        url = receiver_url(client_address(box), box.subnet)
        extra = alerts_vars(scenario, url)
        log(f"receiver at {url}; Pebble's root to {cafile} on the server")
        on_server(
            "sh", "-c", f"cat > {shlex.quote(cafile)}", stdin=sandbox.PEBBLE_ROOT.read_text()
        )  # fmt: skip
        applied = playbook(DATABASE_PLAYBOOK, "alerts-apply", extra)
        # Each run is the section's: the timer would start one of its own every 5 minutes.
        on_server("systemctl", "stop", f"{unit}.timer")
        samples = []
        for index in range(settings.alerts_runs):
            samples.append(one_run(unit))
            log(f"run {index + 1}/{settings.alerts_runs}: {samples[-1]}")
        alerts_sent = received()
        status = checker("--status")
        checks, failing = count_checks(status)
        peaks = [s["memory_peak_bytes"] for s in samples if s["memory_peak_bytes"] is not None]
        memory: Json
        if len(peaks) == len(samples):
            memory = {"source": "systemd MemoryPeak", **spread_json(peaks)}
        else:
            # As many runs again, each under the one-liner: a median and a max here too.
            log(f"no MemoryPeak from this systemd: {settings.alerts_runs} runs under getrusage")
            memory = rusage_memory([rusage_run() for _ in range(settings.alerts_runs)])
        cpu = [s["cpu_s"] for s in samples if s["cpu_s"] is not None]
        result = {
            "systemd": on_server("systemctl", "--version").stdout.splitlines()[0],
            "runs": len(samples),
            "apply": applied.summary(),
            "wall_s": spread_json([s["wall_s"] for s in samples]),
            "start_s": spread_json([s["start_s"] for s in samples]),
            "cpu_s": spread_json(cpu) if len(cpu) == len(samples) else None,
            "memory_peak_bytes": memory,
            "checks": checks,
            "failing": failing,
            "status": status.splitlines(),
            "failed_runs": sum(s["result"] != "success" for s in samples),
            "alerts_received": alerts_sent,
            "test_alert_received": test_alert_received(),
            "samples": samples,
        }
    finally:
        playbook(DATABASE_PLAYBOOK, "alerts-off", {"alerts_enabled": False})
        on_server("rm", "-f", cafile)
        alerts_receiver.remove(CLIENT)
    # Turned off, the alerts leave no timer behind.
    result["timer_after"] = unit_state(box, unit)
    return result
