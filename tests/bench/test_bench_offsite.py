"""The offsite section's settings, parsing and figures (no sandbox needed)."""

from __future__ import annotations

from pathlib import Path

from bench import offsite, report


def test_the_scenario_repositories_get_the_sandbox_server_path_and_stay_secret() -> None:
    extra, secret = offsite.offsite_vars(
        offsite.scenario_vars(), "fastapi-sandbox-server", "/var/backups/postgres"
    )
    assert extra == {
        "offsite_enabled": True,
        "offsite_paths": ["/var/backups/postgres"],
        "offsite_volumes": [],
    }
    repositories = [entry["repository"] for entry in secret["offsite_repositories"]]
    assert repositories == [
        "s3:http://s3.example.test:8333/offsite/fastapi-sandbox-server",
        "sftp:offsite@backup.example.test:/srv/offsite/fastapi-sandbox-server",
    ]
    # The keys and the password go in the file no log shows, never in the printed extra vars.
    assert "AWS_SECRET_ACCESS_KEY" in secret["offsite_repositories"][0]["environment"]
    assert "ssh_private_key" in secret["offsite_repositories"][1]
    assert secret["offsite_password"]
    assert not {"offsite_repositories", "offsite_password"} & set(extra)


def test_each_repository_names_its_store() -> None:
    s3 = "s3:http://s3.example.test:8333/offsite/web1"
    sftp = "sftp:offsite@backup.example.test:/srv/offsite/web1"
    assert [offsite.repository_kind(s3), offsite.repository_host(s3)] == ["s3", "s3.example.test"]
    assert offsite.repository_kind(sftp) == "sftp"
    assert offsite.repository_host(sftp) == "backup.example.test"


def test_role_paths_come_from_its_vars() -> None:
    assert (
        offsite.role_var("offsite_repositories_file")
        == "/etc/fastapi-deploy/offsite/repositories.sh"
    )
    assert offsite.role_var("offsite_unit") == "fastapi-offsite-backup"


def test_restored_files_are_counted_from_the_restore_script_lines(tmp_path: Path) -> None:
    log = tmp_path / "offsite-restore-s3.log"
    log.write_text(
        "ok: [fastapi-sandbox-server] =>\n  msg:\n"
        '  - "offsite: /var/backups/postgres: 1 files restored, 2 already there kept as they are"\n'
    )
    assert offsite.restored_files(str(log)) == 1


def test_the_copy_task_is_found_under_the_role_prefix() -> None:
    tasks = {"fastapi_deploy.toolkit.offsite : Run the off-site copy": 3.456, "Dump": 1.0}
    assert offsite.task_seconds(tasks, offsite.COPY_TASK) == 3.46
    assert offsite.task_seconds({}, offsite.COPY_TASK) is None


def offsite_results(rows_after: int = 200_000, identical: bool = True) -> dict[str, object]:
    def restore(seconds: float) -> dict[str, object]:
        return {
            "offsite_restore": {"seconds": seconds},
            "files_restored": 1,
            "dump_identical": identical,
            "db_restore": {"seconds": 20.0},
            "seconds": seconds + 20.0,
            "rows_before": 200_000,
            "rows_after": rows_after,
        }

    return {
        "seeded": {"rows": 200_000, "note_bytes": 200, "database_bytes": 68_000_000},
        "apply": {"seconds": 30.5, "changed": 6},
        "backup": {"seconds": 12.0, "copy_s": 8.0},
        "backup_bytes": 26_000_000,
        "repository_bytes": {"s3": 26_100_000, "sftp": None},
        "restores": {"s3": restore(5.0), "sftp": restore(6.0)},
    }


def test_offsite_rows_state_each_time_and_judge_each_restore() -> None:
    rows = {row.figure: row for row in report.offsite_rows(offsite_results())}
    assert rows["install the role (playbooks/database.yml)"].value == "30.5 s, 6 changed"
    assert rows["backup + copy to S3 and SFTP (db_backup)"].value == (
        "12.0 s, copies 8.0 s for 200,000 notes of 200 characters; dump 26.0 MB"
    )
    assert rows["repository size (restic stats, raw data)"].value == "S3 26.1 MB, SFTP -"
    s3 = rows["off-site restore from S3 + db_restore"]
    assert s3.value == (
        "25.0 s (offsite_restore 5.0 s, 1 file(s), same bytes; db_restore 20.0 s); "
        "rows after/before 200,000/200,000"
    )
    assert s3.met is True
    assert rows["off-site restore from SFTP + db_restore"].met is True


def test_an_offsite_restore_that_lost_rows_or_bytes_misses_its_target() -> None:
    lost = {row.figure: row for row in report.offsite_rows(offsite_results(rows_after=199_999))}
    assert lost["off-site restore from S3 + db_restore"].met is False
    changed = {row.figure: row for row in report.offsite_rows(offsite_results(identical=False))}
    assert changed["off-site restore from SFTP + db_restore"].met is False


def test_an_offsite_section_not_run_says_so() -> None:
    (row,) = report.offsite_rows(None)
    assert row.value == "not measured: section not run"
    (row,) = report.offsite_rows({"error": "BenchError: fastapi-deploy/s3:latest is missing"})
    assert "fastapi-deploy/s3:latest is missing" in row.value
    assert any(row.section == "offsite" for row in report.rows({"sections": {}}))
