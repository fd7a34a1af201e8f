"""Issuing end-entity certificates: server-side keys, CSRs and batches, and every refusal."""

from __future__ import annotations

import ipaddress
import itertools
import subprocess
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import func, select

from certward.ca.authority import ca_chain, create_ca, get_ca
from certward.ca.context import CAContext
from certward.ca.factory import IssuedCertificate, LeafRequest, certificate_key_record_id
from certward.ca.issue import issue_certificate, issue_many, leaf_request, sign_csr
from certward.ca.profiles import ProfileRegistry
from certward.ca.revoke import revoke_certificate
from certward.config import ProfileSettings
from certward.crypto.keys import KeyType, SigningKey, load_private_key, public_key_to_pem
from certward.crypto.names import parse_sans
from certward.crypto.serials import serial_hex
from certward.errors import (
    CANotFound,
    CSRSignatureInvalid,
    InvalidSubject,
    InvalidValidity,
    IssuerNotUsable,
    KeyTypeNotAllowed,
    MalformedData,
    PolicyViolation,
    ProfileNotFound,
    SANNotAllowed,
    SANRequired,
)
from certward.store.models import CertificateRow
from tests.support.pki import PKI, write_identity

# Certificate contents do not depend on the database, so tests of contents alone run on
# SQLite only; everything that stores, refuses to store or queries runs on both backends.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

E = TypeVar("E", bound=x509.ExtensionType)


def _extension(certificate: x509.Certificate, kind: type[E]) -> x509.Extension[E]:
    return certificate.extensions.get_extension_for_class(kind)


def _stored(ctx: CAContext) -> int:
    with ctx.database.read() as session:
        return session.scalar(select(func.count()).select_from(CertificateRow)) or 0


def _row(ctx: CAContext, serial: str) -> CertificateRow:
    with ctx.database.read() as session:
        row = session.scalar(select(CertificateRow).where(CertificateRow.serial == serial))
        assert row is not None
        return row


def _with_profiles(ctx: CAContext, **profiles: ProfileSettings) -> CAContext:
    return replace(ctx, profiles=ProfileRegistry(profiles))


def _issuing_certificate(pki: PKI) -> x509.Certificate:
    return ca_chain(pki.context, pki.issuing)[0]


def _csr(
    key: SigningKey | None = None,
    *,
    common_name: str | None = "csr.example.com",
    sans: tuple[str, ...] = ("DNS:csr.example.com",),
    extensions: tuple[x509.ExtensionType, ...] = (),
) -> bytes:
    key = key or ec.generate_private_key(ec.SECP256R1())
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name else []
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes))
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(list(parse_sans(sans))), critical=False
        )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=True)
    csr = builder.sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


# --- server-side keys: what a certificate contains ------------------------------------------


@SQLITE_ONLY
def test_server_certificate_has_server_auth_only(pki: PKI) -> None:
    issued = pki.issue_server("web.example.com")

    usage = _extension(issued.certificate, x509.ExtendedKeyUsage)

    assert list(usage.value) == [ExtendedKeyUsageOID.SERVER_AUTH]


@SQLITE_ONLY
def test_client_certificate_has_client_auth_only(pki: PKI) -> None:
    issued = pki.issue_client("alice")

    usage = _extension(issued.certificate, x509.ExtendedKeyUsage)

    assert list(usage.value) == [ExtendedKeyUsageOID.CLIENT_AUTH]


@SQLITE_ONLY
def test_client_certificate_needs_no_san(pki: PKI) -> None:
    issued = pki.issue_client("alice")

    with pytest.raises(x509.ExtensionNotFound):
        issued.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)


@SQLITE_ONLY
def test_ec_certificate_key_usage_is_critical_digital_signature_only(pki: PKI) -> None:
    usage = _extension(pki.issue_server().certificate, x509.KeyUsage)

    assert usage.critical
    assert usage.value.digital_signature
    assert not usage.value.key_encipherment
    assert not usage.value.key_cert_sign
    assert not usage.value.crl_sign


