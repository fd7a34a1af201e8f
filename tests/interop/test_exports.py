"""The files certward writes open in openssl: PKCS#12, encrypted PKCS#8 keys, CRLs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.interop.openssl_processes import run_tool
from tests.interop.trust_material import TrustMaterial

pytestmark = pytest.mark.interop


def _wrong_password_file(tmp_path: Path) -> Path:
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not-the-password\n")
    return wrong


def test_pkcs12_opens_with_its_password(trust: TrustMaterial, openssl: str) -> None:
    assert trust.server.pkcs12 is not None

    result = run_tool(
        openssl, "pkcs12", "-info", "-in", trust.server.pkcs12,
        "-passin", f"file:{trust.password_file}", "-noout",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    # Reading the shrouded key bag needs the password too, not just the MAC check.
    assert "Shrouded Keybag: PBES2" in result.stderr + result.stdout


def test_pkcs12_refuses_a_wrong_password(
    trust: TrustMaterial, openssl: str, tmp_path: Path
) -> None:
    assert trust.server.pkcs12 is not None

    result = run_tool(
        openssl, "pkcs12", "-info", "-in", trust.server.pkcs12,
        "-passin", f"file:{_wrong_password_file(tmp_path)}", "-noout",
    )  # fmt: skip

    assert result.returncode != 0
    assert "Mac verify error" in result.stderr + result.stdout


def test_encrypted_key_opens_with_pkey_passin(trust: TrustMaterial, openssl: str) -> None:
    result = run_tool(
        openssl, "pkey", "-in", trust.server.key, "-passin", f"file:{trust.password_file}", "-noout"
    )

    assert result.returncode == 0, result.stderr


def test_encrypted_key_refuses_a_wrong_password(
    trust: TrustMaterial, openssl: str, tmp_path: Path
) -> None:
    result = run_tool(
        openssl, "pkey", "-in", trust.server.key,
        "-passin", f"file:{_wrong_password_file(tmp_path)}", "-noout",
    )  # fmt: skip

    assert result.returncode != 0


def test_crl_text_shows_the_crl_number_and_the_reason(trust: TrustMaterial, openssl: str) -> None:
    result = run_tool(openssl, "crl", "-in", trust.issuing_crl, "-text", "-noout")

    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "X509v3 CRL Number" in text
    assert "X509v3 Authority Key Identifier" in text
    revoked = [int(serial, 16) for serial in re.findall(r"Serial Number: ([0-9A-F]+)", text)]
    assert revoked == [int(trust.mallory.serial, 16)]
    assert "Key Compromise" in text


def test_crl_is_signed_by_its_ca(trust: TrustMaterial, openssl: str) -> None:
    result = run_tool(
        openssl, "crl", "-in", trust.issuing_crl, "-CAfile", trust.issuing_pem, "-noout"
    )

    assert result.returncode == 0, result.stderr
    assert "verify OK" in result.stderr + result.stdout
