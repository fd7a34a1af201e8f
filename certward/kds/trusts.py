"""The KDS trust anchors: certificates (and CRLs) from a file or a one-level directory.

Like Limax's ``trustsPath``, a file may be in any common format and a directory
is read one level deep; an entry that cannot be read is skipped with a warning,
never a failure. Accepted:

- PEM with any mix of ``CERTIFICATE``, ``X509 CRL`` and ``PKCS7`` blocks;
- DER certificate, DER CRL, DER PKCS#7 (``.p7b``);
- PKCS#12 without password or protected by the KDS key's passphrase (every
  certificate in it is trusted, the private key, if any, is dropped).

Java KeyStore files (JKS) are not read: convert them to PKCS#12 with keytool.
CRLs found here feed revocation checks (see :mod:`certward.kds.revocation`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from certward.errors import ConfigError

__all__ = ["TrustMaterial", "load_trusts", "trust_files", "trust_files_state"]

_log = structlog.get_logger()
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL)
# A trust file is a certificate bundle, not a data set: refuse to read something huge.
_MAX_FILE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class TrustMaterial:
    """Trusted certificates (no duplicates, in the order found) and the CRLs found with them."""

    certificates: tuple[x509.Certificate, ...]
    crls: tuple[x509.CertificateRevocationList, ...]

    def __add__(self, other: TrustMaterial) -> TrustMaterial:
        return _unique(self.certificates + other.certificates, self.crls + other.crls)


def trust_files(path: Path) -> list[Path]:
    """The files a trusts path names: the file itself, or a directory's regular files (sorted)."""
    path = Path(path)
    if path.is_dir():
        return sorted(entry for entry in path.iterdir() if entry.is_file())
    if path.is_file():
        return [path]
    raise ConfigError(f"KDS trusts path {path} is neither a file nor a directory")


def trust_files_state(path: Path) -> tuple[tuple[str, int, float], ...]:
    """Names, sizes and modification times of the trust files (to notice a change)."""
    state = []
    try:
        for entry in trust_files(path):
            try:
                stat = entry.stat()
            except OSError:
                continue
            state.append((entry.name, stat.st_size, stat.st_mtime))
    except (ConfigError, OSError):
        return ()
    return tuple(state)


def load_trusts(path: Path, *, passphrase: bytes | None = None) -> TrustMaterial:
    """Every certificate and CRL readable under ``path``; unreadable entries are skipped."""
    certificates: list[x509.Certificate] = []
    crls: list[x509.CertificateRevocationList] = []
    for entry in trust_files(path):
        try:
            data = _read(entry)
            found_certificates, found_crls = _parse(data, passphrase)
        except (OSError, ValueError) as exc:
            _log.warning("kds.trust_entry_ignored", path=str(entry), reason=_reason(exc))
            continue
        if not found_certificates and not found_crls:
            _log.warning("kds.trust_entry_ignored", path=str(entry), reason="no certificate")
            continue
        certificates += found_certificates
        crls += found_crls
    return _unique(tuple(certificates), tuple(crls))


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    # cryptography's messages name formats and never echo passwords.
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _read(entry: Path) -> bytes:
    with entry.open("rb") as handle:
        data = handle.read(_MAX_FILE_BYTES + 1)
    if len(data) > _MAX_FILE_BYTES:
        raise ValueError(f"larger than {_MAX_FILE_BYTES} bytes")
    return data


def _parse(
    data: bytes, passphrase: bytes | None
) -> tuple[list[x509.Certificate], list[x509.CertificateRevocationList]]:
    if b"-----BEGIN " in data:
        return _parse_pem(data)
    for loader in (_der_certificate, _der_crl, _der_pkcs7):
        try:
            return loader(data)
        except ValueError:
            continue
    return _pkcs12(data, passphrase), []


def _parse_pem(
    data: bytes,
) -> tuple[list[x509.Certificate], list[x509.CertificateRevocationList]]:
    certificates: list[x509.Certificate] = []
    crls: list[x509.CertificateRevocationList] = []
    for match in _PEM_BLOCK.finditer(data):
        kind, block = match.group(1), match.group(0)
        if kind == b"CERTIFICATE":
            certificates.append(x509.load_pem_x509_certificate(block))
        elif kind == b"X509 CRL":
            crls.append(x509.load_pem_x509_crl(block))
        elif kind == b"PKCS7":
            certificates += pkcs7.load_pem_pkcs7_certificates(block)
    return certificates, crls


def _der_certificate(
    data: bytes,
) -> tuple[list[x509.Certificate], list[x509.CertificateRevocationList]]:
    return [x509.load_der_x509_certificate(data)], []


def _der_crl(data: bytes) -> tuple[list[x509.Certificate], list[x509.CertificateRevocationList]]:
    return [], [x509.load_der_x509_crl(data)]


def _der_pkcs7(data: bytes) -> tuple[list[x509.Certificate], list[x509.CertificateRevocationList]]:
    return list(pkcs7.load_der_pkcs7_certificates(data)), []


def _pkcs12(data: bytes, passphrase: bytes | None) -> list[x509.Certificate]:
    attempts: list[bytes | None] = [None, b""]
    if passphrase:
        attempts.append(passphrase)
    for password in attempts:
        try:
            bundle = pkcs12.load_pkcs12(data, password)
        except ValueError:
            continue
        found = [bundle.cert] if bundle.cert is not None else []
        found += list(bundle.additional_certs)
        return [item.certificate for item in found]
    raise ValueError("not a certificate, CRL, PKCS#7 or PKCS#12 readable with the passphrase")


def _unique(
    certificates: tuple[x509.Certificate, ...], crls: tuple[x509.CertificateRevocationList, ...]
) -> TrustMaterial:
    return TrustMaterial(
        certificates=tuple(_by_fingerprint(certificates)),
        crls=tuple(_by_fingerprint(crls)),
    )


_Item = TypeVar("_Item", x509.Certificate, x509.CertificateRevocationList)


def _by_fingerprint(items: tuple[_Item, ...]) -> Iterator[_Item]:
    seen: set[bytes] = set()
    for item in items:
        fingerprint = item.fingerprint(hashes.SHA256())
        if fingerprint not in seen:
            seen.add(fingerprint)
            yield item