@SQLITE_ONLY
def test_rsa_certificate_key_usage_adds_key_encipherment(pki: PKI) -> None:
    issued = issue_certificate(
        pki.context,
        ca_name="issuing",
        profile="server",
        common_name="rsa.example.com",
        sans=["DNS:rsa.example.com"],
        key_type=KeyType.RSA_2048,
    )

    usage = _extension(issued.certificate, x509.KeyUsage)

    assert isinstance(issued.certificate.public_key(), rsa.RSAPublicKey)
    assert usage.critical
    assert usage.value.digital_signature
    assert usage.value.key_encipherment


@SQLITE_ONLY
def test_leaf_basic_constraints_are_critical_ca_false(pki: PKI) -> None:
    basic = _extension(pki.issue_server().certificate, x509.BasicConstraints)

    assert basic.critical
    assert not basic.value.ca
    assert basic.value.path_length is None


@SQLITE_ONLY
def test_leaf_key_identifiers_link_it_to_the_issuing_ca(pki: PKI) -> None:
    issued = pki.issue_server()
    issuing_ski = _extension(_issuing_certificate(pki), x509.SubjectKeyIdentifier).value

    ski = _extension(issued.certificate, x509.SubjectKeyIdentifier).value
    aki = _extension(issued.certificate, x509.AuthorityKeyIdentifier).value

    assert ski == x509.SubjectKeyIdentifier.from_public_key(issued.certificate.public_key())
    assert aki.key_identifier == issuing_ski.digest


@SQLITE_ONLY
def test_subject_and_sans_are_as_requested(pki: PKI) -> None:
    issued = pki.issue_server("web.example.com", sans=("DNS:web.example.com", "IP:10.1.2.3"))

    sans = _extension(issued.certificate, x509.SubjectAlternativeName).value

    assert issued.certificate.subject.rfc4514_string() == "CN=web.example.com"
    assert list(sans) == [
        x509.DNSName("web.example.com"),
        x509.IPAddress(ipaddress.ip_address("10.1.2.3")),
    ]


@SQLITE_ONLY
def test_san_is_not_critical_when_the_subject_has_a_name(pki: PKI) -> None:
    san = _extension(pki.issue_server("web.example.com").certificate, x509.SubjectAlternativeName)

    assert not san.critical


@SQLITE_ONLY
def test_san_is_critical_when_the_subject_is_empty(pki: PKI) -> None:
    issued = issue_certificate(
        pki.context,
        ca_name="issuing",
        profile="server",
        common_name=None,
        sans=["DNS:anonymous.example.com"],
    )

    san = _extension(issued.certificate, x509.SubjectAlternativeName)

    assert len(issued.certificate.subject) == 0
    assert san.critical


@SQLITE_ONLY
def test_serials_are_unique_positive_and_at_least_128_bits(pki: PKI) -> None:
    serials = [pki.issue_client(f"client-{i}").certificate.serial_number for i in range(8)]

    assert len(set(serials)) == len(serials)
    assert all(serial > 0 and serial.bit_length() >= 128 for serial in serials)


@SQLITE_ONLY
def test_issued_serial_is_the_certificates_in_lowercase_hex(pki: PKI) -> None:
    issued = pki.issue_client()

    assert issued.serial == serial_hex(issued.certificate.serial_number)
    assert issued.serial == issued.serial.lower()


@SQLITE_ONLY
def test_chain_runs_from_the_issuing_ca_to_the_root(pki: PKI) -> None:
    issued = pki.issue_server()

    assert list(issued.chain) == ca_chain(pki.context, "issuing")
    assert issued.full_chain[0] == issued.certificate
    assert [c.subject.rfc4514_string() for c in issued.chain] == [
        "O=certward tests,CN=Test Issuing CA",
        "O=certward tests,CN=Test Root CA",
    ]


@SQLITE_ONLY
def test_each_certificate_of_the_chain_is_signed_by_the_next(pki: PKI) -> None:
    full_chain = pki.issue_server().full_chain

    for certificate, issuer in itertools.pairwise(full_chain):
        certificate.verify_directly_issued_by(issuer)


@SQLITE_ONLY
def test_certificate_verifies_against_the_issuing_ca_key(pki: PKI) -> None:
    issued = pki.issue_client()
    issuing = _issuing_certificate(pki)
    public_key = issuing.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)

    public_key.verify(
        issued.certificate.signature,
        issued.certificate.tbs_certificate_bytes,
        ec.ECDSA(hashes.SHA256()),
    )


