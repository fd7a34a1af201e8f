"""``certward kds``: serve, status, publish-now, export-master-keys and import-master-keys."""

from __future__ import annotations

import json
import socket
import ssl
import stat
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from certward.access.audit import query_events
from certward.crypto.keys import load_private_key
from certward.datadir import open_data_dir
from certward.kds.ident import KeyIdent
from certward.kds.response import KeyResponse
from tests.cli.runner import Certward
from tests.kds.kds_service import KdsIdentity, KdsNode, KdsPKI, free_port, running_kds
from tests.server.service import running_service

PASSPHRASE = "kds passphrase 42"


def test_status_of_a_fresh_data_dir_shows_no_keys_and_no_nodes(certward: Certward) -> None:
    status = certward.json("kds", "status")

    assert status == {"master_keys": [], "current": None, "publisher": None, "nodes": []}


def test_publish_now_adds_a_key_and_the_second_newest_is_current(certward: Certward) -> None:
    first = certward.json("kds", "publish-now")
    second = certward.json("kds", "publish-now")

    status = certward.json("kds", "status")

    assert (first["current"], second["current"]) == (first["timestamp"], first["timestamp"])
    assert [key["timestamp"] for key in status["master_keys"]] == [
        first["timestamp"],
        second["timestamp"],
    ]
    assert status["current"] == first["timestamp"]
    assert [key["current"] for key in status["master_keys"]] == [True, False]
    text = certward.run("kds", "status").stdout
    assert f"* {first['timestamp']}" in text


def test_export_writes_a_private_file_that_imports_elsewhere_audited(
    certward: Certward, pki_template: Certward, tmp_path: Path
) -> None:
    stamps = [certward.json("kds", "publish-now")["timestamp"] for _ in range(2)]
    out = tmp_path / "keys.json"

    certward.run("kds", "export-master-keys", "--out", out)

    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert [entry["timestamp"] for entry in json.loads(out.read_text())] == stamps
    other = pki_template.copy(tmp_path / "other")
    assert other.json("kds", "import-master-keys", out) == {"added": stamps, "unchanged": []}
    assert other.json("kds", "import-master-keys", out) == {"added": [], "unchanged": stamps}
    assert _audited(certward) >= {"kds.publish_master_key", "kds.export_master_keys"}
    assert "kds.import_master_keys" in _audited(other)


def _audited(certward: Certward) -> set[str]:
    """The KDS actions in the audit log recorded for a local user."""
    context = open_data_dir(certward.data_dir)
    events = query_events(context).items
    context.database.dispose()
    return {
        event.action
        for event in events
        if event.action.startswith("kds.") and (event.principal or "").startswith("local:")
    }


def test_a_conflicting_import_is_refused_and_adds_nothing(
    certward: Certward, tmp_path: Path
) -> None:
    stamp = certward.json("kds", "publish-now")["timestamp"]
    forged = tmp_path / "forged.json"
    key = "A" * 86 + "=="  # 64 zero bytes
    forged.write_text(json.dumps([{"timestamp": 1, "key": key}, {"timestamp": stamp, "key": key}]))

    result = certward.run("kds", "import-master-keys", forged, check=False)

    assert result.returncode == 4, result.stderr
    assert "[conflict]" in result.stderr and "different bytes" in result.stderr
    assert [key["timestamp"] for key in certward.json("kds", "status")["master_keys"]] == [stamp]


def test_serve_without_a_certificate_is_a_config_error(certward: Certward) -> None:
    result = certward.run("kds", "serve", "--port", str(free_port()), check=False)

    assert result.returncode == 2
    assert "--cert" in result.stderr and "[config.invalid]" in result.stderr


def _encrypted_server(pki: KdsPKI) -> KdsIdentity:
    """A server identity whose key file is encrypted with PASSPHRASE."""
    server = pki.server_identity()
    key = load_private_key(server.key.read_bytes())
    encrypted = server.key.with_name("encrypted.key")
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSPHRASE.encode()),
        )
    )
    encrypted.chmod(0o600)
    return KdsIdentity(server.name, server.certificate, encrypted, server.serial, server.cert)


def _answers(node: KdsNode, pki: KdsPKI) -> bool:
    alice = pki.client_identity("urn:prjA", stem="alice")
    return len(node.request_key(KeyIdent(-1, 1, "urn:prjA"), alice).key) == 32


def test_serve_reads_the_key_passphrase_from_a_file_or_the_environment(tmp_path: Path) -> None:
    pki = KdsPKI.create(tmp_path / "certward-data")
    encrypted = _encrypted_server(pki)
    passphrase_file = tmp_path / "pass.txt"
    passphrase_file.write_text(PASSPHRASE + "\n")

    with running_kds(
        pki, encrypted, log=tmp_path / "a.log", args=["--passphrase-file", str(passphrase_file)]
    ) as node:
        assert _answers(node, pki)
    with running_kds(
        pki, encrypted, log=tmp_path / "b.log", env={"CERTWARD_KDS_PASSPHRASE": PASSPHRASE}
    ) as node:
        assert _answers(node, pki)
    pki.close()


def test_serve_with_a_wrong_passphrase_stops_without_echoing_it(
    tmp_path: Path, certward: Certward
) -> None:
    pki = KdsPKI.create(tmp_path / "certward-data")
    server = _encrypted_server(pki)
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not the passphrase\n")
    pki.close()

    result = Certward(pki.data_dir).run(
        "kds", "serve", "--port", str(free_port()), "--cert", server.certificate,
        "--key", server.key, "--trusts", pki.trust_file, "--passphrase-file", wrong, check=False,
    )  # fmt: skip

    assert result.returncode == 2
    assert "[input.password]" in result.stderr
    assert "not the passphrase" not in result.stdout + result.stderr


def test_certward_serve_runs_a_kds_node_beside_the_api_when_enabled(tmp_path: Path) -> None:
    pki = KdsPKI.create(tmp_path / "certward-data")
    server = pki.server_identity()
    alice = pki.client_identity("urn:prjA", stem="alice")
    port = free_port()
    with (pki.data_dir / "certward.toml").open("a") as config:
        config.write(
            "\n[kds]\nenabled = true\n"
            f'port = {port}\ncert = "{server.certificate}"\nkey = "{server.key}"\n'
            f'trusts = "{pki.trust_file}"\npublish_period_days = 30\n'
        )
    pki.close()

    with running_service(pki.data_dir, log=tmp_path / "serve.log") as service:
        with service.client() as api:
            assert api.get("/health").status_code == 200
        answer = httpx.post(
            f"https://127.0.0.1:{port}/",
            content=KeyIdent(-1, 1, "urn:prjA").encode(),
            verify=_client_context(pki, alice.certificate, alice.key),
        )
        assert answer.status_code == 200, service.output()
        assert KeyResponse.decode(answer.content).timestamp > 0

    assert "certward KDS node on https://127.0.0.1" in service.output()
    with pytest.raises(OSError):  # the node stopped with the service
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def _client_context(pki: KdsPKI, certificate: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.trust_file))
    context.load_cert_chain(certificate, key)
    return context
