"""A short account of Molecule scenarios' runs, printed last so that the tail of a long CI log
says what happened: each step's result, the tests' counts, every failure with its message, and
the slowest tests. It reads each scenario's log and its JUnit report (both in
.cache/molecule-logs, written by harness/molecule-side-by-side.sh and the verifier's options in
.config/molecule/config.yml).

    python -m harness.ci_digest default traefik vm swarm
"""

from __future__ import annotations

import argparse
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from harness.common import CACHE_DIR

LOG_DIR = CACHE_DIR / "molecule-logs"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Molecule's closing account: `<scenario> ➜ <step>: Executed: <result>`.
STEP = re.compile(r"^\S+ ➜ (?P<step>\w+): Executed: (?P<result>.*)$")
PLAYBOOK_TOOK = re.compile(
    r"Playbook run took (\d+) days, (\d+) hours, (\d+) minutes, (\d+) seconds"
)
MESSAGE_CHARS = 400


@dataclass(frozen=True)
class Case:
    name: str
    seconds: float
    outcome: str  # passed, failed, error or skipped
    message: str


def junit_path(scenario: str) -> Path:
    return LOG_DIR / f"{scenario}-junit.xml"


def log_path(scenario: str) -> Path:
    return LOG_DIR / f"{scenario}.log"


def outcome(testcase: ElementTree.Element) -> tuple[str, str]:
    for kind in ("failure", "error", "skipped"):
        found = testcase.find(kind)
        if found is not None:
            message = found.get("message") or (found.text or "").strip()
            return ("failed" if kind == "failure" else kind), " ".join(message.split())
    return "passed", ""


def cases(junit_xml: str) -> list[Case]:
    """Every test case of a JUnit report, with its time (setup, call and teardown)."""
    found = []
    for testcase in ElementTree.fromstring(junit_xml).iter("testcase"):
        kind, message = outcome(testcase)
        module = testcase.get("classname", "").rsplit(".", 1)[-1]
        name = f"{module}::{testcase.get('name', '')}" if module else testcase.get("name", "")
        found.append(Case(name, float(testcase.get("time", 0.0)), kind, message))
    return found


def steps(log: str) -> list[str]:
    """Molecule's result for each step of the scenario, and how long each playbook took."""
    lines = [ANSI.sub("", line).strip(" │") for line in log.splitlines()]
    account = [f"{m['step']}: {m['result']}" for line in lines if (m := STEP.match(line))]
    took = [seconds(m) for line in lines if (m := PLAYBOOK_TOOK.search(line))]
    return [*account, f"playbooks took (s): {', '.join(took)}"] if took else account


def seconds(took: re.Match[str]) -> str:
    days, hours, minutes, secs = (int(part) for part in took.groups())
    return str(((days * 24 + hours) * 60 + minutes) * 60 + secs)


def digest(scenario: str, slowest: int) -> list[str]:
    out = [f"=== {scenario}"]
    log = log_path(scenario)
    out += [f"  {line}" for line in steps(log.read_text(errors="replace"))] if log.exists() else []
    report = junit_path(scenario)
    if not report.exists():
        return [*out, "  no test report: the verify step did not run to its end"]
    found = cases(report.read_text())
    counts = {kind: sum(1 for case in found if case.outcome == kind) for kind in
              ("passed", "failed", "error", "skipped")}  # fmt: skip
    total = sum(case.seconds for case in found)
    out.append("  tests: " + ", ".join(f"{n} {kind}" for kind, n in counts.items())
               + f" in {total:.0f} s")  # fmt: skip
    for case in found:
        if case.outcome in ("failed", "error"):
            out.append(f"  {case.outcome.upper()} {case.name}: {case.message[:MESSAGE_CHARS]}")
    out.append(f"  slowest {slowest}:")
    for case in sorted(found, key=lambda case: case.seconds, reverse=True)[:slowest]:
        out.append(f"  {case.seconds:8.1f} s  {case.name}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="+")
    parser.add_argument("--slowest", type=int, default=15)
    args = parser.parse_args()
    for scenario in args.scenarios:
        print("\n".join(digest(scenario, args.slowest)))


if __name__ == "__main__":
    main()
