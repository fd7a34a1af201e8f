"""``certward slot csr`` on a local data dir: the CSR file, the kept key, --sign-with, refusals."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from tests.cli.runner import Certward, snapshot

SUBJECT = ["--city", "Lyon", "--state", "ARA", "--country", "FR", "--org", "Ex", "--ou", "IT"]


def _slot(certward: Certward, name: str, directory: Path) -> None:
    certward.run("slot", "add", name, "--directory", directory, "--host-name", "csr.example.test")


def test_csr_is_written_and_its_key_pairs_with_the_certificate_installed_later(
    certward: Certward, tmp_path: Path
) -> None:
    _slot(certward, "server/web", tmp_path / "web")
    out = tmp_path / "web.csr"

    certward.run(
        "slot", "csr", "server/web", "--cn", "web.example.test", *SUBJECT,
        "--algorithm", "RSA", "--bits", "3072", "--out", out,
    )  # fmt: skip

    csr = x509.load_pem_x509_csr(out.read_bytes())
    assert csr.is_signature_valid
    assert csr.public_key().key_size == 3072  # type: ignore[union-attr]
    assert b"PRIVATE KEY" not in out.read_bytes()
    chain = tmp_path / "web.crt"
    certward.run(
        "cert", "sign", "--ca", "issuing", "--profile", "server", "--csr", out,
        "--out", chain, "--chain",
    )  # fmt: skip
    certward.run("slot", "install", "server/web", chain)
    key = load_pem_private_key((tmp_path / "web" / "key.pem").read_bytes(), None)
    assert key.public_key() == csr.public_key()


def test_sign_with_installs_in_one_step(certward: Certward, tmp_path: Path) -> None:
    _slot(certward, "client/ldap", tmp_path / "ldap")
    out = tmp_path / "ldap.csr"

    done = certward.json(
        "slot", "csr", "client/ldap", "--cn", "ldap.example.test", *SUBJECT,
        "--sign-with", "issuing", "--out", out, "--json",
    )  # fmt: skip

    assert done["state"] == "succeeded"
    installed = x509.load_pem_x509_certificate((tmp_path / "ldap" / "cert.pem").read_bytes())
    assert installed.public_key() == x509.load_pem_x509_csr(out.read_bytes()).public_key()
    shown = certward.json("slot", "show", "client/ldap", "--json")
    assert [c["id"] for c in shown["certificates"]] == [done["certificate_id"]]


def test_bad_field_is_refused_naming_it_and_nothing_changes(
    certward: Certward, tmp_path: Path
) -> None:
    _slot(certward, "server/web", tmp_path / "web")
    out = tmp_path / "web.csr"
    before = snapshot(certward.data_dir)

    refused = certward.run(
        "slot", "csr", "server/web", "--cn", "web.example.test", "--city", "Lyon",
        "--state", "ARA", "--country", "France", "--org", "Ex", "--ou", "IT", "--out", out,
        check=False,
    )  # fmt: skip

    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "country" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not out.exists()
    assert snapshot(certward.data_dir) == before
