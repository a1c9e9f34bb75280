"""plugins/modules/config_files.py: several files written in one call, each only where it
differs, replaced whole."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.fastapi_deploy.toolkit.plugins.modules import config_files


def test_a_missing_file_has_no_content(tmp_path: Path) -> None:
    assert config_files.current_content(str(tmp_path / "absent.conf")) is None


def test_a_file_is_replaced_whole_with_its_mode_and_nothing_left_beside_it(tmp_path: Path) -> None:
    target = tmp_path / "backup.sh"
    target.write_text("#!/bin/sh\nold\n")
    config_files.replace(str(target), b"#!/bin/sh\nnew\n", "0750")
    assert target.read_bytes() == b"#!/bin/sh\nnew\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o750
    assert [path.name for path in tmp_path.iterdir()] == ["backup.sh"]


def test_a_secret_file_never_exists_with_a_wider_mode(tmp_path: Path) -> None:
    """The new file has its mode before it takes the path: no moment of 0644 for a 0600 file."""
    target = tmp_path / "app.env"
    config_files.replace(str(target), b"TOKEN=s3cret\n", "0600")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_modes_given_as_octal_digits_or_integers_are_read_and_symbolic_ones_left() -> None:
    assert config_files.octal_mode("0644") == 0o644
    assert config_files.octal_mode(0o755) == 0o755
    assert config_files.octal_mode("u=rw,go=r") is None
    assert config_files.octal_mode(None) is None


def test_the_diff_of_a_new_file_says_it_was_absent() -> None:
    diff = config_files.file_diff("/etc/x.conf", None, b"a = 1\n")
    assert diff == {
        "before_header": "/etc/x.conf (absent)", "after_header": "/etc/x.conf",
        "before": "", "after": "a = 1\n",
    }  # fmt: skip


class FakeModule:
    """What ensure_directory uses of AnsibleModule: check mode and the attribute setter (here
    the mode alone)."""

    def __init__(self, check_mode: bool = False) -> None:
        self.check_mode = check_mode

    def set_fs_attributes_if_different(self, attributes: dict[str, Any], changed: bool) -> bool:
        path, wanted = Path(attributes["path"]), int(attributes["mode"], 8)
        if stat.S_IMODE(path.stat().st_mode) == wanted:
            return changed
        path.chmod(wanted)
        return True


def directory(path: Path, mode: str) -> dict[str, Any]:
    return {"path": str(path), "mode": mode, "owner": "root", "group": "root"}


def test_a_missing_directory_is_created_with_its_parents_and_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "certs.d" / "registry.example.test:5000"
    assert config_files.ensure_directory(FakeModule(), directory(target, "0700"))
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    assert stat.S_IMODE(target.parent.stat().st_mode) & 0o755 == 0o755


def test_a_directory_as_wanted_is_no_change_and_a_widened_one_is_put_back(tmp_path: Path) -> None:
    target = tmp_path / "config"
    target.mkdir(mode=0o700)
    assert not config_files.ensure_directory(FakeModule(), directory(target, "0700"))
    target.chmod(0o755)
    assert config_files.ensure_directory(FakeModule(), directory(target, "0700"))
    assert stat.S_IMODE(target.stat().st_mode) == 0o700


def test_a_dry_run_reports_a_missing_directory_without_creating_it(tmp_path: Path) -> None:
    target = tmp_path / "config"
    assert config_files.ensure_directory(FakeModule(check_mode=True), directory(target, "0700"))
    assert not target.exists()


class Refused(Exception):
    pass


def test_a_file_its_check_refuses_is_not_written_and_the_old_one_stays(tmp_path: Path) -> None:
    """sshd -t, visudo -c: the check reads the new file where it will be renamed from."""
    target = tmp_path / "50-deploy"
    target.write_text("deploy ALL=(ALL:ALL) NOPASSWD: ALL\n")
    checked: list[bytes] = []

    def refuse(candidate: str) -> None:
        checked.append(Path(candidate).read_bytes())
        raise Refused(candidate)

    with pytest.raises(Refused):
        config_files.replace(str(target), b"deploy ALL=(\n", "0440", check=refuse)
    assert checked == [b"deploy ALL=(\n"]
    assert target.read_text() == "deploy ALL=(ALL:ALL) NOPASSWD: ALL\n"
    assert [path.name for path in tmp_path.iterdir()] == ["50-deploy"]


def test_a_file_its_check_accepts_is_written(tmp_path: Path) -> None:
    target = tmp_path / "50-hardening.conf"
    config_files.replace(str(target), b"PermitRootLogin no\n", "0644", check=lambda candidate: None)
    assert target.read_text() == "PermitRootLogin no\n"


def test_the_check_command_names_the_candidate_where_it_says_percent_s() -> None:
    assert config_files.check_argv("/usr/sbin/sshd -t -f %s", "/etc/ssh/.tmp-1") == [
        "/usr/sbin/sshd", "-t", "-f", "/etc/ssh/.tmp-1",
    ]  # fmt: skip
