"""An upload for a slot, parsed and checked in the reference's order (no database here).

1. empty or unreadable → InvalidCertificate;
2. PEM: the certificate first, then any chain; a private key for server and
   client slots (or, later, the slot's pending CSR key); key type allowed;
3. the key must match the certificate ("key mismatch");
4. the chain verifies against the upload itself and, when the slot names a
   truststore, ends at one of its certificates; expired certificates are
   accepted (a BMC may have no clock), a notBefore before 1970 is not.

Steps 5 and 6 (one certificate per server/client slot, authority limit and
duplicates) need the slot's contents and live with the install.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from certward.certs.slots import SlotSpec
from certward.crypto.keys import SigningKey, load_private_key
from certward.errors import (
    CertificateKeyMismatch,
    InvalidCertificate,
    KeyTypeNotAllowed,
    MalformedData,
)

__all__ = ["Upload", "check_chain", "check_key_matches", "check_key_type", "parse_upload"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_CHAIN_DEPTH = 10
_SHA256 = hashes.SHA256()
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL)


@dataclass(frozen=True)
class Upload:
    """A parsed upload: the certificate, the certificates sent with it, the key if any."""

    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    key: SigningKey | None = field(repr=False)


def parse_upload(
    spec: SlotSpec, pem: bytes, *, key_pem: bytes | None = None, password: bytes | None = None
) -> Upload:
    """Steps 1 and 2: the certificate (first in ``pem``), its chain and key, key type checked.

    The key may be in ``pem`` or in ``key_pem``; ``password`` opens an encrypted key.
    Authority slots take certificates only.
    """
    if not pem or not pem.strip():
        raise InvalidCertificate("the certificate upload is empty")
    blocks = [(match[1].decode("ascii"), match[0]) for match in _PEM_BLOCK.finditer(pem)]
    if key_pem is not None:
        blocks += [(match[1].decode("ascii"), match[0]) for match in _PEM_BLOCK.finditer(key_pem)]
        if not any(kind.endswith("PRIVATE KEY") for kind, _ in blocks):
            raise InvalidCertificate("the key upload holds no PEM private key")
    certificates: list[x509.Certificate] = []
    keys: list[bytes] = []
    for kind, block in blocks:
        if kind in ("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"):
            try:
                certificates.append(x509.load_pem_x509_certificate(block))
            except ValueError:
                raise InvalidCertificate(
                    "the upload holds a certificate that does not parse"
                ) from None
        elif kind.endswith("PRIVATE KEY"):
            keys.append(block)
    if not certificates:
        raise InvalidCertificate("the upload holds no PEM certificate")
    if len(keys) > 1:
        raise InvalidCertificate("the upload holds more than one private key")
    if keys and not spec.holds_key:
        raise InvalidCertificate(
            f"slot {spec.name} holds CA certificates only; remove the private key from the upload"
        )
    key = _load_key(keys[0], password) if keys else None
    certificate = certificates[0]
    check_key_type(spec, certificate.public_key())
    return Upload(certificate=certificate, chain=tuple(certificates[1:]), key=key)


def _load_key(block: bytes, password: bytes | None) -> SigningKey:
    try:
        return load_private_key(block, password=password)
    except (MalformedData, KeyTypeNotAllowed) as exc:
        raise InvalidCertificate(f"the private key is not usable: {exc.message}") from None


def check_key_type(spec: SlotSpec, key: CertificatePublicKeyTypes) -> None:
    """InvalidCertificate unless ``key`` is of a type the slot takes (RSA, EC)."""
    if isinstance(key, rsa.RSAPublicKey):
        name = "RSA"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        name = "EC"
    else:
        name = type(key).__name__.removeprefix("_").removesuffix("PublicKey") or "unknown"
    if name not in spec.key_types:
        allowed = ", ".join(spec.key_types)
        raise InvalidCertificate(
            f"slot {spec.name} takes {allowed} keys; the certificate has a {name} key"
        )


def check_key_matches(certificate: x509.Certificate, key: SigningKey) -> None:
    """Step 3: CertificateKeyMismatch unless ``key`` is the certificate's private key."""
    if _spki(key.public_key()) != _spki(certificate.public_key()):
        raise CertificateKeyMismatch(
            "key mismatch: the private key does not belong to the certificate"
        )


def _spki(key: CertificatePublicKeyTypes) -> bytes:
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def check_chain(
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate],
    *,
    anchors: Sequence[x509.Certificate] | None,
    truststore: str | None = None,
) -> None:
    """Step 4: the certificate verifies up its chain; with ``anchors``, it ends at one of them.

    Without anchors a missing issuer is accepted (as OpenBMC does), but every
    signature that can be checked must hold.
    """
    if certificate.not_valid_before_utc < _EPOCH:
        raise InvalidCertificate("the certificate's notBefore is before 1970")
    current = certificate
    seen = {current.fingerprint(_SHA256)}
    for _ in range(_MAX_CHAIN_DEPTH):
        if anchors is not None and any(_issued_by(current, anchor) for anchor in anchors):
            return
        if current.issuer == current.subject and _issued_by(current, current):
            if anchors is None:
                return
            raise InvalidCertificate(
                f"untrusted chain: {current.subject.rfc4514_string()} is not in {truststore}"
            )
        candidates = [
            c for c in chain if c.subject == current.issuer and c.fingerprint(_SHA256) not in seen
        ]
        issuer = next((c for c in candidates if _issued_by(current, c)), None)
        if issuer is None:
            if candidates or current.issuer == current.subject:
                raise InvalidCertificate(
                    "the certificate chain does not verify: the signature of "
                    f"{current.subject.rfc4514_string()} is not valid"
                )
            if anchors is None:
                return
            raise InvalidCertificate(
                f"untrusted chain: no certificate of {truststore} issued "
                f"{current.subject.rfc4514_string()}"
            )
        seen.add(issuer.fingerprint(_SHA256))
        current = issuer
    raise InvalidCertificate(f"the certificate chain is longer than {_MAX_CHAIN_DEPTH}")


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
