"""CertificateFactory: one CA and profile, certificates and their rows made without the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from certward.ca.context import LoadedCA
from certward.ca.factory import CertificateFactory, LeafRequest, certificate_key_record_id
from certward.ca.issue import leaf_request
from certward.ca.profiles import ProfileRegistry
from certward.config import ProfileSettings
from certward.crypto.keys import KeyType, load_private_key, public_key_to_pem
from certward.errors import InvalidValidity, KeyTypeNotAllowed, SANRequired
from certward.store.models import CertificateRow
from tests.support.pki import PKI

NOW = datetime(2027, 1, 1, tzinfo=UTC)
# The factory never touches the database, so one backend is enough.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _issuer(pki: PKI) -> LoadedCA:
    with pki.context.database.read() as session:
        return pki.context.usable_issuer(session, "issuing")


def _factory(pki: PKI, profile: str = "server", *, store_keys: bool = True) -> CertificateFactory:
    return CertificateFactory(
        issuer=_issuer(pki),
        profile=pki.context.profiles.get(profile),
        keystore=pki.context.keystore,
        store_keys=store_keys,
    )


def _server_request() -> LeafRequest:
    return leaf_request(common_name="web.example.com", sans=["DNS:web.example.com"])


def _stored(pki: PKI) -> int:
    with pki.context.database.read() as session:
        return session.scalar(select(func.count()).select_from(CertificateRow)) or 0


def test_validity_is_back_dated_and_lasts_the_requested_days(pki: PKI) -> None:
    not_before, not_after = _factory(pki).validity(NOW, 30)

    assert timedelta(0) < NOW - not_before <= timedelta(minutes=5)
    assert not_after == NOW + timedelta(days=30)


def test_validity_defaults_to_the_profiles(pki: PKI) -> None:
    _, not_after = _factory(pki, "client").validity(NOW, None)

    assert not_after == NOW + timedelta(days=365)


def test_validity_is_cut_to_the_issuers_end(pki: PKI) -> None:
    issuer = _issuer(pki)
    near_the_end = issuer.not_after - timedelta(days=10)

    _, not_after = _factory(pki).validity(near_the_end, 365)

    assert not_after == issuer.not_after


def test_validity_over_the_profiles_maximum_is_refused(pki: PKI) -> None:
    with pytest.raises(InvalidValidity):
        _factory(pki).validity(NOW, 10_000)


def test_check_refuses_a_request_the_profile_does_not_allow(pki: PKI) -> None:
    request = leaf_request(common_name="web", generate_key=False)

    with pytest.raises(SANRequired):
        _factory(pki).check(request)


def test_check_refuses_a_key_type_the_profile_does_not_allow(pki: PKI) -> None:
    profile = ProfileRegistry(
        {"p256": ProfileSettings(base="client", allowed_key_types=["ec-p256"])}
    ).get("p256")
    factory = CertificateFactory(
        issuer=_issuer(pki), profile=profile, keystore=pki.context.keystore, store_keys=True
    )

    with pytest.raises(KeyTypeNotAllowed):
        factory.check(leaf_request(common_name="c", key_type=KeyType.ED25519, generate_key=False))


def test_make_signs_with_the_issuer_and_stores_nothing(pki: PKI) -> None:
    before = _stored(pki)
    issuer = _issuer(pki)

    issued, _ = _factory(pki).make(
        _server_request(), not_before=NOW, not_after=NOW + timedelta(days=1), issued_at=NOW
    )

    issued.certificate.verify_directly_issued_by(issuer.certificate)
    assert issued.certificate.not_valid_before_utc == NOW
    assert issued.certificate.not_valid_after_utc == NOW + timedelta(days=1)
    assert issued.ca_name == "issuing"
    assert issued.profile == "server"
    assert issued.chain == ()
    assert _stored(pki) == before


def test_make_returns_the_row_that_stores_the_certificate(pki: PKI) -> None:
    issuer = _issuer(pki)

    issued, row = _factory(pki).make(
        _server_request(), not_before=NOW, not_after=NOW + timedelta(days=1), issued_at=NOW
    )

    assert row["serial"] == issued.serial
    assert row["ca_id"] == issuer.id
    assert row["profile"] == "server"
    assert row["is_ca"] is False
    assert row["subject"] == "CN=web.example.com"
    assert row["common_name"] == "web.example.com"
    assert row["sans"] == "DNS:web.example.com"
    assert row["key_type"] == "ec-p256"
    assert row["der"] == issued.certificate.public_bytes(serialization.Encoding.DER)
    assert row["not_before"] == NOW
    assert row["issued_at"] == NOW


def test_make_seals_a_server_side_key_under_its_serial(pki: PKI) -> None:
    issued, row = _factory(pki).make(
        _server_request(), not_before=NOW, not_after=NOW + timedelta(days=1), issued_at=NOW
    )

    opened = pki.context.keystore.open(
        row["key_sealed"], record_id=certificate_key_record_id(issued.serial)
    )

    assert public_key_to_pem(load_private_key(opened).public_key()) == public_key_to_pem(
        issued.certificate.public_key()
    )


def test_make_keeps_no_key_when_told_not_to(pki: PKI) -> None:
    issued, row = _factory(pki, store_keys=False).make(
        _server_request(), not_before=NOW, not_after=NOW + timedelta(days=1), issued_at=NOW
    )

    assert row["key_sealed"] is None
    assert issued.private_key is not None


def test_make_for_a_public_key_keeps_no_key(pki: PKI) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    template = _server_request()
    request = LeafRequest(
        subject=template.subject,
        sans=template.sans,
        key_type=KeyType.EC_P256,
        public_key=key.public_key(),
    )

    issued, row = _factory(pki).make(
        request, not_before=NOW, not_after=NOW + timedelta(days=1), issued_at=NOW
    )

    assert row["key_sealed"] is None
    assert issued.private_key is None
    assert public_key_to_pem(issued.certificate.public_key()) == public_key_to_pem(key.public_key())


def test_make_gives_each_certificate_its_own_serial(pki: PKI) -> None:
    factory = _factory(pki)

    serials = {
        factory.make(
            _server_request(), not_before=NOW, not_after=NOW + timedelta(days=1), issued_at=NOW
        )[0].serial
        for _ in range(20)
    }

    assert len(serials) == 20


def test_make_marks_the_san_critical_for_an_empty_subject(pki: PKI) -> None:
    request = leaf_request(common_name=None, sans=["DNS:anon.example.com"])

    issued, row = _factory(pki).make(
        request, not_before=NOW, not_after=NOW + timedelta(days=1), issued_at=NOW
    )

    san = issued.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical
    assert row["common_name"] is None
    assert row["subject"] == ""
