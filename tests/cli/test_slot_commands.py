"""``certward slot``: the same commands on a data dir and on a server (``--server``)."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from tests.certs.factory import TestCA
from tests.cli.runner import Certward, run_certward
from tests.client.live_server import LiveServer, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("slot-cli") / "data") as live:
        yield live


@dataclass(frozen=True)
class Remote:
    """``certward --server ... slot ...`` with no data dir of its own."""

    server: LiveServer

    def run(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_certward(
            *self.server.cli_options(),
            *args,
            data_dir=self.server.data_dir.parent / "absent",
            check=check,
        )

    def json(self, *args: str | Path) -> Any:
        return json.loads(self.run(*args, "--json").stdout)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("mode", ["local", "remote"])
def test_install_replace_delete_through_the_cli(
    mode: str, certward: Certward, server: LiveServer, tmp_path: Path
) -> None:
    runner: Certward | Remote = certward if mode == "local" else Remote(server)
    ca = TestCA("CLI Root")
    slot = f"server/cli-{uuid.uuid4().hex[:8]}"
    directory = tmp_path / "slot"
    ran = tmp_path / "ran"
    created = runner.json(
        "slot", "add", slot, "--directory", directory, "--host-name", "cli.example.test",
        "--reload-command", f"/bin/sh -c 'echo $CERTWARD_CHANGE >> {ran}'",
    )  # fmt: skip
    assert created["reload"]["kind"] == "command"
    first, second = ca.issue("one.example.test"), ca.issue("two.example.test")

    installed = runner.json("slot", "install", slot, _write(tmp_path / "1.pem", first.bundle_pem))
    second_pem = _write(tmp_path / "2.pem", second.chain_pem)
    second_key = _write(tmp_path / "2.key", second.key_pem)
    replaced = runner.json(
        "slot", "replace", slot, installed["id"], second_pem, "--key", second_key
    )
    shown = runner.json("slot", "show", slot)
    deleted = runner.json("slot", "delete", slot, replaced["id"])

    assert [c["id"] for c in shown["certificates"]] == [replaced["id"]]
    assert deleted["replacement"]["subject"] == "CN=cli.example.test"
    assert (directory / "cert.pem").read_text() == deleted["replacement"]["certificate_pem"]
    assert ran.read_text().split() == ["installed", "replaced", "deleted"]
    assert slot in [s["name"] for s in runner.json("slot", "list")]


@pytest.mark.parametrize("mode", ["local", "remote"])
def test_refusals_are_one_line_and_change_nothing(
    mode: str, certward: Certward, server: LiveServer, tmp_path: Path
) -> None:
    runner: Certward | Remote = certward if mode == "local" else Remote(server)
    ca = TestCA("CLI Refusals")
    slot = f"server/bad-{uuid.uuid4().hex[:8]}"
    runner.run("slot", "add", slot, "--directory", tmp_path / "slot")
    leaf, other = ca.issue(), ca.issue()
    mismatched = _write(tmp_path / "bad.pem", leaf.chain_pem + other.key_pem)

    result = runner.run("slot", "install", slot, mismatched, check=False)

    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "key mismatch" in result.stderr
    assert not (tmp_path / "slot").exists() or list((tmp_path / "slot").iterdir()) == []


def test_crls_go_into_a_hash_directory_slot(certward: Certward, tmp_path: Path) -> None:
    ca = TestCA("CLI Peers")
    certward.run(
        "slot", "add", "authority/peers", "--directory", tmp_path / "peers", "--hash-dir", "--crl"
    )
    certward.run("slot", "install", "authority/peers", _write(tmp_path / "ca.pem", ca.cert_pem))
    crl = _write(tmp_path / "ca.crl", ca.crl().public_bytes(Encoding.DER))

    installed = certward.json("slot", "install-crl", "authority/peers", crl)

    assert installed["file_name"].endswith(".r0")
    assert (tmp_path / "peers" / installed["file_name"]).read_bytes().startswith(b"-----BEGIN")


def test_crl_install_swaps_a_newer_crl_into_the_slot(certward: Certward, tmp_path: Path) -> None:
    ca = TestCA("CLI CRL Install")
    certward.run(
        "slot", "add", "authority/peers", "--directory", tmp_path / "peers", "--hash-dir", "--crl"
    )
    certward.run("slot", "install", "authority/peers", _write(tmp_path / "ca.pem", ca.cert_pem))
    first = certward.json(
        "crl",
        "install",
        "--slot",
        "authority/peers",
        _write(tmp_path / "1.crl", ca.crl().public_bytes(Encoding.DER)),
    )

    second = certward.json(
        "crl",
        "install",
        "--slot",
        "authority/peers",
        _write(tmp_path / "2.crl", ca.crl().public_bytes(Encoding.DER)),
    )

    assert second["crl_number"] > first["crl_number"]
    assert second["file_name"].endswith(".r1")


@pytest.mark.parametrize("mode", ["local", "remote"])
def test_a_slot_is_removed_and_its_files_stay(
    mode: str, certward: Certward, server: LiveServer, tmp_path: Path
) -> None:
    runner: Certward | Remote = certward if mode == "local" else Remote(server)
    slot = f"server/gone-{uuid.uuid4().hex[:8]}"
    directory = tmp_path / "slot"
    runner.run("slot", "add", slot, "--directory", directory)
    runner.run("slot", "install", slot, _write(tmp_path / "1.pem", TestCA().issue().bundle_pem))

    removed = runner.run("slot", "remove", slot)
    again = runner.run("slot", "remove", slot, check=False)

    assert f"removed slot {slot}" in removed.stdout
    assert slot not in [s["name"] for s in runner.json("slot", "list")]
    assert (directory / "cert.pem").exists() and (directory / "key.pem").exists()
    assert again.returncode != 0
    assert "no slot" in again.stderr and again.stderr.strip().count("\n") == 0
