"""Secrets hygiene: run operations with recognisable secrets, then scan everything written.

A service logging at ``debug`` is driven through operations that handle secrets
(passwords, generated private keys, PKCS#12 passwords, KMS plaintext and data
keys, EAB keys) and through refusals that carry secrets in the request. Then
every place a secret could leak is scanned for each secret in raw, hex and
base64 form: the served process's stdout/stderr, every error body, /metrics,
every audit row (API and table), the database files (SQLite + WAL, raw bytes:
every text and blob column), and every file of the data dir. The master key
bytes (from ``keys/*.ks``) are looked for everywhere except in those key files.

Also here: file modes (the database 0600, refusing key files others can read).
"""

from __future__ import annotations

import base64
import os
import secrets
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from certward.crypto.keys import load_private_key
from certward.errors import FilePermissionError
from certward.files import check_private_key_file
from certward.keystore.master_key_file import decode_master_key_file
from tests.server.service import CERTWARD, Service, running_service


@dataclass
class Secrets:
    """Every secret the run handled (name -> bytes) and every text written somewhere."""

    values: dict[str, bytes] = field(default_factory=dict)
    error_bodies: list[str] = field(default_factory=list)

    def add(self, name: str, value: bytes | str) -> None:
        self.values[name] = value.encode() if isinstance(value, str) else value


def forms(secret: bytes) -> list[bytes]:
    """The shapes a secret could be written in."""
    found = [secret, secret.hex().encode(), base64.b64encode(secret)]
    found.append(base64.urlsafe_b64encode(secret).rstrip(b"="))
    return [form for form in found if len(form) >= 12]


def leaks(haystack: bytes, secrets_: dict[str, bytes]) -> list[str]:
    return [name for name, secret in secrets_.items() for form in forms(secret) if form in haystack]


@pytest.fixture(scope="module")
def hygiene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, Secrets]]:
    base = tmp_path_factory.mktemp("hygiene")
    data = base / "data"
    data.mkdir(mode=0o700)
    (data / "certward.toml").write_text('log_level = "debug"\n')
    with running_service(data, log=base / "serve.log") as service:
        found = Secrets()
        _exercise(service, found)
        service.modes_while_running = _modes(data)  # type: ignore[attr-defined]
        yield service, found


def _modes(data: Path) -> dict[str, int]:
    return {path.name: stat.S_IMODE(path.stat().st_mode) for path in data.glob("certward.db*")}


