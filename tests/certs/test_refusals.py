"""Every refused upload (the OpenBMC error cases) leaves the slot's files and records alone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from certward.ca.context import CAContext
from certward.certs.manager import install_certificate, replace_certificate
from certward.errors import (
    CertificateKeyMismatch,
    CertwardError,
    DuplicateCertificate,
    InvalidCertificate,
    PasswordError,
    SlotLimitReached,
    SlotNotAllowed,
)
from tests.certs.conftest import MakeSlot, database_state, directory_state
from tests.certs.factory import TestCA

Attempt = Callable[[CAContext, TestCA], object]


def _server_upload(ca: TestCA) -> bytes:
    return ca.issue("occupied.example.test").bundle_pem


def _install(slot: str, pem: bytes, **kwargs: object) -> Attempt:
    def attempt(ctx: CAContext, _ca: TestCA) -> object:
        return install_certificate(ctx, slot, pem, actor="t", **kwargs)  # type: ignore[arg-type]

    return attempt


OTHER = TestCA("Unrelated CA")
LEAF = OTHER.issue("x.example.test")
RSA_ONLY_EC = OTHER.issue("ec.example.test", key="ec")
ED25519 = OTHER.issue("ed.example.test", key="ed25519")
OLD = OTHER.issue("old.example.test", not_before=datetime(1969, 12, 1, tzinfo=UTC))
IMPOSTOR = TestCA("Slot Test Root")  # same name as the slot's truststore root, other key

CASES: list[tuple[str, str, Attempt, type[CertwardError]]] = [
    ("empty", "server/https", _install("server/https", b""), InvalidCertificate),
    ("blank", "server/https", _install("server/https", b" \n\n"), InvalidCertificate),
    ("garbage", "server/https", _install("server/https", b"not a pem"), InvalidCertificate),
    (
        "broken PEM",
        "server/https",
        _install("server/https", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
        InvalidCertificate,
    ),
    (
        "key mismatch",
        "server/https",
        _install("server/https", LEAF.chain_pem + OTHER.issue().key_pem),
        CertificateKeyMismatch,
    ),
    (
        "no key and no CSR key",
        "server/https",
        _install("server/https", LEAF.chain_pem),
        InvalidCertificate,
    ),
    (
        "key type not allowed",
        "server/rsaonly",
        _install("server/rsaonly", RSA_ONLY_EC.bundle_pem),
        InvalidCertificate,
    ),
    ("ed25519", "server/https", _install("server/https", ED25519.bundle_pem), InvalidCertificate),
    (
        "notBefore 1969",
        "server/https",
        _install("server/https", OLD.bundle_pem),
        InvalidCertificate,
    ),
    (
        "chain signature broken",
        "server/https",
        _install(
            "server/https",
            LEAF.cert_pem + TestCA("Unrelated CA").cert_pem + LEAF.key_pem,
        ),
        InvalidCertificate,
    ),
    (
        "untrusted chain",
        "server/trusted",
        _install("server/trusted", LEAF.bundle_pem),
        InvalidCertificate,
    ),
    (
        "impostor root",
        "server/trusted",
        _install("server/trusted", IMPOSTOR.issue("i.example.test").bundle_pem),
        InvalidCertificate,
    ),
    (
        "encrypted key without password",
        "server/https",
        lambda ctx, ca: install_certificate(
            ctx, "server/https", ca.issue().chain_pem, actor="t", key_pem=_encrypted(ca)
        ),
        PasswordError,
    ),
    (
        "second certificate",
        "server/occupied",
        lambda ctx, ca: install_certificate(ctx, "server/occupied", _server_upload(ca), actor="t"),
        SlotNotAllowed,
    ),
    (
        "private key in an authority upload",
        "authority/truststore",
        _install("authority/truststore", OTHER.issue().bundle_pem),
        InvalidCertificate,
    ),
    (
        "duplicate authority",
        "authority/truststore",
        lambda ctx, ca: install_certificate(ctx, "authority/truststore", ca.cert_pem, actor="t"),
        DuplicateCertificate,
    ),
    (
        "eleventh authority",
        "authority/full",
        _install("authority/full", TestCA("Eleventh").cert_pem),
        SlotLimitReached,
    ),
    (
        "replace with a mismatching key",
        "server/occupied",
        lambda ctx, ca: replace_certificate(
            ctx,
            "server/occupied",
            _only_id(ctx, "server/occupied"),
            LEAF.chain_pem + OTHER.issue().key_pem,
            actor="t",
        ),
        CertificateKeyMismatch,
    ),
]


def _encrypted(ca: TestCA) -> bytes:
    from cryptography.hazmat.primitives.serialization import (
        BestAvailableEncryption,
        Encoding,
        PrivateFormat,
    )

    return ca.issue().key.private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(b"secret")
    )


def _only_id(ctx: CAContext, slot: str) -> str:
    from certward.certs.manager import list_certificates

    return list_certificates(ctx, slot)[0].id


@pytest.fixture
def slots(ca_context: CAContext, make_slot: MakeSlot, ca: TestCA) -> None:
    """Every slot the cases need, with their contents."""
    make_slot("server/https")
    make_slot("server/rsaonly", key_types=["RSA"])
    make_slot("authority/truststore")
    make_slot("server/trusted", truststore="authority/truststore")
    make_slot("server/occupied")
    make_slot("authority/full")
    install_certificate(ca_context, "authority/truststore", ca.cert_pem, actor="t")
    install_certificate(ca_context, "server/occupied", _server_upload(ca), actor="t")
    for number in range(10):
        install_certificate(
            ca_context, "authority/full", TestCA(f"Full {number}").cert_pem, actor="t"
        )


@pytest.mark.usefixtures("slots")
@pytest.mark.parametrize(
    ("slot", "attempt", "error"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_a_refused_upload_changes_nothing(
    ca_context: CAContext,
    ca: TestCA,
    slot: str,
    attempt: Attempt,
    error: type[CertwardError],
) -> None:
    from certward.certs.slots import get_slot

    directory = get_slot(ca_context, slot).directory
    files_before = directory_state(directory)
    records_before = database_state(ca_context, slot)

    with pytest.raises(error) as raised:
        attempt(ca_context, ca)

    assert raised.value.status == 400
    assert directory_state(directory) == files_before
    assert database_state(ca_context, slot) == records_before


def test_messages_name_the_problem(ca_context: CAContext, make_slot: MakeSlot) -> None:
    make_slot("server/https")

    with pytest.raises(CertificateKeyMismatch, match="key mismatch"):
        install_certificate(
            ca_context, "server/https", LEAF.chain_pem + OTHER.issue().key_pem, actor="t"
        )
    with pytest.raises(InvalidCertificate, match="empty"):
        install_certificate(ca_context, "server/https", b"", actor="t")