@SQLITE_ONLY
def test_returned_private_key_matches_the_certificate(pki: PKI) -> None:
    issued = pki.issue_server()

    assert issued.private_key is not None
    assert public_key_to_pem(issued.private_key.public_key()) == public_key_to_pem(
        issued.certificate.public_key()
    )


@SQLITE_ONLY
def test_default_validity_is_the_profiles(pki: PKI) -> None:
    issued = pki.issue_server()

    lifetime = issued.not_after - issued.not_before

    # not_before is back-dated a little for relying parties with slow clocks.
    assert timedelta(days=365) <= lifetime <= timedelta(days=365, minutes=5)


@SQLITE_ONLY
def test_requested_days_set_the_validity(pki: PKI) -> None:
    issued = issue_certificate(
        pki.context, ca_name="issuing", profile="client", common_name="short", days=7
    )

    lifetime = issued.not_after - issued.not_before

    assert timedelta(days=7) <= lifetime <= timedelta(days=7, minutes=5)


def test_leaf_not_after_is_cut_to_the_issuers(pki: PKI) -> None:
    create_ca(pki.context, name="brief", subject="/CN=Brief CA", parent="root", days=10)

    issued = issue_certificate(
        pki.context, ca_name="brief", profile="client", common_name="c", days=365
    )

    assert issued.not_after == get_ca(pki.context, "brief").not_after


def test_certificate_is_stored_with_its_der(pki: PKI) -> None:
    issued = pki.issue_server("stored.example.com")

    row = _row(pki.context, issued.serial)

    assert row.der == issued.certificate.public_bytes(serialization.Encoding.DER)
    assert row.profile == "server"
    assert row.common_name == "stored.example.com"
    assert not row.is_ca
    assert row.revoked_at is None


def test_server_side_key_is_stored_sealed_under_its_serial(pki: PKI) -> None:
    issued = pki.issue_server()
    row = _row(pki.context, issued.serial)
    assert row.key_sealed is not None

    opened = pki.context.keystore.open(
        row.key_sealed, record_id=certificate_key_record_id(issued.serial)
    )

    assert row.key_sealed.find(opened) == -1  # not stored in clear
    key = load_private_key(opened)
    assert public_key_to_pem(key.public_key()) == public_key_to_pem(issued.certificate.public_key())
    assert certificate_key_record_id(issued.serial) == f"certificate-key:{issued.serial}"


def test_server_side_key_is_not_kept_when_the_setting_says_so(pki: PKI) -> None:
    settings = pki.context.settings.model_copy(update={"store_issued_keys": False})
    context = replace(pki.context, settings=settings)

    issued = issue_certificate(context, ca_name="issuing", profile="client", common_name="c")

    assert issued.private_key is not None
    assert _row(context, issued.serial).key_sealed is None


@pytest.mark.parametrize("key_type", [KeyType.EC_P384, KeyType.ED25519, KeyType.RSA_2048])
@SQLITE_ONLY
def test_other_key_types_can_be_issued(pki: PKI, key_type: KeyType) -> None:
    issued = issue_certificate(
        pki.context, ca_name="issuing", profile="client", common_name="c", key_type=key_type
    )

    assert _row(pki.context, issued.serial).key_type == key_type.value
    issued.certificate.verify_directly_issued_by(_issuing_certificate(pki))


# --- server-side keys: refusals -------------------------------------------------------------


def test_server_profile_without_a_san_is_san_required(pki: PKI) -> None:
    before = _stored(pki.context)

    with pytest.raises(SANRequired):
        issue_certificate(pki.context, ca_name="issuing", profile="server", common_name="web")

    assert _stored(pki.context) == before


def test_server_profile_needs_a_dns_or_ip_san_not_just_a_uri(pki: PKI) -> None:
    with pytest.raises(SANRequired):
        issue_certificate(
            pki.context,
            ca_name="issuing",
            profile="server",
            common_name="web",
            sans=["URI:spiffe://example.org/web", "email:ops@example.org"],
        )


@SQLITE_ONLY
def test_server_profile_accepts_an_ip_san_alone(pki: PKI) -> None:
    issued = issue_certificate(
        pki.context, ca_name="issuing", profile="server", common_name="db", sans=["IP:10.0.0.5"]
    )

    assert issued.profile == "server"