def _exercise(service: Service, found: Secrets) -> None:
    marker = f"S3CRET-{secrets.token_hex(8)}"
    with service.client() as api:
        # A certificate with a server-side key, returned encrypted under a password.
        password = f"pw-{marker}"
        found.add("key password", password)
        issued = api.post(
            "/v1/certificates",
            json={
                "ca": "issuing",
                "profile": "client",
                "common_name": "hygiene",
                "key_password": password,
            },
        )
        assert issued.status_code == 201, issued.text
        key = load_private_key(
            issued.json()["private_key_pem"].encode(), password=password.encode()
        )
        found.add(
            "issued private key",
            key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        # A principal: its private key and PKCS#12 password come back once.
        principal = api.post(
            "/v1/principals", json={"name": "hygiene-p", "grants": [{"permission": "kds.client"}]}
        ).json()
        found.add("pkcs12 password", principal["pkcs12_password"])
        found.add(
            "principal private key",
            load_private_key(principal["private_key_pem"].encode()).private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        # KMS: plaintext in, data keys out.
        key_id = api.post(
            "/v1/kms/keys", json={"spec": "AES_256", "usage": "ENCRYPT_DECRYPT"}
        ).json()["key_id"]
        plaintext = f"plaintext-{marker}".encode()
        found.add("kms plaintext", plaintext)
        encrypted = api.post(
            f"/v1/kms/keys/{key_id}/encrypt",
            json={"plaintext": base64.b64encode(plaintext).decode(), "context": {"c": "v"}},
        )
        assert encrypted.status_code == 200, encrypted.text
        decrypted = api.post(
            "/v1/kms/decrypt",
            json={"ciphertext": encrypted.json()["ciphertext"], "context": {"c": "v"}},
        )
        assert base64.b64decode(decrypted.json()["plaintext"]) == plaintext
        data_key = api.post(f"/v1/kms/keys/{key_id}/generate-data-key", json={}).json()
        found.add("kms data key", base64.b64decode(data_key["plaintext"]))
        mac_key = api.post(
            "/v1/kms/keys", json={"spec": "HMAC_256", "usage": "GENERATE_VERIFY_MAC"}
        ).json()["key_id"]
        mac_message = f"mac-message-{marker}".encode()
        found.add("mac message", mac_message)
        assert api.post(
            f"/v1/kms/keys/{mac_key}/generate-mac",
            json={"message": base64.b64encode(mac_message).decode(), "algorithm": "HMAC_SHA_256"},
        ).is_success
        eab = api.post("/v1/acme/eab-keys", json={"principal": "hygiene-p"})
        assert eab.status_code == 201, eab.text
        hmac_key = eab.json()["hmac_key"]
        found.add("eab key", base64.urlsafe_b64decode(hmac_key + "=" * (-len(hmac_key) % 4)))
        found.add("eab key text", hmac_key)
        # Refusals that carry secrets in the request: errors must not echo them.
        refusals = [
            api.post(
                "/v1/certificates",
                json={
                    "ca": "issuing",
                    "profile": "client",
                    "common_name": "x",
                    "key_password": f"too-long-{marker}" * 10,
                },
            ),
            api.post(
                "/v1/kms/decrypt",
                json={"ciphertext": base64.b64encode(f"bad-{marker}".encode()).decode()},
            ),
            api.post(  # over [kms] max_message_bytes
                f"/v1/kms/keys/{key_id}/encrypt",
                json={"plaintext": base64.b64encode(plaintext * 300).decode()},
            ),
            api.post(  # the wrong context
                "/v1/kms/decrypt",
                json={"ciphertext": encrypted.json()["ciphertext"], "context": {"c": "w"}},
            ),
            api.post(
                "/v1/certificates",
                content=f'{{"key_password": "{marker}"',
                headers={"content-type": "application/json"},
            ),
            api.post(
                "/v1/kms/keys/alias%2Fnothing/encrypt",
                json={"plaintext": base64.b64encode(plaintext).decode()},
            ),
        ]
        found.add("marker", marker)
        for refusal in refusals:
            assert refusal.status_code >= 400, refusal.text
            found.error_bodies.append(refusal.text)
        found.error_bodies.append(api.get("/metrics").text)
        audit = api.get("/v1/audit", params={"limit": 1000})
        found.error_bodies.append(audit.text)
    for path in (service.data_dir / "keys").glob("*.ks"):
        for number, master in enumerate(decode_master_key_file(path.read_bytes()).keys):
            found.add(f"master key {number}", master.secret)


def test_no_secret_reaches_logs_errors_metrics_or_audit(
    hygiene: tuple[Service, Secrets],
) -> None:
    service, found = hygiene
    log = service.output().encode()

    assert b"certificate.issued" in log  # debug logging really ran
    assert leaks(log, found.values) == []
    for body in found.error_bodies:
        assert leaks(body.encode(), found.values) == [], body[:300]
        assert "Traceback" not in body


def test_no_secret_reaches_the_database_or_any_file_of_the_data_dir(
    hygiene: tuple[Service, Secrets],
) -> None:
    service, found = hygiene
    everywhere = {name: value for name, value in found.values.items()}
    scanned = 0
    wrong: list[str] = []

    for path in service.data_dir.rglob("*"):
        if not path.is_file():
            continue
        secrets_here = everywhere
        if path.parent.name == "keys" and path.suffix == ".ks":
            # The master key files hold the master keys, by design; nothing else.
            secrets_here = {n: v for n, v in everywhere.items() if not n.startswith("master")}
        if path.parent.name == "admin":
            continue  # the bootstrap admin bundle: the admin's own key, by design
        scanned += 1
        wrong += [f"{path.name}: {name}" for name in leaks(path.read_bytes(), secrets_here)]

    assert wrong == []
    assert scanned >= 5


def test_the_database_files_are_private(hygiene: tuple[Service, Secrets]) -> None:
    service, _ = hygiene
    modes = service.modes_while_running  # type: ignore[attr-defined]

    assert modes["certward.db"] == 0o600
    assert {name: mode for name, mode in modes.items()} == dict.fromkeys(modes, 0o600)
    assert stat.S_IMODE(service.data_dir.stat().st_mode) == 0o700


def test_an_existing_world_readable_database_is_made_private(tmp_path: Path) -> None:
    from certward.datadir import initialise_data_dir

    data = tmp_path / "d"
    initialise_data_dir(data).database.dispose()
    os.chmod(data / "certward.db", 0o644)

    initialise_data_dir(data).database.dispose()

    assert stat.S_IMODE((data / "certward.db").stat().st_mode) == 0o600


def test_a_master_key_file_others_can_read_is_refused_at_start(tmp_path: Path) -> None:
    data = tmp_path / "d"
    subprocess.run([str(CERTWARD), "-d", str(data), "init"], check=True, capture_output=True)
    os.chmod(data / "keys" / "kmc.ks", 0o444)

    result = subprocess.run(
        [str(CERTWARD), "-d", str(data), "ca", "list"], capture_output=True, text=True, check=False
    )

    assert result.returncode != 0
    assert "kmc.ks has mode 0444; run: chmod 400" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_private_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "server.key"
    key.write_bytes(b"-----BEGIN PRIVATE KEY-----\n")
    key.chmod(0o600)
    check_private_key_file(key)

    key.chmod(0o644)
    with pytest.raises(FilePermissionError, match=r"mode 0644.*chmod 600"):
        check_private_key_file(key)
