"""``certward cert sign``: certificates for CSRs made by ``openssl req -new``."""

from __future__ import annotations

import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.cli.runner import Certward


def _openssl_csr(openssl: str, directory: Path, *, key: list[str], outform: str) -> Path:
    csr = directory / f"request.{outform.lower()}"
    subprocess.run(
        [
            openssl, "req", "-new", *key, "-nodes",
            "-keyout", directory / "request.key",
            "-subj", "/CN=csr.example.com/O=Example",
            "-addext", "subjectAltName=DNS:csr.example.com,IP:198.51.100.4",
            "-outform", outform, "-out", csr,
        ],
        capture_output=True,
        timeout=60,
        check=True,
    )  # fmt: skip
    return csr


@pytest.mark.interop
@pytest.mark.parametrize(
    ("key", "outform"),
    [
        pytest.param(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "PEM", id="ec-pem"),
        pytest.param(["-newkey", "rsa:2048"], "DER", id="rsa-der"),
    ],
)
def test_sign_issues_a_certificate_for_an_openssl_csr(
    certward: Certward, openssl: str, tmp_path: Path, key: list[str], outform: str
) -> None:
    csr_path = _openssl_csr(openssl, tmp_path, key=key, outform=outform)
    out = tmp_path / "signed.crt"

    issued = certward.json(
        "cert", "sign", "--ca", "issuing", "--profile", "server", "--csr", csr_path,
        "--out", out, "--days", "90",
    )  # fmt: skip

    assert issued["paths"] == {"certificate": str(out)}
    assert issued["sans"] == ["DNS:csr.example.com", "IP:198.51.100.4"]
    certificate = x509.load_pem_x509_certificate(out.read_bytes())
    assert issued["serial"] == format(certificate.serial_number, "x")
    assert datetime.fromisoformat(issued["not_after"]) == certificate.not_valid_after_utc
    assert certificate.subject.rfc4514_string() == "O=Example,CN=csr.example.com"
    csr_data = csr_path.read_bytes()
    csr = x509.load_pem_x509_csr(csr_data) if outform == "PEM" else x509.load_der_x509_csr(csr_data)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    assert certificate.public_key().public_bytes(
        serialization.Encoding.DER, spki
    ) == csr.public_key().public_bytes(serialization.Encoding.DER, spki)
    assert (certificate.not_valid_after_utc - certificate.not_valid_before_utc).days == 90
