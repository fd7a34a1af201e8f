"""``certward import`` and ``certward keystore decrypt`` through the real console script."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from certward.certs.certimport_config import read_config_values
from tests.certs.certimport_material import PASSWORD, InputFiles, TinyCA, snapshot_tree
from tests.cli.runner import CERTWARD, COMMAND_TIMEOUT


def certward(
    *args: str | Path, cwd: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``certward ARGS`` in ``cwd`` (stdin: text to pipe, else an empty pipe)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTWARD_")}
    return subprocess.run(
        [str(CERTWARD), *(str(arg) for arg in args)],
        cwd=cwd,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env=env,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )


@pytest.fixture(scope="module")
def ca() -> TinyCA:
    return TinyCA("CLI Stream CA")


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """The service directory the import runs in (``keys/`` goes here)."""
    (tmp_path / "streamserver").mkdir()
    return tmp_path / "streamserver"


@pytest.fixture
def inputs(tmp_path: Path, ca: TinyCA) -> InputFiles:
    files = ca.write_inputs(tmp_path / "in", ca.issue("localhost"))
    (tmp_path / "in" / "ca.crl").write_bytes(ca.crl())
    password = tmp_path / "in" / "password"
    password.write_text(PASSWORD + "\n")
    password.chmod(0o600)
    return files


def _args(inputs: InputFiles, *extra: str | Path) -> list[str | Path]:
    return [
        "import", "-c", inputs.ca, "-s", inputs.certificate, "-k", inputs.key,
        "-r", inputs.ca.parent / "ca.crl", "--config", "streamserver.conf", *extra,
    ]  # fmt: skip


def test_import_with_a_password_file_writes_keys_and_config(work: Path, inputs: InputFiles) -> None:
    result = certward(
        *_args(inputs, "--password-file", inputs.ca.parent / "password", "--json"), cwd=work
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["master_keys_created"] is True
    assert sorted(os.listdir(work / "keys")) == [
        "StandbyKsf.ks", "ca.crl", "ca.crt", "import.log", "kmc.ks", "server.crt", "server.key",
    ]  # fmt: skip
    values = read_config_values((work / "streamserver.conf").read_bytes())
    assert values["ca_crt"] == "keys/ca.crt"
    assert values["crl"] == "keys/ca.crl"
    assert values["server_key_mm"] == report["config_values"]["server_key_mm"]
    assert PASSWORD not in result.stdout + result.stderr


def test_the_password_can_come_from_stdin(work: Path, inputs: InputFiles) -> None:
    result = certward(*_args(inputs), cwd=work, stdin=PASSWORD + "\n")

    assert result.returncode == 0, result.stderr
    assert "imported CN=localhost (RSA-2048) into keys/" in result.stdout


def test_password_file_dash_reads_stdin(work: Path, inputs: InputFiles) -> None:
    result = certward(*_args(inputs, "--password-file", "-"), cwd=work, stdin=PASSWORD + "\n")

    assert result.returncode == 0, result.stderr


def test_keystore_decrypt_gives_the_password_of_the_imported_key(
    work: Path, inputs: InputFiles
) -> None:
    certward(*_args(inputs, "--password-file", inputs.ca.parent / "password"), cwd=work)
    sealed = read_config_values((work / "streamserver.conf").read_bytes())["server_key_mm"]

    by_value = certward("keystore", "decrypt", "--keys-dir", "keys", "--value", sealed, cwd=work)
    by_config = certward("keystore", "decrypt", "--config", "streamserver.conf", cwd=work)

    assert by_value.returncode == 0, by_value.stderr
    assert by_value.stdout == by_config.stdout
    password = by_value.stdout.rstrip("\n").encode()
    serialization.load_pem_private_key((work / "keys" / "server.key").read_bytes(), password)


def test_a_too_long_password_is_refused_and_nothing_is_written(
    work: Path, inputs: InputFiles
) -> None:
    before = snapshot_tree(work.parent)

    result = certward(*_args(inputs), cwd=work, stdin="x" * 101 + "\n")

    assert result.returncode == 2
    assert "at most 100" in result.stderr
    assert snapshot_tree(work.parent) == before


def test_a_permissive_key_is_refused_naming_the_file_and_the_fix(
    work: Path, inputs: InputFiles
) -> None:
    inputs.key.chmod(0o644)
    before = snapshot_tree(work.parent)

    result = certward(*_args(inputs), cwd=work, stdin=PASSWORD + "\n")

    assert result.returncode == 8
    assert f"the server key {inputs.key} has mode 0644" in result.stderr
    assert f"run: chmod 400 {inputs.key}" in result.stderr
    assert "[file.permission]" in result.stderr
    assert snapshot_tree(work.parent) == before


def test_a_second_import_is_refused_without_replace_and_backed_up_with_it(
    work: Path, inputs: InputFiles
) -> None:
    first = certward(*_args(inputs), cwd=work, stdin=PASSWORD + "\n")
    assert first.returncode == 0, first.stderr
    before = snapshot_tree(work.parent)

    refused = certward(*_args(inputs), cwd=work, stdin=PASSWORD + "\n")
    assert refused.returncode == 4
    assert "--replace" in refused.stderr
    assert snapshot_tree(work.parent) == before

    replaced = certward(*_args(inputs, "--replace"), cwd=work, stdin=PASSWORD + "\n")
    assert replaced.returncode == 0, replaced.stderr
    assert "previous files moved to keys/backup-" in replaced.stdout


def test_an_ec_key_needs_allow_ec(tmp_path: Path, work: Path, ca: TinyCA) -> None:
    files = ca.write_inputs(tmp_path / "ec", ca.issue("localhost", key_kind="ec"))

    refused = certward(
        "import", "-c", files.ca, "-s", files.certificate, "-k", files.key,
        cwd=work, stdin=PASSWORD + "\n",
    )  # fmt: skip
    accepted = certward(
        "import", "-c", files.ca, "-s", files.certificate, "-k", files.key, "--allow-ec",
        cwd=work, stdin=PASSWORD + "\n",
    )  # fmt: skip

    assert refused.returncode == 5
    assert "--allow-ec" in refused.stderr
    assert accepted.returncode == 0, accepted.stderr
    # Without --config the values to set are printed.
    assert "server_key_mm=" in accepted.stdout


def test_crl_only_replaces_the_crl_of_an_earlier_import(
    work: Path, inputs: InputFiles, ca: TinyCA
) -> None:
    certward(*_args(inputs), cwd=work, stdin=PASSWORD + "\n")
    newer = inputs.ca.parent / "newer.crl"
    newer.write_bytes(ca.crl(revoked=[ca.issue("client", client=True)]))

    result = certward("import", "--crl-only", "--crl", newer, cwd=work)

    assert result.returncode == 0, result.stderr
    assert "1 revoked" in result.stdout
    assert (work / "keys" / "ca.crl").read_bytes() == newer.read_bytes()


def test_missing_inputs_are_named(work: Path) -> None:
    result = certward("import", "-c", "ca.crt", cwd=work)

    assert result.returncode == 2
    assert "needs --cert, --key" in result.stderr
