"""Passwords stay secret: never on stdout, stderr or in the logs, even at debug level."""

from __future__ import annotations

from pathlib import Path

from tests.cli.runner import Certward

# Recognisable, so any echo of it anywhere is found.
PASSWORD = "Zebra-Quartz-4711-never-print-me"


def _files_containing(directory: Path, needle: bytes) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_issuing_with_a_key_password_prints_and_stores_it_nowhere(
    certward: Certward, tmp_path: Path
) -> None:
    password_file = tmp_path / "password.txt"
    password_file.write_text(PASSWORD + "\n")

    result = certward.run(
        "--log-level", "debug", "cert", "issue", "--ca", "issuing", "--profile", "client",
        "--cn", "alice", "--out", tmp_path / "out", "--key-password-file", password_file,
        "--pkcs12", "--json",
    )  # fmt: skip

    assert PASSWORD not in result.stdout
    assert PASSWORD not in result.stderr
    assert _files_containing(certward.data_dir, PASSWORD.encode()) == []
    assert _files_containing(tmp_path / "out", PASSWORD.encode()) == []


def test_a_refused_password_is_not_echoed_in_the_error(certward: Certward, tmp_path: Path) -> None:
    password_file = tmp_path / "password.txt"
    # Over the 100-character limit, so it is refused.
    password_file.write_text(PASSWORD * 4)

    result = certward.run(
        "--log-level", "debug", "cert", "issue", "--ca", "issuing", "--profile", "client",
        "--cn", "alice", "--out", tmp_path / "out", "--key-password-file", password_file,
        check=False,
    )  # fmt: skip

    assert result.returncode != 0
    assert "error:" in result.stderr
    assert PASSWORD not in result.stdout
    assert PASSWORD not in result.stderr
