"""``openssl verify`` over certward's hash directory, with every CRL checked."""

from __future__ import annotations

import pytest

from tests.interop.openssl_processes import run_tool
from tests.interop.trust_material import TrustMaterial

pytestmark = pytest.mark.interop


def test_openssl_verify_accepts_an_issued_client_with_crl_check_all(
    trust: TrustMaterial, openssl: str
) -> None:
    result = run_tool(
        openssl, "verify", "-CApath", trust.hashdir, "-crl_check_all", "-x509_strict",
        "-purpose", "sslclient", trust.alice.certificate,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"{trust.alice.certificate}: OK"


def test_openssl_verify_accepts_the_server_for_its_ip_address(
    trust: TrustMaterial, openssl: str
) -> None:
    result = run_tool(
        openssl, "verify", "-CApath", trust.hashdir, "-crl_check_all", "-x509_strict",
        "-purpose", "sslserver", "-verify_ip", "127.0.0.1", trust.server.certificate,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr


def test_openssl_verify_rejects_the_revoked_client_as_certificate_revoked(
    trust: TrustMaterial, openssl: str
) -> None:
    result = run_tool(
        openssl, "verify", "-CApath", trust.hashdir, "-crl_check_all", trust.mallory.certificate
    )

    assert result.returncode != 0
    assert "certificate revoked" in result.stdout + result.stderr


def test_hash_dir_file_names_are_the_hashes_openssl_computes(
    trust: TrustMaterial, openssl: str
) -> None:
    files = sorted(trust.hashdir.iterdir())

    assert len(files) == 4  # root and issuing: a certificate and a CRL each
    assert sorted(entry["file_name"] for entry in trust.hashdir_entries) == [p.name for p in files]
    for path in files:
        name_hash, _, number = path.name.partition(".")
        tool = "crl" if number.startswith("r") else "x509"
        result = run_tool(openssl, tool, "-hash", "-noout", "-in", path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == name_hash, path.name