def test_unknown_ca_is_ca_not_found(pki: PKI) -> None:
    before = _stored(pki.context)

    with pytest.raises(CANotFound):
        issue_certificate(pki.context, ca_name="nope", profile="client", common_name="c")

    assert _stored(pki.context) == before


@SQLITE_ONLY
def test_unknown_profile_is_profile_not_found(pki: PKI) -> None:
    with pytest.raises(ProfileNotFound, match="server"):
        issue_certificate(pki.context, ca_name="issuing", profile="nope", common_name="c")


@SQLITE_ONLY
def test_ca_profile_cannot_issue_an_end_entity(pki: PKI) -> None:
    with pytest.raises(PolicyViolation):
        issue_certificate(pki.context, ca_name="issuing", profile="ca", common_name="sub")


@pytest.mark.parametrize("common_name", ["", "   ", "x" * 65])
@SQLITE_ONLY
def test_empty_or_too_long_common_name_is_refused(pki: PKI, common_name: str) -> None:
    with pytest.raises(InvalidSubject):
        issue_certificate(pki.context, ca_name="issuing", profile="client", common_name=common_name)


@pytest.mark.parametrize("days", [0, -1, 826])
def test_validity_outside_the_profile_is_invalid(pki: PKI, days: int) -> None:
    before = _stored(pki.context)

    with pytest.raises(InvalidValidity):
        issue_certificate(
            pki.context, ca_name="issuing", profile="client", common_name="c", days=days
        )

    assert _stored(pki.context) == before


def test_revoked_issuer_cannot_issue(pki: PKI) -> None:
    revoke_certificate(pki.context, get_ca(pki.context, "issuing").serial)
    before = _stored(pki.context)

    with pytest.raises(IssuerNotUsable, match="revoked"):
        pki.issue_client()

    assert _stored(pki.context) == before


def test_issuer_below_a_revoked_ca_cannot_issue(pki: PKI) -> None:
    create_ca(pki.context, name="deep", subject="/CN=Deep CA", parent="issuing")
    revoke_certificate(pki.context, get_ca(pki.context, "issuing").serial)

    with pytest.raises(IssuerNotUsable, match="revoked"):
        issue_certificate(pki.context, ca_name="deep", profile="client", common_name="c")


def test_expired_issuer_cannot_issue(pki: PKI) -> None:
    expiry = get_ca(pki.context, "issuing").not_after
    later = replace(pki.context, clock=lambda: expiry + timedelta(days=1))

    with pytest.raises(IssuerNotUsable, match="expired"):
        issue_certificate(later, ca_name="issuing", profile="client", common_name="c")


def test_issuer_whose_root_expired_cannot_issue(pki: PKI) -> None:
    create_ca(pki.context, name="short-root", subject="/CN=Short Root", days=5)
    create_ca(pki.context, name="long-sub", subject="/CN=Long Sub", parent="short-root")
    later = replace(pki.context, clock=lambda: get_ca(pki.context, "short-root").not_after)

    with pytest.raises(IssuerNotUsable):
        issue_certificate(later, ca_name="long-sub", profile="client", common_name="c")


# --- user-defined profiles ------------------------------------------------------------------


def test_key_type_not_allowed_by_a_user_profile_stores_nothing(pki: PKI) -> None:
    context = _with_profiles(
        pki.context, web=ProfileSettings(base="server", allowed_key_types=["ec-p256"])
    )
    before = _stored(context)

    with pytest.raises(KeyTypeNotAllowed, match="ec-p384"):
        issue_certificate(
            context,
            ca_name="issuing",
            profile="web",
            common_name="web",
            sans=["DNS:web.example.com"],
            key_type=KeyType.EC_P384,
        )

    assert _stored(context) == before


