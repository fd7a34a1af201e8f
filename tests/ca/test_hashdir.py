"""sync_hash_directory must produce a CApath that the real openssl accepts, with stable numbers."""

from __future__ import annotations

import datetime
import os
import shutil
import stat
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from certward.ca.hashdir import HashDirEntry, sync_hash_directory
from certward.crypto.subject_hash import certificate_subject_hash, crl_issuer_hash
from certward.errors import Conflict, FilePermissionError, InvalidInput

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
# Never skipped: tests/conftest.py fails interop tests when openssl is missing.
needs_openssl = pytest.mark.interop

_NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Certward Tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


@dataclass(frozen=True)
class _CA:
    """A test CA in the trustme style: ``_CA.root("Root").issue_ca("Sub").issue_leaf("x")``."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def root(cls, common_name: str) -> _CA:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(common_name)
        return cls(key, _ca_builder(subject, subject, key.public_key(), key).sign(key, _SHA))

    def issue_ca(self, common_name: str) -> _CA:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = _ca_builder(_name(common_name), self.cert.subject, key.public_key(), self.key)
        return _CA(key, builder.sign(self.key, _SHA))

    def issue_leaf(self, common_name: str) -> x509.Certificate:
        key = ec.generate_private_key(ec.SECP256R1())
        return (
            _builder(_name(common_name), self.cert.subject, key.public_key(), self.key)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self.key, _SHA)
        )

    def crl(
        self,
        *,
        revoked: Sequence[x509.Certificate] = (),
        number: int = 1,
        last_update: datetime.datetime | None = None,
    ) -> x509.CertificateRevocationList:
        this_update = last_update or _NOW - datetime.timedelta(minutes=5)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(this_update)
            .next_update(this_update + datetime.timedelta(days=7))
            .add_extension(x509.CRLNumber(number), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        for cert in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(cert.serial_number)
                .revocation_date(this_update)
                .build()
            )
        return builder.sign(self.key, _SHA)


_SHA = hashes.SHA256()


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    signer: ec.EllipticCurvePrivateKey,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(_NOW - datetime.timedelta(hours=1))
        .not_valid_after(_NOW + datetime.timedelta(days=30))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False
        )
    )


def _ca_builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    signer: ec.EllipticCurvePrivateKey,
) -> x509.CertificateBuilder:
    return (
        _builder(subject, issuer, public_key, signer)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )


@dataclass(frozen=True)
class _PKI:
    root: _CA
    intermediate: _CA
    good_leaf: x509.Certificate
    revoked_leaf: x509.Certificate
    root_crl: x509.CertificateRevocationList
    intermediate_crl: x509.CertificateRevocationList


@pytest.fixture(scope="module")
def pki() -> _PKI:
    root = _CA.root("Root CA")
    intermediate = root.issue_ca("Issuing CA")
    good, revoked = intermediate.issue_leaf("good"), intermediate.issue_leaf("revoked")
    return _PKI(
        root=root,
        intermediate=intermediate,
        good_leaf=good,
        revoked_leaf=revoked,
        root_crl=root.crl(),
        intermediate_crl=intermediate.crl(revoked=[revoked]),
    )


def _sync_all(directory: Path, pki: _PKI) -> list[HashDirEntry]:
    report = sync_hash_directory(
        directory,
        certificates=[pki.root.cert, pki.intermediate.cert],
        crls=[pki.root_crl, pki.intermediate_crl],
    )
    return list(report.entries)


def _openssl(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OPENSSL, *args],
        input=None if stdin is None else stdin.decode(),
        capture_output=True,
        text=True,
        check=False,
    )


def _verify(
    directory: Path, leaf: x509.Certificate, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    leaf_file = tmp_path / "leaf.pem"
    leaf_file.write_bytes(leaf.public_bytes(Encoding.PEM))
    return _openssl("verify", "-CApath", str(directory), "-crl_check_all", str(leaf_file))


def _snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.name: (p.read_bytes() if p.is_file() else b"", p.stat().st_mtime_ns)
        for p in directory.iterdir()
    }


# -- interoperability with openssl ------------------------------------------


@pytest.mark.interop
@needs_openssl
def test_file_names_agree_with_openssl_hashes(tmp_path: Path, pki: _PKI) -> None:
    directory = tmp_path / "capath"

    entries = _sync_all(directory, pki)

    assert sorted(p.name for p in directory.iterdir()) == sorted(e.file_name for e in entries)
    for entry in entries:
        command = "x509" if entry.kind == "certificate" else "crl"
        result = _openssl(command, "-hash", "-noout", "-in", str(directory / entry.file_name))
        suffix = ".0" if entry.kind == "certificate" else ".r0"
        assert entry.file_name == result.stdout.strip() + suffix


@pytest.mark.interop
@needs_openssl
def test_openssl_verify_accepts_good_leaf_with_crl_check_all(tmp_path: Path, pki: _PKI) -> None:
    directory = tmp_path / "capath"
    _sync_all(directory, pki)

    result = _verify(directory, pki.good_leaf, tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith(": OK")


@pytest.mark.interop
@needs_openssl
def test_openssl_verify_reports_revoked_leaf(tmp_path: Path, pki: _PKI) -> None:
    directory = tmp_path / "capath"
    _sync_all(directory, pki)

    result = _verify(directory, pki.revoked_leaf, tmp_path)

    assert result.returncode != 0
    assert "certificate revoked" in result.stdout + result.stderr


@pytest.mark.interop
@needs_openssl
def test_crl_for_same_issuer_replaces_file_in_place(tmp_path: Path, pki: _PKI) -> None:
    directory = tmp_path / "capath"
    _sync_all(directory, pki)
    newer = pki.intermediate.crl(revoked=[pki.revoked_leaf, pki.good_leaf], number=2)

    report = sync_hash_directory(directory, crls=[newer])

    name = f"{crl_issuer_hash(newer)}.r0"
    assert report.entries == (HashDirEntry(name, "crl", "replaced"),)
    assert (directory / name).read_bytes() == newer.public_bytes(Encoding.PEM)
    assert not (directory / f"{crl_issuer_hash(newer)}.r1").exists()
    result = _verify(directory, pki.good_leaf, tmp_path)
    assert "certificate revoked" in result.stdout + result.stderr


@pytest.mark.interop
@needs_openssl
def test_ca_certificates_with_same_subject_get_consecutive_numbers(tmp_path: Path) -> None:
    first, second = _CA.root("Twin CA"), _CA.root("Twin CA")

    report = sync_hash_directory(tmp_path, certificates=[first.cert, second.cert])

    name_hash = certificate_subject_hash(first.cert)
    assert [e.file_name for e in report.entries] == [f"{name_hash}.0", f"{name_hash}.1"]
    for entry in report.entries:
        result = _openssl("x509", "-hash", "-noout", "-in", str(tmp_path / entry.file_name))
        assert result.stdout.strip() == name_hash
    assert (tmp_path / f"{name_hash}.1").read_bytes() == second.cert.public_bytes(Encoding.PEM)


# -- stable numbering ---------------------------------------------------------


def test_resync_is_idempotent(tmp_path: Path, pki: _PKI) -> None:
    first = _sync_all(tmp_path, pki)
    before = _snapshot(tmp_path)

    second = _sync_all(tmp_path, pki)

    assert [e.file_name for e in second] == [e.file_name for e in first]
    assert {e.action for e in first} == {"created"}
    assert {e.action for e in second} == {"unchanged"}
    assert _snapshot(tmp_path) == before


def test_added_certificate_keeps_existing_numbers(tmp_path: Path) -> None:
    old, new = _CA.root("Twin CA"), _CA.root("Twin CA")
    sync_hash_directory(tmp_path, certificates=[old.cert])

    report = sync_hash_directory(tmp_path, certificates=[new.cert, old.cert])

    name_hash = certificate_subject_hash(old.cert)
    assert report.entries == (
        HashDirEntry(f"{name_hash}.1", "certificate", "created"),
        HashDirEntry(f"{name_hash}.0", "certificate", "unchanged"),
    )
    assert (tmp_path / f"{name_hash}.0").read_bytes() == old.cert.public_bytes(Encoding.PEM)


def test_new_certificate_fills_the_lowest_gap(tmp_path: Path) -> None:
    cas = [_CA.root("Twin CA") for _ in range(3)]
    sync_hash_directory(tmp_path, certificates=[ca.cert for ca in cas[:2]])
    name_hash = certificate_subject_hash(cas[0].cert)
    (tmp_path / f"{name_hash}.0").unlink()

    report = sync_hash_directory(tmp_path, certificates=[cas[2].cert])

    assert report.entries == (HashDirEntry(f"{name_hash}.0", "certificate", "created"),)


def test_unrelated_files_are_left_untouched(tmp_path: Path, pki: _PKI) -> None:
    other = _CA.root("Other CA")
    (tmp_path / "README").write_text("not a certificate")
    (tmp_path / f"{certificate_subject_hash(other.cert)}.0").write_bytes(
        other.cert.public_bytes(Encoding.PEM)
    )
    (tmp_path / "deadbeef.r0").write_bytes(b"garbage")
    (tmp_path / "nested").mkdir()
    before = _snapshot(tmp_path)

    entries = _sync_all(tmp_path, pki)

    after = _snapshot(tmp_path)
    assert {name: after[name] for name in before} == before
    assert set(after) - set(before) == {e.file_name for e in entries}


def test_unparsable_file_keeps_its_number(tmp_path: Path, pki: _PKI) -> None:
    name_hash = certificate_subject_hash(pki.root.cert)
    (tmp_path / f"{name_hash}.0").write_bytes(b"not a certificate")

    report = sync_hash_directory(tmp_path, certificates=[pki.root.cert])

    assert report.entries == (HashDirEntry(f"{name_hash}.1", "certificate", "created"),)
    assert (tmp_path / f"{name_hash}.0").read_bytes() == b"not a certificate"


def test_der_copy_of_certificate_is_rewritten_as_pem(tmp_path: Path, pki: _PKI) -> None:
    # OpenSSL's hash lookup loads PEM only, so a DER file is found but useless.
    name = f"{certificate_subject_hash(pki.root.cert)}.0"
    (tmp_path / name).write_bytes(pki.root.cert.public_bytes(Encoding.DER))

    report = sync_hash_directory(tmp_path, certificates=[pki.root.cert])

    assert report.entries == (HashDirEntry(name, "certificate", "replaced"),)
    assert (tmp_path / name).read_bytes() == pki.root.cert.public_bytes(Encoding.PEM)


def test_der_crl_of_same_issuer_is_replaced(tmp_path: Path, pki: _PKI) -> None:
    name = f"{crl_issuer_hash(pki.root_crl)}.r0"
    (tmp_path / name).write_bytes(pki.root_crl.public_bytes(Encoding.DER))

    report = sync_hash_directory(tmp_path, crls=[pki.root_crl])

    assert report.entries == (HashDirEntry(name, "crl", "replaced"),)
    assert (tmp_path / name).read_bytes() == pki.root_crl.public_bytes(Encoding.PEM)


def test_duplicate_certificate_is_reported_once(tmp_path: Path, pki: _PKI) -> None:
    report = sync_hash_directory(tmp_path, certificates=[pki.root.cert, pki.root.cert])

    assert [e.action for e in report.entries] == ["created"]


# -- CRL issuers ----------------------------------------------------------------


def test_crls_of_rekeyed_issuer_sit_side_by_side(tmp_path: Path) -> None:
    old_key, new_key = _CA.root("Rekeyed CA"), _CA.root("Rekeyed CA")

    report = sync_hash_directory(tmp_path, crls=[old_key.crl(), new_key.crl()])

    name_hash = crl_issuer_hash(old_key.crl())
    assert [e.file_name for e in report.entries] == [f"{name_hash}.r0", f"{name_hash}.r1"]


def test_older_crl_is_refused_and_nothing_is_written(tmp_path: Path, pki: _PKI) -> None:
    newer = pki.intermediate.crl(number=5)
    sync_hash_directory(tmp_path, crls=[newer])
    before = _snapshot(tmp_path)

    with pytest.raises(Conflict):
        sync_hash_directory(
            tmp_path, certificates=[pki.root.cert], crls=[pki.intermediate.crl(number=4)]
        )

    assert _snapshot(tmp_path) == before


def test_crl_without_numbers_is_ordered_by_this_update(tmp_path: Path, pki: _PKI) -> None:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(pki.root.cert.subject)
        .next_update(_NOW + datetime.timedelta(days=1))
    )
    later = builder.last_update(_NOW).sign(pki.root.key, _SHA)
    earlier = builder.last_update(_NOW - datetime.timedelta(hours=1)).sign(pki.root.key, _SHA)
    sync_hash_directory(tmp_path, crls=[later])

    with pytest.raises(Conflict):
        sync_hash_directory(tmp_path, crls=[earlier])


def test_two_different_crls_of_one_issuer_in_one_call_are_refused(
    tmp_path: Path, pki: _PKI
) -> None:
    with pytest.raises(InvalidInput):
        sync_hash_directory(tmp_path, crls=[pki.root.crl(number=1), pki.root.crl(number=2)])

    assert list(tmp_path.iterdir()) == []


# -- the directory itself --------------------------------------------------------


def test_missing_directory_is_created_world_readable(tmp_path: Path, pki: _PKI) -> None:
    directory = tmp_path / "a" / "capath"
    old_umask = os.umask(0o077)
    try:
        entries = _sync_all(directory, pki)
    finally:
        os.umask(old_umask)

    assert stat.S_IMODE(directory.stat().st_mode) == 0o755
    modes = {stat.S_IMODE((directory / e.file_name).stat().st_mode) for e in entries}
    assert modes == {0o644}


def test_path_that_is_a_file_is_refused(tmp_path: Path, pki: _PKI) -> None:
    not_a_dir = tmp_path / "capath"
    not_a_dir.write_text("x")

    with pytest.raises(FilePermissionError):
        sync_hash_directory(not_a_dir, certificates=[pki.root.cert])
