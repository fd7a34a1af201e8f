"""``certward cert issue``: a key made here, written with its certificate and chain."""

from __future__ import annotations

import re
import stat
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from tests.cli.runner import Certward

HEX_SERIAL = re.compile(r"^[0-9a-f]+$")
PASSWORD = "issue-Passw0rd-for-the-key"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _spki(public_key: PublicKeyTypes) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_issue_writes_certificate_chain_and_owner_only_key(
    certward: Certward, tmp_path: Path
) -> None:
    out = tmp_path / "out"

    issued = certward.issue(
        "web.example.com",
        out=out,
        profile="server",
        extra=("--san", "DNS:web.example.com", "--san", "IP:192.0.2.7"),
    )

    assert HEX_SERIAL.match(issued["serial"])
    assert datetime.fromisoformat(issued["not_after"]) > datetime.fromisoformat(
        issued["not_before"]
    )
    assert issued["paths"] == {
        "certificate": str(out / "web.example.com.crt"),
        "chain": str(out / "web.example.com.chain.pem"),
        "key": str(out / "web.example.com.key"),
    }
    assert issued["sans"] == ["DNS:web.example.com", "IP:192.0.2.7"]
    assert sorted(p.name for p in out.iterdir()) == [
        "web.example.com.chain.pem",
        "web.example.com.crt",
        "web.example.com.key",
    ]
    assert _mode(out / "web.example.com.key") == 0o600
    certificate = x509.load_pem_x509_certificate((out / "web.example.com.crt").read_bytes())
    assert issued["serial"] == format(certificate.serial_number, "x")
    assert datetime.fromisoformat(issued["not_after"]) == certificate.not_valid_after_utc
    chain = x509.load_pem_x509_certificates((out / "web.example.com.chain.pem").read_bytes())
    assert chain[0] == certificate
    assert [c.subject.rfc4514_string() for c in chain[1:]] == [
        "O=certward tests,CN=certward CLI test issuing",
        "O=certward tests,CN=certward CLI test root",
    ]
    key_pem = (out / "web.example.com.key").read_bytes()
    assert key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert _spki(key.public_key()) == _spki(certificate.public_key())


def test_key_password_file_encrypts_the_key_and_the_pkcs12(
    certward: Certward, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    password_file = tmp_path / "password.txt"
    password_file.write_text(PASSWORD + "\n")

    issued = certward.issue(
        "alice",
        out=out,
        extra=("--key-password-file", str(password_file), "--pkcs12", "--key-type", "rsa-2048"),
    )

    assert issued["paths"]["pkcs12"] == str(out / "alice.p12")
    assert _mode(out / "alice.key") == 0o600
    assert _mode(out / "alice.p12") == 0o600
    key_pem = (out / "alice.key").read_bytes()
    assert key_pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    key = serialization.load_pem_private_key(key_pem, password=PASSWORD.encode())
    certificate = x509.load_pem_x509_certificate((out / "alice.crt").read_bytes())
    assert _spki(key.public_key()) == _spki(certificate.public_key())
    bundle = pkcs12.load_pkcs12((out / "alice.p12").read_bytes(), PASSWORD.encode())
    assert bundle.cert is not None
    assert bundle.cert.certificate == certificate
    assert len(bundle.additional_certs) == 2


def test_pkcs12_without_a_password_opens_without_one(certward: Certward, tmp_path: Path) -> None:
    out = tmp_path / "out"

    certward.issue("browser-test", out=out, extra=("--pkcs12",))

    bundle = pkcs12.load_pkcs12((out / "browser-test.p12").read_bytes(), None)
    assert bundle.key is not None
    assert bundle.cert is not None


def test_common_name_with_path_characters_gets_a_tame_file_name(
    certward: Certward, tmp_path: Path
) -> None:
    out = tmp_path / "out"

    issued = certward.issue("../ops team/1", out=out)

    assert issued["paths"]["certificate"] == str(out / "_ops_team_1.crt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "out"]