@SQLITE_ONLY
def test_key_type_allowed_by_a_user_profile_is_issued(pki: PKI) -> None:
    context = _with_profiles(
        pki.context, web=ProfileSettings(base="server", allowed_key_types=["ec-p384"])
    )

    issued = issue_certificate(
        context,
        ca_name="issuing",
        profile="web",
        common_name="web",
        sans=["DNS:web.example.com"],
        key_type=KeyType.EC_P384,
    )

    assert issued.profile == "web"
    assert list(_extension(issued.certificate, x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]


def test_san_outside_the_allowed_patterns_is_refused(pki: PKI) -> None:
    context = _with_profiles(
        pki.context,
        web=ProfileSettings(base="server", allowed_san_patterns=["DNS:*.example.com"]),
    )
    before = _stored(context)

    with pytest.raises(SANNotAllowed, match=r"evil\.test"):
        issue_certificate(
            context,
            ca_name="issuing",
            profile="web",
            common_name="web",
            sans=["DNS:www.example.com", "DNS:evil.test"],
        )

    assert _stored(context) == before


@SQLITE_ONLY
def test_sans_inside_the_allowed_patterns_are_issued(pki: PKI) -> None:
    context = _with_profiles(
        pki.context,
        web=ProfileSettings(
            base="server", allowed_san_patterns=["DNS:*.example.com", "IP:10.0.0.0/8"]
        ),
    )

    issued = issue_certificate(
        context,
        ca_name="issuing",
        profile="web",
        common_name="web",
        sans=["DNS:www.example.com", "IP:10.20.30.40"],
    )

    assert len(_extension(issued.certificate, x509.SubjectAlternativeName).value) == 2


def test_validity_over_a_user_profiles_maximum_is_invalid(pki: PKI) -> None:
    context = _with_profiles(pki.context, short=ProfileSettings(base="client", max_days=30))

    with pytest.raises(InvalidValidity, match="30"):
        issue_certificate(context, ca_name="issuing", profile="short", common_name="c", days=31)


@SQLITE_ONLY
def test_user_profile_adds_extra_ekus_and_urls(pki: PKI) -> None:
    context = _with_profiles(
        pki.context,
        signer=ProfileSettings(
            base="client",
            extra_ekus=[ExtendedKeyUsageOID.CODE_SIGNING.dotted_string],
            crl_distribution_urls=["http://pki.example.com/issuing.crl"],
            issuing_certificate_urls=["http://pki.example.com/issuing.crt"],
        ),
    )

    certificate = issue_certificate(
        context, ca_name="issuing", profile="signer", common_name="c"
    ).certificate

    assert list(_extension(certificate, x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH,
        ExtendedKeyUsageOID.CODE_SIGNING,
    ]
    points = _extension(certificate, x509.CRLDistributionPoints).value
    assert points[0].full_name == [
        x509.UniformResourceIdentifier("http://pki.example.com/issuing.crl")
    ]
    access = _extension(certificate, x509.AuthorityInformationAccess).value
    assert access[0].access_location == x509.UniformResourceIdentifier(
        "http://pki.example.com/issuing.crt"
    )


# --- CSRs -----------------------------------------------------------------------------------


@SQLITE_ONLY
def test_csr_is_signed_for_its_own_public_key(pki: PKI) -> None:
    key = ec.generate_private_key(ec.SECP256R1())

    issued = sign_csr(pki.context, ca_name="issuing", profile="server", csr_data=_csr(key))

    assert public_key_to_pem(issued.certificate.public_key()) == public_key_to_pem(key.public_key())
    assert issued.private_key is None
    issued.certificate.verify_directly_issued_by(_issuing_certificate(pki))


@SQLITE_ONLY
def test_csr_subject_and_sans_are_kept(pki: PKI) -> None:
    csr = _csr(common_name="api.example.com", sans=("DNS:api.example.com", "IP:192.0.2.7"))

    issued = sign_csr(pki.context, ca_name="issuing", profile="server", csr_data=csr)

    assert issued.certificate.subject.rfc4514_string() == "CN=api.example.com"
    assert list(_extension(issued.certificate, x509.SubjectAlternativeName).value) == [
        x509.DNSName("api.example.com"),
        x509.IPAddress(ipaddress.ip_address("192.0.2.7")),
    ]


@SQLITE_ONLY
def test_csr_in_der_is_accepted(pki: PKI) -> None:
    der = x509.load_pem_x509_csr(_csr()).public_bytes(serialization.Encoding.DER)

    issued = sign_csr(pki.context, ca_name="issuing", profile="server", csr_data=der)

    assert issued.certificate.subject.rfc4514_string() == "CN=csr.example.com"


@SQLITE_ONLY
def test_csr_asking_to_be_a_ca_gets_an_end_entity_certificate(pki: PKI) -> None:
    csr = _csr(
        extensions=(
            x509.BasicConstraints(ca=True, path_length=None),
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
        )
    )

    certificate = sign_csr(
        pki.context, ca_name="issuing", profile="server", csr_data=csr
    ).certificate

    assert not _extension(certificate, x509.BasicConstraints).value.ca
    assert not _extension(certificate, x509.KeyUsage).value.key_cert_sign
    assert list(_extension(certificate, x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]


def test_csr_with_a_tampered_signature_is_refused(pki: PKI) -> None:
    der = bytearray(x509.load_pem_x509_csr(_csr()).public_bytes(serialization.Encoding.DER))
    # The signature is the last field: flip a bit of its final byte (inside the s INTEGER).
    der[-1] ^= 0x01
    tampered = bytes(der)
    assert x509.load_der_x509_csr(tampered).subject  # still parses
    before = _stored(pki.context)

    with pytest.raises(CSRSignatureInvalid):
        sign_csr(pki.context, ca_name="issuing", profile="server", csr_data=tampered)

    assert _stored(pki.context) == before


@SQLITE_ONLY
def test_csr_whose_subject_was_altered_after_signing_is_refused(pki: PKI) -> None:
    pem = _csr(common_name="good.example.com", sans=("DNS:good.example.com",))
    der = x509.load_pem_x509_csr(pem).public_bytes(serialization.Encoding.DER)
    tampered = der.replace(b"good.example.com", b"evil.example.com")
    assert x509.load_der_x509_csr(tampered).subject.rfc4514_string() == "CN=evil.example.com"

    with pytest.raises(CSRSignatureInvalid):
        sign_csr(pki.context, ca_name="issuing", profile="server", csr_data=tampered)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"this is not a CSR",
        b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        b"\x30\x82\x00\x10garbage",
    ],
)
@SQLITE_ONLY
def test_garbage_csr_is_malformed_data(pki: PKI, data: bytes) -> None:
    with pytest.raises(MalformedData):
        sign_csr(pki.context, ca_name="issuing", profile="server", csr_data=data)


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(lambda: rsa.generate_private_key(65537, 1024), id="rsa-1024"),  # noqa: S505
        pytest.param(lambda: ec.generate_private_key(ec.SECP521R1()), id="p521"),
    ],
)
def test_csr_with_an_unsupported_key_is_key_type_not_allowed(pki: PKI, key: object) -> None:
    csr = _csr(key())  # type: ignore[operator]
    before = _stored(pki.context)

    with pytest.raises(KeyTypeNotAllowed):
        sign_csr(pki.context, ca_name="issuing", profile="server", csr_data=csr)

    assert _stored(pki.context) == before


