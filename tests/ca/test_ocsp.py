"""The OCSP responder: statuses, nonces, the delegated signer, the cache and bad requests."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from certward.ca.authority import ca_chain
from certward.ca.context import CAContext
from certward.ca.factory import IssuedCertificate
from certward.ca.inventory import get_certificate
from certward.ca.ocsp import OCSPOutcome, OCSPResponder
from certward.ca.ocsp_signer import RESPONDER_PROFILE
from certward.ca.revoke import revoke_certificate
from certward.config import OcspSettings
from tests.support.pki import PKI

# OCSP CertIDs name the issuer by SHA-1 hashes (RFC 5019); not a security use.
CERTID_SHA1 = hashes.SHA1()  # noqa: S303


@pytest.fixture
def responder(pki: PKI) -> OCSPResponder:
    """A responder that looks for revocations on every request (poll interval 0)."""
    return OCSPResponder(pki.context, OcspSettings(), poll_seconds=0)


def _request(
    issued: IssuedCertificate,
    *,
    issuer: x509.Certificate | None = None,
    nonce: bytes | None = None,
    algorithm: hashes.HashAlgorithm | None = None,
) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(
        issued.certificate, issuer or issued.chain[0], algorithm or CERTID_SHA1
    )
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def _parsed(der: bytes) -> ocsp.OCSPResponse:
    return ocsp.load_der_ocsp_response(der)


def _verify_signed_by_responder(response: ocsp.OCSPResponse, ca: x509.Certificate) -> None:
    """The response is signed by its embedded responder, which the CA issued for OCSP."""
    (signer,) = response.certificates
    signer.verify_directly_issued_by(ca)
    public_key = signer.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(
        response.signature,
        response.tbs_response_bytes,
        ec.ECDSA(response.signature_hash_algorithm),
    )


def test_an_issued_certificate_is_good_and_signed_by_a_delegated_responder(
    pki: PKI, responder: OCSPResponder
) -> None:
    issued = pki.issue_server("good.example")

    answer = responder.respond("issuing", _request(issued))

    response = _parsed(answer.der)
    assert answer.outcome is OCSPOutcome.GOOD
    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert response.serial_number == issued.certificate.serial_number
    assert response.next_update_utc - response.this_update_utc == timedelta(hours=1)
    _verify_signed_by_responder(response, issued.chain[0])


def test_the_responder_certificate_is_for_ocsp_signing_with_nocheck(
    pki: PKI, responder: OCSPResponder
) -> None:
    response = _parsed(responder.respond("issuing", _request(pki.issue_server())).der)

    (signer,) = response.certificates
    eku = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.OCSP_SIGNING]
    assert signer.extensions.get_extension_for_class(x509.OCSPNoCheck).value == x509.OCSPNoCheck()
    assert signer.not_valid_after_utc - signer.not_valid_before_utc <= timedelta(days=31)
    stored = get_certificate(pki.context, format(signer.serial_number, "x"))
    assert stored.profile == RESPONDER_PROFILE.name  # kept like any other certificate


def test_a_revoked_certificate_is_revoked_with_its_time_and_reason(
    pki: PKI, responder: OCSPResponder
) -> None:
    issued = pki.issue_server("revoked.example")
    before = responder.respond("issuing", _request(issued))
    revoked = revoke_certificate(pki.context, issued.serial, reason="keyCompromise")

    answer = responder.respond("issuing", _request(issued))

    response = _parsed(answer.der)
    assert before.outcome is OCSPOutcome.GOOD
    assert answer.outcome is OCSPOutcome.REVOKED
    assert response.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_time_utc == revoked.revoked_at
    assert response.revocation_reason is x509.ReasonFlags.key_compromise


def test_a_revocation_without_a_reason_has_none(pki: PKI, responder: OCSPResponder) -> None:
    issued = pki.issue_server("no-reason.example")
    revoke_certificate(pki.context, issued.serial)

    response = _parsed(responder.respond("issuing", _request(issued)).der)

    assert response.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_reason is None


def test_a_serial_the_ca_never_issued_is_unknown(pki: PKI, responder: OCSPResponder) -> None:
    issued = pki.issue_server("known.example")
    builder = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        _parsed_request(_request(issued)).issuer_name_hash,
        _parsed_request(_request(issued)).issuer_key_hash,
        0x1234567,
        CERTID_SHA1,
    )

    answer = responder.respond("issuing", builder.build().public_bytes(serialization.Encoding.DER))

    assert answer.outcome is OCSPOutcome.UNKNOWN
    assert _parsed(answer.der).certificate_status is ocsp.OCSPCertStatus.UNKNOWN
    assert answer.max_age is None  # may become good later: never cached


def _parsed_request(der: bytes) -> ocsp.OCSPRequest:
    return ocsp.load_der_ocsp_request(der)


def test_the_nonce_is_echoed_and_such_answers_are_signed_afresh(
    pki: PKI, responder: OCSPResponder
) -> None:
    issued = pki.issue_server("nonce.example")

    first = responder.respond("issuing", _request(issued, nonce=b"n" * 16))
    second = responder.respond("issuing", _request(issued, nonce=b"m" * 16))

    nonce = _parsed(first.der).extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    assert nonce == b"n" * 16
    assert _parsed(second.der).extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == (
        b"m" * 16
    )
    assert first.max_age is None


def test_a_nonceless_answer_is_signed_once_and_served_again(
    pki: PKI, responder: OCSPResponder
) -> None:
    issued = pki.issue_server("cached.example")

    first = responder.respond("issuing", _request(issued))
    second = responder.respond("issuing", _request(issued))

    assert first.der == second.der  # the same signed bytes: not signed twice
    assert first.max_age == 1800


def test_every_certid_hash_algorithm_is_answered(pki: PKI, responder: OCSPResponder) -> None:
    issued = pki.issue_server("hashes.example")

    for algorithm in (CERTID_SHA1, hashes.SHA256(), hashes.SHA384(), hashes.SHA512()):
        answer = responder.respond("issuing", _request(issued, algorithm=algorithm))

        assert answer.outcome is OCSPOutcome.GOOD, algorithm.name
        assert _parsed(answer.der).hash_algorithm.name == algorithm.name


def test_a_certificate_of_another_ca_is_unauthorized(pki: PKI, responder: OCSPResponder) -> None:
    issued = pki.issue_server("elsewhere.example")
    root = ca_chain(pki.context, "root")[0]

    wrong_issuer = responder.respond("issuing", _request(issued, issuer=root))
    wrong_ca = responder.respond("root", _request(issued))
    no_such_ca = responder.respond("nobody", _request(issued))

    for answer in (wrong_issuer, wrong_ca, no_such_ca):
        assert answer.outcome is OCSPOutcome.UNAUTHORIZED
        assert _parsed(answer.der).response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED


@pytest.mark.parametrize(
    "request_der",
    [b"", b"garbage", b"\x30\x03\x02\x01\x01", b"\x30" + b"\xff" * 40],
    ids=["empty", "text", "wrong-structure", "bad-length"],
)
def test_bytes_that_are_no_ocsp_request_are_malformed(
    responder: OCSPResponder, request_der: bytes
) -> None:
    answer = responder.respond("issuing", request_der)

    assert answer.outcome is OCSPOutcome.MALFORMED_REQUEST
    assert _parsed(answer.der).response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_a_nonce_longer_than_32_bytes_is_malformed(pki: PKI, responder: OCSPResponder) -> None:
    issued = pki.issue_server("long-nonce.example")

    answer = responder.respond("issuing", _request(issued, nonce=b"x" * 33))

    assert answer.outcome is OCSPOutcome.MALFORMED_REQUEST


def test_the_responder_certificate_is_renewed_when_a_third_of_it_is_left(
    pki: PKI, responder: OCSPResponder
) -> None:
    issued = pki.issue_server("renewal.example")
    first = _parsed(responder.respond("issuing", _request(issued)).der).certificates[0]
    context: CAContext = pki.context
    real_clock = context.clock
    context.clock = lambda: real_clock() + timedelta(days=21)

    answer = responder.respond("issuing", _request(issued, nonce=b"fresh-signature"))

    second = _parsed(answer.der).certificates[0]
    assert second.serial_number != first.serial_number
    assert second.not_valid_after_utc > first.not_valid_after_utc
    assert answer.outcome is OCSPOutcome.GOOD


def test_issued_certificates_point_at_the_responder_when_a_public_url_is_set(pki: PKI) -> None:
    context = pki.context
    service = context.settings.service.model_copy(update={"public_url": "https://ca.example:8443"})
    context.settings = context.settings.model_copy(update={"service": service})

    certificate = pki.issue_server("aia.example").certificate

    aia = certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [(d.access_method, d.access_location.value) for d in aia] == [
        (x509.oid.AuthorityInformationAccessOID.OCSP, "https://ca.example:8443/ocsp/issuing"),
        (
            x509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
            "https://ca.example:8443/ca/issuing/ca.crt",
        ),
    ]
    cdp = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [point.full_name[0].value for point in cdp if point.full_name] == [
        "https://ca.example:8443/ca/issuing/crl"
    ]


def test_without_a_public_url_issued_certificates_carry_no_aia(pki: PKI) -> None:
    certificate = pki.issue_server("no-aia.example").certificate

    with pytest.raises(x509.ExtensionNotFound):
        certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
