"""``certward ca create|list|show``: roots, intermediates, path lengths, PEM for openssl."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from tests.cli.runner import ISSUING_SUBJECT, ROOT_SUBJECT, Certward

CA_KEYS = {
    "name",
    "parent",
    "subject",
    "key_type",
    "serial",
    "not_before",
    "not_after",
    "path_length",
    "crl_number",
    "certificate_pem",
}


def _openssl_x509(openssl: str, pem: str, *options: str) -> str:
    result = subprocess.run(
        [openssl, "x509", "-noout", *options],
        input=pem,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout


def test_ca_create_json_describes_the_new_root(certward: Certward) -> None:
    created = certward.json(
        "ca", "create", "second-root", "--subject", "/CN=Second Root/O=Example",
        "--key-type", "ec-p384", "--days", "30",
    )  # fmt: skip

    assert set(created) == CA_KEYS
    assert created["name"] == "second-root"
    assert created["parent"] is None
    assert created["subject"] == "O=Example,CN=Second Root"
    assert created["key_type"] == "ec-p384"
    assert created["crl_number"] == 1
    certificate = x509.load_pem_x509_certificate(created["certificate_pem"].encode())
    assert certificate.issuer == certificate.subject
    assert format(certificate.serial_number, "x") == created["serial"]
    days = (certificate.not_valid_after_utc - certificate.not_valid_before_utc).days
    assert days == 30


def test_ca_list_json_lists_root_then_intermediate(pki_template: Certward) -> None:
    cas = pki_template.json("ca", "list")

    assert [(ca["name"], ca["parent"]) for ca in cas] == [("root", None), ("issuing", "root")]
    assert all(set(ca) == CA_KEYS for ca in cas)


def test_ca_list_without_json_prints_a_table_of_names(pki_template: Certward) -> None:
    output = pki_template.run("ca", "list").stdout

    assert "root" in output
    assert "issuing" in output


@pytest.mark.interop
def test_ca_show_prints_pem_that_openssl_parses(pki_template: Certward, openssl: str) -> None:
    pem = pki_template.run("ca", "show", "issuing").stdout

    assert pem.startswith("-----BEGIN CERTIFICATE-----")
    subject = _openssl_x509(openssl, pem, "-subject", "-nameopt", "compat")
    issuer = _openssl_x509(openssl, pem, "-issuer", "-nameopt", "compat")
    assert subject.strip() == f"subject={ISSUING_SUBJECT}"
    assert issuer.strip() == f"issuer={ROOT_SUBJECT}"


def test_ca_show_json_has_the_details(pki_template: Certward) -> None:
    shown = pki_template.json("ca", "show", "issuing")

    assert set(shown) == CA_KEYS
    assert shown["parent"] == "root"
    assert shown["key_type"] == "ec-p256"


@pytest.mark.interop
def test_intermediate_with_path_len_is_signed_by_its_parent(
    certward: Certward, openssl: str, tmp_path: Path
) -> None:
    created = certward.json(
        "ca", "create", "policy", "--subject", "/CN=Policy CA/O=Example",
        "--parent", "root", "--path-len", "0", "--key-type", "rsa-2048",
    )  # fmt: skip

    assert created["parent"] == "root"
    assert created["path_length"] == 0
    assert created["key_type"] == "rsa-2048"
    text = _openssl_x509(openssl, created["certificate_pem"], "-text")
    assert "CA:TRUE, pathlen:0" in text
    assert "Certificate Sign, CRL Sign" in text
    root_pem = tmp_path / "root.pem"
    root_pem.write_text(certward.run("ca", "show", "root").stdout)
    policy_pem = tmp_path / "policy.pem"
    policy_pem.write_text(created["certificate_pem"])
    verified = subprocess.run(
        [openssl, "verify", "-x509_strict", "-CAfile", root_pem, policy_pem],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_ca_show_chain_prints_the_ca_and_its_root(pki_template: Certward) -> None:
    pem = pki_template.run("ca", "show", "issuing", "--chain").stdout

    chain = x509.load_pem_x509_certificates(pem.encode())
    assert [c.subject.rfc4514_string() for c in chain] == [
        "O=certward tests,CN=certward CLI test issuing",
        "O=certward tests,CN=certward CLI test root",
    ]
