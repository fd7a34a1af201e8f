"""Principals: an API identity is a client certificate bound to grants, and can be disabled."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certward.access.grants import Grant, Permission
from certward.access.principals import (
    PrincipalBundle,
    create_principal,
    disable_principal,
    get_principal,
    list_principals,
    principal_by_fingerprint,
)
from certward.ca.context import CAContext
from certward.ca.crl import latest_crl
from certward.ca.inventory import get_certificate, list_certificates
from certward.errors import CANotFound, Conflict, InvalidName, NotFound
from tests.support.pki import PKI

READER = (Grant(Permission.CA_READ, resources=("issuing",)),)


def new_principal(pki: PKI, name: str = "alice") -> PrincipalBundle:
    return create_principal(
        pki.context, name=name, grants=READER, ca_name=pki.issuing, created_by="admin"
    )


def stored(ctx: CAContext) -> tuple[list[str], list[str]]:
    """Serials of every certificate and names of every principal."""
    serials = [item.serial for item in list_certificates(ctx, limit=1000).items]
    return serials, [principal.name for principal in list_principals(ctx)]


def test_a_principal_gets_a_client_certificate_naming_it(pki: PKI) -> None:
    bundle = new_principal(pki)

    certificate = bundle.issued.certificate
    common_name = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert common_name == "alice"
    assert sans.get_values_for_type(x509.UniformResourceIdentifier) == [
        "urn:certward:principal:alice"
    ]
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert bundle.issued.ca_name == "issuing"


def test_the_principal_is_stored_with_its_grants_and_certificate_fingerprint(pki: PKI) -> None:
    bundle = new_principal(pki)

    fingerprint = bundle.issued.certificate.fingerprint(hashes.SHA256()).hex()
    principal = get_principal(pki.context, "alice")
    assert principal == bundle.principal
    assert principal.grants == READER
    assert principal.certificate_serial == bundle.issued.serial
    assert principal.certificate_fingerprint == fingerprint
    assert (principal.created_by, principal.enabled) == ("admin", True)
    assert principal_by_fingerprint(pki.context, fingerprint) == principal
    assert principal_by_fingerprint(pki.context, "00" * 32) is None


def test_the_bundle_holds_the_only_key_as_pem_and_pkcs12(pki: PKI) -> None:
    bundle = new_principal(pki)

    key, certificate, chain = pkcs12.load_key_and_certificates(
        bundle.pkcs12, bundle.pkcs12_password.encode()
    )
    assert certificate == bundle.issued.certificate
    assert key is not None and key.public_key() == certificate.public_key()
    assert [c.subject for c in chain] == [c.subject for c in bundle.issued.chain]
    full_chain = x509.load_pem_x509_certificates(bundle.chain_pem)
    assert full_chain[0] == certificate
    assert len(full_chain) == 3  # alice, issuing, root
    assert bundle.pkcs12_password not in repr(bundle)
    with pytest.raises(ValueError, match="password"):
        pkcs12.load_key_and_certificates(bundle.pkcs12, b"wrong")


def test_each_bundle_gets_its_own_pkcs12_password(pki: PKI) -> None:
    assert new_principal(pki, "alice").pkcs12_password != new_principal(pki, "bob").pkcs12_password


def test_a_duplicate_name_is_a_conflict_and_stores_nothing(pki: PKI) -> None:
    new_principal(pki)
    before = stored(pki.context)

    with pytest.raises(Conflict, match="already exists"):
        new_principal(pki)

    assert stored(pki.context) == before


@pytest.mark.parametrize("name", ["", "a b", "-alice", "../alice", "x" * 65, "al/ice", "ali\nce"])
def test_an_invalid_name_is_refused_before_anything_is_issued(pki: PKI, name: str) -> None:
    before = stored(pki.context)

    with pytest.raises(InvalidName):
        new_principal(pki, name)

    assert stored(pki.context) == before


def test_an_unknown_ca_is_refused_and_stores_nothing(pki: PKI) -> None:
    before = stored(pki.context)

    with pytest.raises(CANotFound):
        create_principal(pki.context, name="alice", grants=READER, ca_name="nope")

    assert stored(pki.context) == before


def test_principals_are_listed_by_name(pki: PKI) -> None:
    for name in ("carol", "alice", "bob"):
        new_principal(pki, name)

    assert [p.name for p in list_principals(pki.context)] == ["alice", "bob", "carol"]


def test_disabling_revokes_the_certificate_as_privilege_withdrawn(pki: PKI) -> None:
    bundle = new_principal(pki)

    principal = disable_principal(pki.context, "alice")

    assert principal.enabled is False
    assert get_principal(pki.context, "alice").disabled_at == principal.disabled_at
    certificate = get_certificate(pki.context, bundle.issued.serial)
    assert certificate.status.value == "revoked"
    assert certificate.revocation_reason == "privilegeWithdrawn"


def test_disabling_publishes_a_crl_listing_the_certificate(pki: PKI) -> None:
    bundle = new_principal(pki)
    number_before = latest_crl(pki.context, "issuing").number

    disable_principal(pki.context, "alice")

    published = latest_crl(pki.context, "issuing")
    crl = x509.load_der_x509_crl(published.der)
    entry = crl.get_revoked_certificate_by_serial_number(bundle.issued.certificate.serial_number)
    assert published.number == number_before + 1
    assert entry is not None
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason is x509.ReasonFlags.privilege_withdrawn


def test_disabling_twice_is_a_conflict_and_publishes_nothing(pki: PKI) -> None:
    new_principal(pki)
    disable_principal(pki.context, "alice")
    number = latest_crl(pki.context, "issuing").number

    with pytest.raises(Conflict, match="already disabled"):
        disable_principal(pki.context, "alice")

    assert latest_crl(pki.context, "issuing").number == number


def test_disabling_an_unknown_principal_is_not_found(pki: PKI) -> None:
    with pytest.raises(NotFound):
        disable_principal(pki.context, "nobody")
    with pytest.raises(NotFound):
        get_principal(pki.context, "nobody")


def test_principal_whose_certificate_was_revoked_directly_counts_as_disabled(
    pki: PKI, ca_context: CAContext
) -> None:
    from certward.ca.revoke import revoke_certificate

    bundle = create_principal(
        ca_context, name="revoked-directly", grants=[Grant(Permission.CA_READ)], ca_name="issuing"
    )
    revoke_certificate(ca_context, bundle.principal.certificate_serial, reason="keyCompromise")

    principal = get_principal(ca_context, "revoked-directly")
    assert not principal.enabled
    looked_up = principal_by_fingerprint(ca_context, bundle.principal.certificate_fingerprint)
    assert looked_up is not None and not looked_up.enabled


def test_disabling_a_principal_whose_certificate_is_already_revoked_still_disables_it(
    pki: PKI, ca_context: CAContext
) -> None:
    from certward.ca.revoke import revoke_certificate

    bundle = create_principal(
        ca_context, name="revoked-first", grants=[Grant(Permission.CA_READ)], ca_name="issuing"
    )
    revoke_certificate(ca_context, bundle.principal.certificate_serial)

    disabled = disable_principal(ca_context, "revoked-first")

    assert disabled.disabled_at is not None
    assert [p.enabled for p in list_principals(ca_context) if p.name == "revoked-first"] == [False]
