"""harness/ci_digest.py: the account printed at the end of CI names every failure, counts every
outcome and ranks the slowest tests, from a scenario's JUnit report and Molecule's log."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import ci_digest

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="4">
<testcase classname="tests.test_deploy" name="test_fast[ansible://s]" time="1.5"/>
<testcase classname="tests.test_deploy" name="test_slow[ansible://s]" time="300.25"/>
<testcase classname="tests.test_abuse" name="test_broken[ansible://s]" time="12.0">
  <failure message="AssertionError: assert 405 == 400">long traceback</failure></testcase>
<testcase classname="tests.test_reboot" name="test_setup_broke[ansible://s]" time="20.0">
  <error message="failed on setup with &quot;TimeoutError&quot;">trace</error></testcase>
<testcase classname="tests.test_firewall" name="test_skipped[ansible://s]" time="0.0">
  <skipped message="no route"/></testcase>
</testsuite></testsuites>"""

LOG = (
    "\x1b[36mINFO    \x1b[0m \x1b[32mdefault\x1b[0m ➜ \x1b[33mverify\x1b[0m: Executed: Failed\n"
    "  \x1b[2m│\x1b[0m Playbook run took 0 days, 0 hours, 5 minutes, 7 seconds\n"
    "\x1b[32mdefault\x1b[0m ➜ \x1b[33mconverge\x1b[0m: \x1b[32mExecuted: Successful\x1b[0m\n"
    "\x1b[32mdefault\x1b[0m ➜ \x1b[33mverify\x1b[0m: \x1b[31mExecuted: Failed\x1b[0m"
    " \x1b[2m(Verifier tests failed)\x1b[0m\n"
)


def test_each_outcome_is_read_with_its_message() -> None:
    found = {case.name: case for case in ci_digest.cases(JUNIT)}
    broken = found["test_abuse::test_broken[ansible://s]"]
    assert (broken.outcome, broken.message) == ("failed", "AssertionError: assert 405 == 400")
    assert found["test_reboot::test_setup_broke[ansible://s]"].outcome == "error"
    assert found["test_firewall::test_skipped[ansible://s]"].outcome == "skipped"
    assert found["test_deploy::test_slow[ansible://s]"].seconds == 300.25


def test_steps_are_the_closing_account_only_and_the_playbook_times() -> None:
    assert ci_digest.steps(LOG) == [
        "converge: Successful",
        "verify: Failed (Verifier tests failed)",
        "playbooks took (s): 307",
    ]


@pytest.fixture
def logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(ci_digest, "LOG_DIR", tmp_path)
    return tmp_path


def test_digest_counts_names_failures_and_ranks_the_slowest(logs: Path) -> None:
    (logs / "default-junit.xml").write_text(JUNIT)
    (logs / "default.log").write_text(LOG)
    lines = ci_digest.digest("default", slowest=2)
    assert "  tests: 2 passed, 1 failed, 1 error, 1 skipped in 334 s" in lines
    failure = "  FAILED test_abuse::test_broken[ansible://s]: AssertionError: assert 405 == 400"
    assert failure in lines
    assert lines[-2:] == [
        "     300.2 s  test_deploy::test_slow[ansible://s]",
        "      20.0 s  test_reboot::test_setup_broke[ansible://s]",
    ]


def test_a_scenario_whose_verify_never_ended_says_so(logs: Path) -> None:
    (logs / "vm.log").write_text(LOG)
    assert ci_digest.digest("vm", slowest=15)[-1] == (
        "  no test report: the verify step did not run to its end"
    )
