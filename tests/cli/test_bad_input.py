"""Refused input: a non-zero exit, one ``error:`` line on stderr, and nothing changed.

Each case arranges a workspace (the data dir ``data/`` and whatever input files it
needs), snapshots everything in it, runs one command that must be refused, and
compares: the database rows, every file and every directory are as they were.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tests.cli.runner import Certward, snapshot

# A profile narrower than "server": P-256 keys only, names under example.com only.
WEB_PROFILE = """
[profiles.web]
base = "server"
allowed_key_types = ["ec-p256"]
allowed_san_patterns = ["DNS:*.example.com"]
"""

Arrange = Callable[[Certward, Path], list[str | Path]]


def _csr(common_name: str, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )


def _ca_serial(certward: Certward, name: str) -> str:
    certificate = x509.load_pem_x509_certificate(
        (certward.data_dir / "published" / name / "ca.crt").read_bytes()
    )
    return format(certificate.serial_number, "x")


def _with_web_profile(certward: Certward) -> None:
    with (certward.data_dir / "certward.toml").open("a") as config:
        config.write(WEB_PROFILE)


def _issue(*options: str | Path, ca: str = "issuing") -> list[str | Path]:
    return ["cert", "issue", "--ca", ca, *options]


def _sign(csr: Path, out: Path, *options: str) -> list[str | Path]:
    return ["cert", "sign", "--ca", "issuing", "--csr", csr, "--out", out, *options]


def malformed_csr(certward: Certward, workspace: Path) -> list[str | Path]:
    csr = workspace / "garbage.csr"
    # PEM armour around base64 of "not a CSR".
    csr.write_text(
        "-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgQ1NS\n-----END CERTIFICATE REQUEST-----\n"
    )
    return _sign(csr, workspace / "out.crt", "--profile", "client")


def empty_csr(certward: Certward, workspace: Path) -> list[str | Path]:
    csr = workspace / "empty.csr"
    csr.write_bytes(b"")
    return _sign(csr, workspace / "out.crt", "--profile", "client")


def csr_with_wrong_signature(certward: Certward, workspace: Path) -> list[str | Path]:
    # Same length, one letter changed: still parses, but the signature no longer matches.
    der = _csr("tamper-me", ec.generate_private_key(ec.SECP256R1()))
    csr = workspace / "tampered.csr"
    csr.write_bytes(der.replace(b"tamper-me", b"tamper-mE"))
    return _sign(csr, workspace / "out.crt", "--profile", "client")


def unknown_ca(certward: Certward, workspace: Path) -> list[str | Path]:
    return _issue("--profile", "client", "--cn", "x", "--out", workspace / "out", ca="nope")


def unknown_profile(certward: Certward, workspace: Path) -> list[str | Path]:
    return _issue("--profile", "nope", "--cn", "x", "--out", workspace / "out")


def unknown_key_type(certward: Certward, workspace: Path) -> list[str | Path]:
    return _issue(
        "--profile", "client", "--cn", "x", "--key-type", "dsa-1024", "--out", workspace / "out"
    )


def key_type_not_allowed(certward: Certward, workspace: Path) -> list[str | Path]:
    _with_web_profile(certward)
    return _issue(
        "--profile", "web", "--cn", "www.example.com", "--san", "DNS:www.example.com",
        "--key-type", "rsa-2048", "--out", workspace / "out",
    )  # fmt: skip


def csr_key_type_not_allowed(certward: Certward, workspace: Path) -> list[str | Path]:
    _with_web_profile(certward)
    csr = workspace / "rsa.csr"
    csr.write_bytes(_csr("www.example.com", rsa.generate_private_key(65537, 2048)))
    return _sign(csr, workspace / "out.crt", "--profile", "web")


def san_not_allowed(certward: Certward, workspace: Path) -> list[str | Path]:
    _with_web_profile(certward)
    return _issue(
        "--profile", "web", "--cn", "evil.test", "--san", "DNS:evil.test",
        "--out", workspace / "out",
    )  # fmt: skip


def san_required(certward: Certward, workspace: Path) -> list[str | Path]:
    return _issue("--profile", "server", "--cn", "web", "--out", workspace / "out")


def malformed_san(certward: Certward, workspace: Path) -> list[str | Path]:
    return _issue(
        "--profile", "client", "--cn", "x", "--san", "FOO:bar", "--out", workspace / "out"
    )


def validity_beyond_profile(certward: Certward, workspace: Path) -> list[str | Path]:
    return _issue("--profile", "client", "--cn", "x", "--days", "10000", "--out", workspace / "out")


def duplicate_ca_name(certward: Certward, workspace: Path) -> list[str | Path]:
    return ["ca", "create", "root", "--subject", "/CN=Another Root"]


def garbage_subject(certward: Certward, workspace: Path) -> list[str | Path]:
    return ["ca", "create", "third", "--subject", "garbage"]


def invalid_ca_name(certward: Certward, workspace: Path) -> list[str | Path]:
    return ["ca", "create", "../escape", "--subject", "/CN=Escape"]


def revoked_issuer(certward: Certward, workspace: Path) -> list[str | Path]:
    certward.run("cert", "revoke", _ca_serial(certward, "issuing"), "--reason", "cACompromise")
    return _issue("--profile", "client", "--cn", "x", "--out", workspace / "out")


def parent_with_path_length_zero(certward: Certward, workspace: Path) -> list[str | Path]:
    certward.run(
        "ca", "create", "leaf-ca", "--subject", "/CN=Leaf CA", "--parent", "root", "--path-len", "0"
    )
    return ["ca", "create", "below", "--subject", "/CN=Below", "--parent", "leaf-ca"]


def password_too_long(certward: Certward, workspace: Path) -> list[str | Path]:
    password = workspace / "password.txt"
    password.write_text("too-long-Secret-" * 10)
    return _issue(
        "--profile", "client", "--cn", "x", "--out", workspace / "out",
        "--key-password-file", password,
    )  # fmt: skip


def password_file_missing(certward: Certward, workspace: Path) -> list[str | Path]:
    return _issue(
        "--profile", "client", "--cn", "x", "--out", workspace / "out",
        "--key-password-file", workspace / "absent.txt",
    )  # fmt: skip


def output_files_exist(certward: Certward, workspace: Path) -> list[str | Path]:
    (workspace / "out").mkdir()
    (workspace / "out" / "alice.crt").write_text("someone else's certificate\n")
    return _issue("--profile", "client", "--cn", "alice", "--out", workspace / "out")


def output_dir_under_a_file(certward: Certward, workspace: Path) -> list[str | Path]:
    (workspace / "plain-file").write_text("not a directory\n")
    return _issue("--profile", "client", "--cn", "alice", "--out", workspace / "plain-file" / "out")


def sign_out_in_missing_directory(certward: Certward, workspace: Path) -> list[str | Path]:
    csr = workspace / "good.csr"
    csr.write_bytes(_csr("good", ec.generate_private_key(ec.SECP256R1())))
    return _sign(csr, workspace / "absent" / "good.crt", "--profile", "client")


def crl_out_in_missing_directory(certward: Certward, workspace: Path) -> list[str | Path]:
    return ["crl", "publish", "--ca", "issuing", "--out", workspace / "absent" / "crl.pem"]


def revoke_unknown_serial(certward: Certward, workspace: Path) -> list[str | Path]:
    return ["cert", "revoke", "0123456789abcdef"]


def revoke_with_unknown_reason(certward: Certward, workspace: Path) -> list[str | Path]:
    return ["cert", "revoke", _ca_serial(certward, "issuing"), "--reason", "boredom"]


def revoke_a_root(certward: Certward, workspace: Path) -> list[str | Path]:
    return ["cert", "revoke", _ca_serial(certward, "root")]


def revoke_twice(certward: Certward, workspace: Path) -> list[str | Path]:
    serial = _ca_serial(certward, "issuing")
    certward.run("cert", "revoke", serial)
    return ["cert", "revoke", serial, "--reason", "superseded"]


def hashdir_of_unknown_ca(certward: Certward, workspace: Path) -> list[str | Path]:
    return ["hashdir", "sync", workspace / "hashdir", "--ca", "root", "--ca", "nope", "--crl"]


REFUSALS = {
    malformed_csr: "input.malformed",
    empty_csr: "input.malformed",
    csr_with_wrong_signature: "csr.signature_invalid",
    unknown_ca: "ca.not_found",
    unknown_profile: "policy.profile_not_found",
    unknown_key_type: "input.invalid",
    key_type_not_allowed: "policy.key_type_not_allowed",
    csr_key_type_not_allowed: "policy.key_type_not_allowed",
    san_not_allowed: "policy.san_not_allowed",
    san_required: "policy.san_required",
    malformed_san: "input.invalid",
    validity_beyond_profile: "input.invalid_validity",
    duplicate_ca_name: "ca.exists",
    garbage_subject: "input.invalid_subject",
    invalid_ca_name: "input.invalid_name",
    revoked_issuer: "ca.issuer_not_usable",
    parent_with_path_length_zero: "ca.issuer_not_usable",
    password_too_long: "input.password",
    password_file_missing: "input.invalid",
    output_files_exist: "conflict",
    output_dir_under_a_file: "input.invalid",
    sign_out_in_missing_directory: "input.invalid",
    crl_out_in_missing_directory: "input.invalid",
    revoke_unknown_serial: "certificate.not_found",
    revoke_with_unknown_reason: "input.invalid",
    revoke_a_root: "certificate.not_revocable",
    revoke_twice: "certificate.already_revoked",
    hashdir_of_unknown_ca: "ca.not_found",
}


@pytest.mark.parametrize(
    ("arrange", "code"), [pytest.param(a, c, id=a.__name__) for a, c in REFUSALS.items()]
)
def test_refused_command_prints_one_error_line_and_changes_nothing(
    certward: Certward, tmp_path: Path, arrange: Arrange, code: str
) -> None:
    args = arrange(certward, tmp_path)
    before = snapshot(tmp_path)

    result = certward.run(*args, check=False)

    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert lines[0].endswith(f"[{code}]")
    assert result.stdout == ""
    assert snapshot(tmp_path) == before
