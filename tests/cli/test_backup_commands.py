"""``certward backup`` / ``certward restore`` as an operator runs them."""

from __future__ import annotations

from pathlib import Path

from tests.cli.runner import Certward, run_certward, snapshot

PASSPHRASE = "correct horse battery staple\n"


def _passphrase_file(tmp_path: Path) -> Path:
    path = tmp_path / "backup.pass"
    path.write_text(PASSPHRASE)
    path.chmod(0o600)
    return path


def test_backup_then_restore_gives_the_same_inventory(certward: Certward, tmp_path: Path) -> None:
    certward.issue("app1", out=tmp_path / "app1")
    archive = tmp_path / "certward.cwb"
    secret = _passphrase_file(tmp_path)

    made = certward.json("backup", "--out", archive, "--passphrase-file", secret)
    assert made["tables"]["certificates"] == 3
    assert archive.stat().st_mode & 0o777 == 0o600

    restored = Certward(tmp_path / "restored")
    done = restored.json("restore", archive, "--passphrase-file", secret)
    assert done["tables"] == made["tables"]

    def inventory(cw: Certward) -> list[tuple[str, str]]:
        return sorted((c["serial"], c["status"]) for c in cw.json("cert", "list")["items"])

    assert inventory(restored) == inventory(certward)
    # The restored CA signs: its key opens under the restored master keys.
    restored.issue("app2", out=tmp_path / "app2")


def test_backup_will_not_overwrite_an_archive_without_force(
    certward: Certward, tmp_path: Path
) -> None:
    archive = tmp_path / "certward.cwb"
    archive.write_bytes(b"an older backup")
    result = certward.run(
        "backup", "--out", archive, "--passphrase-file", _passphrase_file(tmp_path), check=False
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "--force" in result.stderr
    assert result.stderr.count("\n") == 1
    assert archive.read_bytes() == b"an older backup"


def test_backup_without_a_passphrase_source_is_refused(certward: Certward, tmp_path: Path) -> None:
    archive = tmp_path / "certward.cwb"
    result = certward.run("backup", "--out", archive, check=False)
    assert result.returncode == 2
    assert "passphrase" in result.stderr
    assert not archive.exists()


def test_restore_with_the_wrong_passphrase_changes_nothing(
    certward: Certward, tmp_path: Path
) -> None:
    archive = tmp_path / "certward.cwb"
    certward.run("backup", "--out", archive, "--passphrase-file", _passphrase_file(tmp_path))
    wrong = tmp_path / "wrong.pass"
    wrong.write_text("a different passphrase\n")
    target = tmp_path / "restored"
    result = run_certward(
        "restore", archive, "--passphrase-file", wrong, data_dir=target, check=False
    )
    assert result.returncode == 2
    assert "passphrase" in result.stderr and result.stderr.count("\n") == 1
    assert not target.exists()


def test_restore_into_an_existing_data_dir_is_refused(certward: Certward, tmp_path: Path) -> None:
    archive = tmp_path / "certward.cwb"
    certward.run("backup", "--out", archive, "--passphrase-file", _passphrase_file(tmp_path))
    before = snapshot(certward.data_dir)
    result = certward.run(
        "restore", archive, "--passphrase-file", _passphrase_file(tmp_path), check=False
    )
    assert result.returncode == 4
    assert "not empty" in result.stderr
    assert snapshot(certward.data_dir) == before