def test_csr_key_type_not_allowed_by_the_profile_stores_nothing(pki: PKI) -> None:
    context = _with_profiles(
        pki.context, web=ProfileSettings(base="server", allowed_key_types=["ec-p384"])
    )
    before = _stored(context)

    with pytest.raises(KeyTypeNotAllowed):
        sign_csr(context, ca_name="issuing", profile="web", csr_data=_csr())

    assert _stored(context) == before


def test_csr_without_a_san_for_the_server_profile_is_san_required(pki: PKI) -> None:
    with pytest.raises(SANRequired):
        sign_csr(pki.context, ca_name="issuing", profile="server", csr_data=_csr(sans=()))


def test_csr_with_a_san_outside_the_profiles_patterns_is_refused(pki: PKI) -> None:
    context = _with_profiles(
        pki.context,
        web=ProfileSettings(base="server", allowed_san_patterns=["DNS:*.example.com"]),
    )

    with pytest.raises(SANNotAllowed):
        sign_csr(
            context,
            ca_name="issuing",
            profile="web",
            csr_data=_csr(sans=("DNS:host.example.org",)),
        )


@pytest.mark.interop
@SQLITE_ONLY
def test_openssl_made_csr_is_signed_without_its_ca_request(
    pki: PKI, openssl: str, tmp_path: Path
) -> None:
    key, csr = tmp_path / "req.key", tmp_path / "req.csr"
    subprocess.run(
        [
            *(openssl, "req", "-new", "-nodes", "-newkey", "ec"),
            *("-pkeyopt", "ec_paramgen_curve:P-256", "-keyout", str(key), "-out", str(csr)),
            *("-subj", "/CN=openssl.example.com"),
            *("-addext", "subjectAltName=DNS:openssl.example.com"),
            *("-addext", "basicConstraints=critical,CA:TRUE"),
        ],
        check=True,
        capture_output=True,
    )

    issued = sign_csr(pki.context, ca_name="issuing", profile="server", csr_data=csr.read_bytes())

    assert issued.certificate.subject.rfc4514_string() == "CN=openssl.example.com"
    assert not _extension(issued.certificate, x509.BasicConstraints).value.ca


