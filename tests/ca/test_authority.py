"""Creating root and intermediate CAs: extensions, validity, key types, refusals, files."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from sqlalchemy import func, select

from certward.ca.authority import ca_chain, create_ca, get_ca, list_cas
from certward.ca.context import CAContext
from certward.ca.crl import latest_crl
from certward.ca.extensions import NameConstraintSpec
from certward.ca.inventory import get_certificate
from certward.ca.revoke import revoke_certificate
from certward.crypto.formats import load_certificates, load_crl
from certward.crypto.keys import KeyType
from certward.errors import (
    CAExists,
    CANotFound,
    InvalidInput,
    InvalidName,
    InvalidSubject,
    InvalidValidity,
    IssuerNotUsable,
)
from certward.store.models import Base, CertificateAuthorityRow, CertificateRow, CRLRow

# Certificate contents do not depend on the database, so tests of contents alone run on
# SQLite only; everything that stores, refuses to store or queries runs on both backends.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

E = TypeVar("E", bound=x509.ExtensionType)
FIXED_NOW = datetime(2030, 6, 1, 12, 0, 0, tzinfo=UTC)


def _count(ctx: CAContext, model: type[Base]) -> int:
    with ctx.database.read() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _rows(ctx: CAContext) -> tuple[int, int, int]:
    return (
        _count(ctx, CertificateAuthorityRow),
        _count(ctx, CertificateRow),
        _count(ctx, CRLRow),
    )


def _certificate(ctx: CAContext, name: str) -> x509.Certificate:
    return ca_chain(ctx, name)[0]


def _extension(certificate: x509.Certificate, kind: type[E]) -> x509.Extension[E]:
    return certificate.extensions.get_extension_for_class(kind)


@pytest.fixture
def root(ca_context: CAContext) -> x509.Certificate:
    create_ca(ca_context, name="root", subject="/O=Tests/CN=Root", path_length=2)
    return _certificate(ca_context, "root")


@pytest.fixture
def intermediate(ca_context: CAContext, root: x509.Certificate) -> x509.Certificate:
    create_ca(ca_context, name="sub", subject="/O=Tests/CN=Sub", parent="root")
    return _certificate(ca_context, "sub")


# --- roots ----------------------------------------------------------------------------------


@SQLITE_ONLY
def test_root_is_self_signed_with_its_subject(root: x509.Certificate) -> None:
    assert root.subject == root.issuer
    assert root.subject.rfc4514_string() == "CN=Root,O=Tests"
    root.verify_directly_issued_by(root)


@SQLITE_ONLY
def test_root_basic_constraints_are_critical_ca_true_with_path_length(
    root: x509.Certificate,
) -> None:
    extension = _extension(root, x509.BasicConstraints)

    assert extension.critical
    assert extension.value.ca
    assert extension.value.path_length == 2


@SQLITE_ONLY
def test_root_without_path_length_has_no_limit(ca_context: CAContext) -> None:
    create_ca(ca_context, name="open", subject="/CN=Open Root")

    extension = _extension(_certificate(ca_context, "open"), x509.BasicConstraints)

    assert extension.value.path_length is None


@SQLITE_ONLY
def test_ca_key_usage_is_critical_cert_and_crl_signing(root: x509.Certificate) -> None:
    extension = _extension(root, x509.KeyUsage)

    assert extension.critical
    assert extension.value.key_cert_sign
    assert extension.value.crl_sign
    assert not extension.value.key_encipherment


@SQLITE_ONLY
def test_root_subject_key_identifier_is_the_hash_of_its_key(root: x509.Certificate) -> None:
    extension = _extension(root, x509.SubjectKeyIdentifier)

    assert not extension.critical
    assert extension.value == x509.SubjectKeyIdentifier.from_public_key(root.public_key())


@SQLITE_ONLY
def test_root_authority_key_identifier_is_its_own_key_id(root: x509.Certificate) -> None:
    aki = _extension(root, x509.AuthorityKeyIdentifier).value

    assert aki.key_identifier == _extension(root, x509.SubjectKeyIdentifier).value.digest


@SQLITE_ONLY
def test_root_validity_is_the_requested_days(ca_context: CAContext) -> None:
    context = replace(ca_context, clock=lambda: FIXED_NOW)

    info = create_ca(context, name="dated", subject="/CN=Dated Root", days=100)

    assert info.not_after == FIXED_NOW + timedelta(days=100)
    assert _certificate(context, "dated").not_valid_after_utc == FIXED_NOW + timedelta(days=100)


@SQLITE_ONLY
def test_root_validity_defaults_to_the_configured_root_days(ca_context: CAContext) -> None:
    context = replace(ca_context, clock=lambda: FIXED_NOW)

    info = create_ca(context, name="dated", subject="/CN=Dated Root")

    assert info.not_after == FIXED_NOW + timedelta(days=context.settings.root_ca_days)


@SQLITE_ONLY
def test_ca_certificate_is_back_dated_a_little(ca_context: CAContext) -> None:
    context = replace(ca_context, clock=lambda: FIXED_NOW)

    info = create_ca(context, name="dated", subject="/CN=Dated Root")

    assert FIXED_NOW - timedelta(minutes=5) <= info.not_before < FIXED_NOW


@SQLITE_ONLY
def test_ca_serial_is_positive_with_at_least_128_bits(root: x509.Certificate) -> None:
    assert root.serial_number > 0
    assert root.serial_number.bit_length() >= 128


def test_ca_certificate_is_in_the_inventory_as_a_ca(
    ca_context: CAContext, root: x509.Certificate
) -> None:
    summary = get_certificate(ca_context, format(root.serial_number, "x"))

    assert summary.is_ca
    assert summary.profile == "ca"
    assert summary.ca_name == "root"


# --- intermediates --------------------------------------------------------------------------


@SQLITE_ONLY
def test_intermediate_is_signed_by_its_parent(
    root: x509.Certificate, intermediate: x509.Certificate
) -> None:
    assert intermediate.issuer == root.subject
    intermediate.verify_directly_issued_by(root)


@SQLITE_ONLY
def test_intermediate_authority_key_identifier_is_the_parents_key_id(
    root: x509.Certificate, intermediate: x509.Certificate
) -> None:
    aki = _extension(intermediate, x509.AuthorityKeyIdentifier)

    assert not aki.critical
    assert aki.value.key_identifier == _extension(root, x509.SubjectKeyIdentifier).value.digest


@SQLITE_ONLY
def test_intermediate_has_its_own_subject_key_identifier(intermediate: x509.Certificate) -> None:
    ski = _extension(intermediate, x509.SubjectKeyIdentifier).value

    assert ski == x509.SubjectKeyIdentifier.from_public_key(intermediate.public_key())


@SQLITE_ONLY
def test_intermediate_is_a_critical_ca_with_cert_and_crl_signing(
    intermediate: x509.Certificate,
) -> None:
    basic = _extension(intermediate, x509.BasicConstraints)
    usage = _extension(intermediate, x509.KeyUsage)

    assert basic.critical
    assert basic.value.ca
    assert usage.critical
    assert usage.value.key_cert_sign
    assert usage.value.crl_sign


@SQLITE_ONLY
def test_intermediate_path_length_is_one_less_than_its_parents(
    intermediate: x509.Certificate,
) -> None:
    assert _extension(intermediate, x509.BasicConstraints).value.path_length == 1


@SQLITE_ONLY
def test_intermediate_path_length_asked_beyond_the_parents_is_cut(
    ca_context: CAContext, root: x509.Certificate
) -> None:
    create_ca(ca_context, name="greedy", subject="/CN=Greedy", parent="root", path_length=5)

    basic = _extension(_certificate(ca_context, "greedy"), x509.BasicConstraints)

    assert basic.value.path_length == 1


@SQLITE_ONLY
def test_intermediate_may_ask_for_a_shorter_path_length(
    ca_context: CAContext, root: x509.Certificate
) -> None:
    create_ca(ca_context, name="leafonly", subject="/CN=Leaf Only", parent="root", path_length=0)

    basic = _extension(_certificate(ca_context, "leafonly"), x509.BasicConstraints)

    assert basic.value.path_length == 0


def test_parent_with_path_length_zero_refuses_a_sub_ca(ca_context: CAContext) -> None:
    create_ca(ca_context, name="last", subject="/CN=Last", path_length=0)
    before = _rows(ca_context)

    with pytest.raises(IssuerNotUsable, match="path length 0"):
        create_ca(ca_context, name="below", subject="/CN=Below", parent="last")

    assert _rows(ca_context) == before


def test_intermediate_not_after_is_cut_to_its_parents(ca_context: CAContext) -> None:
    create_ca(ca_context, name="short", subject="/CN=Short Root", days=30)

    info = create_ca(ca_context, name="sub", subject="/CN=Sub", parent="short", days=365)

    assert info.not_after == get_ca(ca_context, "short").not_after
    assert _certificate(ca_context, "sub").not_valid_after_utc == info.not_after


@SQLITE_ONLY
def test_intermediate_validity_defaults_to_the_configured_intermediate_days(
    ca_context: CAContext,
) -> None:
    context = replace(ca_context, clock=lambda: FIXED_NOW)
    create_ca(context, name="root", subject="/CN=Root")

    info = create_ca(context, name="sub", subject="/CN=Sub", parent="root")

    assert info.not_after == FIXED_NOW + timedelta(days=context.settings.intermediate_ca_days)


@SQLITE_ONLY
def test_name_constraints_are_present_and_critical(
    ca_context: CAContext, root: x509.Certificate
) -> None:
    permitted = (x509.DNSName("example.com"),)
    excluded = (x509.IPAddress(ipaddress.ip_network("10.0.0.0/8")),)
    create_ca(
        ca_context,
        name="constrained",
        subject="/CN=Constrained",
        parent="root",
        name_constraints=NameConstraintSpec(permitted=permitted, excluded=excluded),
    )

    extension = _extension(_certificate(ca_context, "constrained"), x509.NameConstraints)

    assert extension.critical
    assert tuple(extension.value.permitted_subtrees or ()) == permitted
    assert tuple(extension.value.excluded_subtrees or ()) == excluded


@SQLITE_ONLY
def test_ca_without_name_constraints_has_none(intermediate: x509.Certificate) -> None:
    with pytest.raises(x509.ExtensionNotFound):
        intermediate.extensions.get_extension_for_class(x509.NameConstraints)


def test_ca_info_describes_the_intermediate(
    ca_context: CAContext, intermediate: x509.Certificate
) -> None:
    info = get_ca(ca_context, "sub")

    assert info.name == "sub"
    assert info.parent == "root"
    assert info.subject == "CN=Sub,O=Tests"
    assert info.key_type == "ec-p256"
    assert info.serial == format(intermediate.serial_number, "x")
    assert info.path_length == 1


def test_ca_chain_runs_from_the_ca_up_to_its_root(
    ca_context: CAContext, root: x509.Certificate, intermediate: x509.Certificate
) -> None:
    assert ca_chain(ca_context, "sub") == [intermediate, root]


def test_list_cas_shows_roots_before_their_intermediates(
    ca_context: CAContext, intermediate: x509.Certificate
) -> None:
    assert [(info.name, info.parent) for info in list_cas(ca_context)] == [
        ("root", None),
        ("sub", "root"),
    ]


def test_unknown_ca_is_ca_not_found(ca_context: CAContext) -> None:
    with pytest.raises(CANotFound):
        get_ca(ca_context, "nope")


def test_intermediate_under_an_unknown_parent_is_ca_not_found(ca_context: CAContext) -> None:
    with pytest.raises(CANotFound):
        create_ca(ca_context, name="orphan", subject="/CN=Orphan", parent="nope")

    assert _rows(ca_context) == (0, 0, 0)


def test_intermediate_under_a_revoked_parent_is_refused(
    ca_context: CAContext, intermediate: x509.Certificate
) -> None:
    revoke_certificate(ca_context, format(intermediate.serial_number, "x"))
    before = _rows(ca_context)

    with pytest.raises(IssuerNotUsable, match="revoked"):
        create_ca(ca_context, name="below", subject="/CN=Below", parent="sub")

    assert _rows(ca_context) == before


# --- key types ------------------------------------------------------------------------------

_PUBLIC_KEY_CLASS = {
    KeyType.EC_P256: ec.EllipticCurvePublicKey,
    KeyType.EC_P384: ec.EllipticCurvePublicKey,
    KeyType.RSA_2048: rsa.RSAPublicKey,
    KeyType.RSA_3072: rsa.RSAPublicKey,
    KeyType.RSA_4096: rsa.RSAPublicKey,
    KeyType.ED25519: ed25519.Ed25519PublicKey,
}


@pytest.mark.parametrize(
    "key_type",
    [
        KeyType.EC_P256,
        KeyType.EC_P384,
        KeyType.RSA_2048,
        KeyType.RSA_3072,
        KeyType.ED25519,
        pytest.param(KeyType.RSA_4096, id="rsa-4096-slowish"),
    ],
)
@SQLITE_ONLY
def test_root_of_every_key_type_signs_an_intermediate(
    ca_context: CAContext, key_type: KeyType
) -> None:
    create_ca(ca_context, name="root", subject="/CN=Root", key_type=key_type)

    create_ca(ca_context, name="sub", subject="/CN=Sub", parent="root")

    root, sub = _certificate(ca_context, "root"), _certificate(ca_context, "sub")
    assert isinstance(root.public_key(), _PUBLIC_KEY_CLASS[key_type])
    assert get_ca(ca_context, "root").key_type == key_type.value
    root.verify_directly_issued_by(root)
    sub.verify_directly_issued_by(root)


@SQLITE_ONLY
def test_p384_ca_signs_with_sha384(ca_context: CAContext) -> None:
    create_ca(ca_context, name="root", subject="/CN=Root", key_type=KeyType.EC_P384)

    assert isinstance(_certificate(ca_context, "root").signature_hash_algorithm, hashes.SHA384)


@SQLITE_ONLY
def test_ed25519_ca_signs_without_a_separate_hash(ca_context: CAContext) -> None:
    create_ca(ca_context, name="root", subject="/CN=Root", key_type=KeyType.ED25519)

    assert _certificate(ca_context, "root").signature_hash_algorithm is None


# --- refusals -------------------------------------------------------------------------------


def test_duplicate_name_is_ca_exists_and_writes_nothing(
    ca_context: CAContext, root: x509.Certificate
) -> None:
    published = ca_context.published_dir
    assert published is not None
    files_before = {p.name: p.read_bytes() for p in (published / "root").iterdir()}
    rows_before = _rows(ca_context)

    with pytest.raises(CAExists):
        create_ca(ca_context, name="root", subject="/CN=Another Root")

    assert _rows(ca_context) == rows_before
    assert {p.name: p.read_bytes() for p in (published / "root").iterdir()} == files_before
    assert _certificate(ca_context, "root") == root


@pytest.mark.parametrize("name", ["", "-lead", ".hidden", "has space", "a/b", "ü", "a" * 65, "x\n"])
@SQLITE_ONLY
def test_invalid_ca_name_is_refused_and_writes_nothing(ca_context: CAContext, name: str) -> None:
    with pytest.raises(InvalidName):
        create_ca(ca_context, name=name, subject="/CN=X")

    assert _rows(ca_context) == (0, 0, 0)


@pytest.mark.parametrize("name", ["a", "root-2024", "Issuing_CA.v2", "a" * 64])
@SQLITE_ONLY
def test_valid_ca_names_are_accepted(ca_context: CAContext, name: str) -> None:
    info = create_ca(ca_context, name=name, subject="/CN=X")

    assert info.name == name


@pytest.mark.parametrize(
    "subject", ["", "/", "CN", "/CN=x/XYZ=1", "/C=USA/CN=x", "/CN=" + "a" * 65]
)
@SQLITE_ONLY
def test_invalid_subject_is_refused_and_writes_nothing(ca_context: CAContext, subject: str) -> None:
    with pytest.raises(InvalidSubject):
        create_ca(ca_context, name="root", subject=subject)

    assert _rows(ca_context) == (0, 0, 0)


def test_negative_path_length_is_refused(ca_context: CAContext) -> None:
    with pytest.raises(InvalidInput):
        create_ca(ca_context, name="root", subject="/CN=Root", path_length=-1)

    assert _rows(ca_context) == (0, 0, 0)


@pytest.mark.parametrize("days", [0, -1, 36501])
@SQLITE_ONLY
def test_validity_outside_one_day_to_a_century_is_refused(ca_context: CAContext, days: int) -> None:
    with pytest.raises(InvalidValidity):
        create_ca(ca_context, name="root", subject="/CN=Root", days=days)

    assert _rows(ca_context) == (0, 0, 0)


# --- initial CRL and published files --------------------------------------------------------


def test_new_ca_has_an_empty_crl_number_one(
    ca_context: CAContext, intermediate: x509.Certificate
) -> None:
    crl = latest_crl(ca_context, "sub")

    assert crl.number == 1
    assert crl.entries == 0
    assert get_ca(ca_context, "sub").crl_number == 1
    assert load_crl(crl.der).is_signature_valid(intermediate.public_key())


def test_new_ca_publishes_its_certificate_chain_and_crl(
    ca_context: CAContext, root: x509.Certificate, intermediate: x509.Certificate
) -> None:
    assert ca_context.published_dir is not None
    directory: Path = ca_context.published_dir / "sub"

    assert load_certificates((directory / "ca.crt").read_bytes()) == [intermediate]
    assert load_certificates((directory / "chain.pem").read_bytes()) == [intermediate, root]
    assert (directory / "crl.der").read_bytes() == latest_crl(ca_context, "sub").der
    assert load_crl((directory / "crl.pem").read_bytes()) == load_crl(
        (directory / "crl.der").read_bytes()
    )


@SQLITE_ONLY
def test_published_files_are_world_readable(ca_context: CAContext, root: x509.Certificate) -> None:
    assert ca_context.published_dir is not None
    directory = ca_context.published_dir / "root"

    modes = {p.name: p.stat().st_mode & 0o777 for p in directory.iterdir()}

    assert modes == {"ca.crt": 0o644, "chain.pem": 0o644, "crl.der": 0o644, "crl.pem": 0o644}