@pytest.mark.interop
@SQLITE_ONLY
def test_openssl_verifies_an_issued_server_certificate_for_tls_server_use(
    pki: PKI, openssl: str, tmp_path: Path
) -> None:
    issued = pki.issue_server("verify.example.com")
    cert, _, _ = write_identity(issued, tmp_path, "server")
    root = pki.write_root(tmp_path / "root.pem")
    untrusted = tmp_path / "untrusted.pem"
    untrusted.write_bytes(_issuing_certificate(pki).public_bytes(serialization.Encoding.PEM))

    result = subprocess.run(
        [
            *(openssl, "verify", "-CAfile", str(root), "-untrusted", str(untrusted)),
            *("-purpose", "sslserver", "-x509_strict", str(cert)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("OK")


# --- batches --------------------------------------------------------------------------------


def _requests(count: int) -> list[LeafRequest]:
    return [
        leaf_request(common_name=f"host-{i}.example.com", sans=[f"DNS:host-{i}.example.com"])
        for i in range(count)
    ]


def test_issue_many_stores_every_certificate(pki: PKI) -> None:
    before = _stored(pki.context)

    issued = issue_many(
        pki.context, ca_name="issuing", profile="server", requests=_requests(10), batch_size=3
    )

    assert len(issued) == 10
    assert _stored(pki.context) == before + 10
    with pki.context.database.read() as session:
        stored = set(session.scalars(select(CertificateRow.serial)))
    assert {item.serial for item in issued} <= stored


def test_issue_many_gives_unique_serials_in_request_order(pki: PKI) -> None:
    requests = _requests(6)

    issued = issue_many(
        pki.context, ca_name="issuing", profile="server", requests=requests, batch_size=4
    )

    assert len({item.serial for item in issued}) == 6
    assert [item.certificate.subject for item in issued] == [r.subject for r in requests]


def test_issue_many_attaches_the_chain_to_every_certificate(pki: PKI) -> None:
    issued: list[IssuedCertificate] = issue_many(
        pki.context, ca_name="issuing", profile="server", requests=_requests(3)
    )

    chain = ca_chain(pki.context, "issuing")
    assert all(list(item.chain) == chain for item in issued)


def test_issue_many_with_one_bad_request_stores_nothing(pki: PKI) -> None:
    requests = _requests(5)
    requests.insert(3, leaf_request(common_name="no-san"))
    before = _stored(pki.context)

    with pytest.raises(SANRequired):
        issue_many(
            pki.context, ca_name="issuing", profile="server", requests=requests, batch_size=2
        )

    assert _stored(pki.context) == before


def test_issue_many_with_one_disallowed_key_type_stores_nothing(pki: PKI) -> None:
    context = _with_profiles(
        pki.context, web=ProfileSettings(base="server", allowed_key_types=["ec-p256"])
    )
    requests = _requests(4)
    requests.append(
        leaf_request(common_name="x", sans=["DNS:x.example.com"], key_type=KeyType.ED25519)
    )
    before = _stored(context)

    with pytest.raises(KeyTypeNotAllowed):
        issue_many(context, ca_name="issuing", profile="web", requests=requests, batch_size=2)

    assert _stored(context) == before


def test_issue_many_from_a_revoked_issuer_stores_nothing(pki: PKI) -> None:
    revoke_certificate(pki.context, get_ca(pki.context, "issuing").serial)
    before = _stored(pki.context)

    with pytest.raises(IssuerNotUsable):
        issue_many(pki.context, ca_name="issuing", profile="server", requests=_requests(3))

    assert _stored(pki.context) == before
