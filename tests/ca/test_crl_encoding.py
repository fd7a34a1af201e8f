"""CRLs joined from pre-encoded entries are the CRLs cryptography and openssl expect."""

from __future__ import annotations

import datetime as dt
import functools
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID
from hypothesis import given, settings
from hypothesis import strategies as st

from certward.ca.crl_encoding import CRLParams, build_crl, encode_revoked_entry
from certward.crypto.der import TAG_GENERALIZED_TIME, TAG_UTC_TIME, read_tlv
from certward.crypto.keys import KeyType, SigningKey, generate_private_key, signature_hash_for
from certward.errors import InvalidInput, InvalidValidity, KeyTypeNotAllowed

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
REVOKED_AT = dt.datetime(2025, 6, 1, 12, 30, 45, tzinfo=dt.UTC)
# Every reason a full CRL may carry; removeFromCRL is for delta CRLs only.
CRL_REASONS = [r for r in x509.ReasonFlags if r is not x509.ReasonFlags.remove_from_crl]
OPENSSL_REASON_TEXT = {
    x509.ReasonFlags.key_compromise: "Key Compromise",
    x509.ReasonFlags.ca_compromise: "CA Compromise",
    x509.ReasonFlags.affiliation_changed: "Affiliation Changed",
    x509.ReasonFlags.superseded: "Superseded",
    x509.ReasonFlags.cessation_of_operation: "Cessation Of Operation",
    x509.ReasonFlags.certificate_hold: "Certificate Hold",
    x509.ReasonFlags.privilege_withdrawn: "Privilege Withdrawn",
    x509.ReasonFlags.aa_compromise: "AA Compromise",
}

# Never skipped: tests/conftest.py fails interop tests when openssl is missing.
requires_openssl = pytest.mark.interop


@dataclass(frozen=True)
class CA:
    """A throwaway CA, the trustme way: a key, a self-signed certificate, helpers."""

    key: SigningKey
    certificate: x509.Certificate

    @property
    def name(self) -> x509.Name:
        return self.certificate.subject

    def crl_params(self, *, crl_number: int = 7) -> CRLParams:
        return CRLParams(
            issuer=self.name,
            this_update=NOW - dt.timedelta(hours=1),
            next_update=NOW + dt.timedelta(days=7),
            crl_number=crl_number,
            authority_key_identifier=x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.key.public_key()
            ),
        )

    def issue_leaf(self, serial: int) -> x509.Certificate:
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leaf.test")]))
            .issuer_name(self.name)
            .public_key(leaf_key.public_key())
            .serial_number(serial)
            .not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, _builder_hash(self.key))
        )

    def write_pem(self, directory: Path) -> Path:
        path = directory / "ca.pem"
        path.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
        return path


@functools.cache
def ca_for(key_type: KeyType) -> CA:
    """One CA per key type for the whole run (RSA-4096 keys are slow to make)."""
    key = generate_private_key(key_type)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"certward test CA {key_type}")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=365))
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, _builder_hash(key))
    )
    return CA(key=key, certificate=certificate)


def _builder_hash(key: SigningKey) -> hashes.SHA256 | hashes.SHA384 | None:
    algorithm = signature_hash_for(key)
    assert isinstance(algorithm, hashes.SHA256 | hashes.SHA384 | None)
    return algorithm


def _reference_crl(
    ca: CA, params: CRLParams, revoked: Sequence[tuple[int, dt.datetime, x509.ReasonFlags | None]]
) -> x509.CertificateRevocationList:
    """The same CRL made entirely by cryptography's builder (list passed at once)."""
    entries = []
    for serial, revoked_at, reason in revoked:
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(revoked_at)
        if reason not in (None, x509.ReasonFlags.unspecified):
            entry = entry.add_extension(x509.CRLReason(reason), critical=False)
        entries.append(entry.build())
    return x509.CertificateRevocationListBuilder(
        issuer_name=params.issuer,
        last_update=params.this_update,
        next_update=params.next_update,
        extensions=[
            x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(params.crl_number)),
            x509.Extension(x509.AuthorityKeyIdentifier.oid, False, params.authority_key_identifier),
        ],
        revoked_certificates=entries,
    ).sign(ca.key, _builder_hash(ca.key))


def _top_level(der: bytes) -> list[bytes]:
    """The elements inside the outermost SEQUENCE of ``der``, each with its header."""
    _, position, length = read_tlv(der, 0)
    end = position + length
    elements = []
    while position < end:
        _, header, content = read_tlv(der, position)
        elements.append(der[position : position + header + content])
        position += header + content
    return elements


def _reference_entry(
    serial: int, revoked_at: dt.datetime, reason: x509.ReasonFlags | None
) -> bytes:
    """cryptography's DER for one revokedCertificates entry."""
    ca = ca_for(KeyType.EC_P256)
    tbs = _reference_crl(ca, ca.crl_params(), [(serial, revoked_at, reason)]).tbs_certlist_bytes
    revoked_certificates = _top_level(tbs)[5]
    return _top_level(revoked_certificates)[0]


def _build(
    ca: CA, revoked: Sequence[tuple[int, dt.datetime, x509.ReasonFlags | None]]
) -> x509.CertificateRevocationList:
    entries = [encode_revoked_entry(*entry) for entry in revoked]
    return x509.load_der_x509_crl(build_crl(ca.crl_params(), entries, private_key=ca.key))


def _openssl(*args: str) -> str:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    return result.stdout + result.stderr


def _write_crl(directory: Path, der: bytes) -> tuple[Path, Path]:
    der_path = directory / "crl.der"
    pem_path = directory / "crl.pem"
    der_path.write_bytes(der)
    pem_path.write_bytes(x509.load_der_x509_crl(der).public_bytes(serialization.Encoding.PEM))
    return der_path, pem_path


# --- entries -----------------------------------------------------------------------------


@pytest.mark.parametrize("reason", [None, *CRL_REASONS], ids=str)
def test_entry_is_byte_identical_to_cryptography_for_every_reason(
    reason: x509.ReasonFlags | None,
) -> None:
    assert encode_revoked_entry(1234, REVOKED_AT, reason) == _reference_entry(
        1234, REVOKED_AT, reason
    )


@pytest.mark.parametrize("reason", CRL_REASONS, ids=str)
def test_entry_reason_parses_back_and_unspecified_is_left_out(reason: x509.ReasonFlags) -> None:
    (entry,) = _build(ca_for(KeyType.EC_P256), [(99, REVOKED_AT, reason)])

    if reason is x509.ReasonFlags.unspecified:
        assert len(entry.extensions) == 0
    else:
        assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason is reason


def test_entry_without_reason_has_no_extensions() -> None:
    (entry,) = _build(ca_for(KeyType.EC_P256), [(99, REVOKED_AT, None)])

    assert len(entry.extensions) == 0


@pytest.mark.parametrize("serial", [1, 127, 128, 255, 256, 2**63, 2**159 - 1])
def test_entry_serial_of_any_size_round_trips(serial: int) -> None:
    encoded = encode_revoked_entry(serial, REVOKED_AT, x509.ReasonFlags.superseded)

    (entry,) = _build(ca_for(KeyType.EC_P256), [(serial, REVOKED_AT, x509.ReasonFlags.superseded)])

    assert entry.serial_number == serial
    assert encoded == _reference_entry(serial, REVOKED_AT, x509.ReasonFlags.superseded)


def test_twenty_octet_serial_is_the_largest_allowed() -> None:
    serial_element = _top_level(encode_revoked_entry(2**159 - 1, REVOKED_AT, None))[0]

    assert serial_element[1] == 20  # content length: 20 octets, no sign padding needed


@pytest.mark.parametrize(
    ("revoked_at", "time_tag"),
    [
        (dt.datetime(1950, 1, 1, tzinfo=dt.UTC), TAG_UTC_TIME),
        (dt.datetime(2049, 12, 31, 23, 59, 59, tzinfo=dt.UTC), TAG_UTC_TIME),
        (dt.datetime(2050, 1, 1, tzinfo=dt.UTC), TAG_GENERALIZED_TIME),
    ],
)
def test_entry_date_switches_from_utctime_to_generalized_time_in_2050(
    revoked_at: dt.datetime, time_tag: int
) -> None:
    encoded = encode_revoked_entry(5, revoked_at, None)

    (entry,) = _build(ca_for(KeyType.EC_P256), [(5, revoked_at, None)])

    assert _top_level(encoded)[1][0] == time_tag
    assert entry.revocation_date_utc == revoked_at
    assert encoded == _reference_entry(5, revoked_at, None)


def test_entry_date_is_converted_to_utc_and_truncated_to_seconds_like_cryptography() -> None:
    paris = dt.datetime(2025, 6, 1, 14, 30, 45, 999_999, tzinfo=dt.timezone(dt.timedelta(hours=2)))

    assert encode_revoked_entry(5, paris, None) == _reference_entry(5, REVOKED_AT, None)


def test_entry_with_naive_date_is_refused() -> None:
    with pytest.raises(InvalidInput):
        encode_revoked_entry(5, dt.datetime(2025, 1, 1), None)


def test_entry_with_remove_from_crl_is_refused_outside_delta_crls() -> None:
    with pytest.raises(InvalidInput, match="delta"):
        encode_revoked_entry(5, REVOKED_AT, x509.ReasonFlags.remove_from_crl)


@pytest.mark.parametrize("serial", [0, -1, 2**159])
def test_entry_with_serial_outside_rfc_5280_range_is_refused(serial: int) -> None:
    with pytest.raises(InvalidInput):
        encode_revoked_entry(serial, REVOKED_AT, None)


_revocations = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=2**159 - 1),
        st.datetimes(
            min_value=dt.datetime(1, 1, 1),
            max_value=dt.datetime(9999, 12, 31, 23, 59, 59),
            timezones=st.just(dt.UTC),
        ).map(lambda moment: moment.replace(microsecond=0)),
        st.sampled_from([None, *CRL_REASONS]),
    ),
    max_size=30,
)


@settings(deadline=None)
@given(_revocations)
def test_any_revocations_round_trip_through_cryptography_parser(
    revocations: list[tuple[int, dt.datetime, x509.ReasonFlags | None]],
) -> None:
    crl = _build(ca_for(KeyType.EC_P256), revocations)

    parsed = []
    for entry in crl:
        reasons = [
            ext.value.reason for ext in entry.extensions if isinstance(ext.value, x509.CRLReason)
        ]
        parsed.append((entry.serial_number, entry.revocation_date_utc, *reasons))
    expected = [
        (serial, when) if reason in (None, x509.ReasonFlags.unspecified) else (serial, when, reason)
        for serial, when, reason in revocations
    ]
    assert parsed == expected


# --- whole CRLs ----------------------------------------------------------------------------


@pytest.mark.parametrize("key_type", list(KeyType))
def test_crl_signature_is_valid_for_every_ca_key_type(key_type: KeyType) -> None:
    ca = ca_for(key_type)

    crl = _build(ca, [(1, REVOKED_AT, x509.ReasonFlags.key_compromise), (2, REVOKED_AT, None)])

    assert crl.is_signature_valid(ca.key.public_key())


@pytest.mark.parametrize(
    ("key_type", "algorithm"),
    [
        (KeyType.EC_P256, SignatureAlgorithmOID.ECDSA_WITH_SHA256),
        (KeyType.EC_P384, SignatureAlgorithmOID.ECDSA_WITH_SHA384),
        (KeyType.RSA_2048, SignatureAlgorithmOID.RSA_WITH_SHA256),
        (KeyType.RSA_4096, SignatureAlgorithmOID.RSA_WITH_SHA256),
        (KeyType.ED25519, SignatureAlgorithmOID.ED25519),
    ],
)
def test_crl_is_signed_with_the_algorithm_of_the_ca_key(
    key_type: KeyType, algorithm: x509.ObjectIdentifier
) -> None:
    crl = _build(ca_for(key_type), [(1, REVOKED_AT, None)])

    assert crl.signature_algorithm_oid == algorithm


@pytest.mark.parametrize("key_type", list(KeyType))
def test_crl_tbs_is_byte_identical_to_cryptography_builder(key_type: KeyType) -> None:
    ca = ca_for(key_type)
    revoked = [
        (serial, REVOKED_AT, CRL_REASONS[serial % len(CRL_REASONS)]) for serial in range(1, 40)
    ]

    ours = _build(ca, revoked)

    assert (
        ours.tbs_certlist_bytes == _reference_crl(ca, ca.crl_params(), revoked).tbs_certlist_bytes
    )


@pytest.mark.parametrize("key_type", [KeyType.RSA_2048, KeyType.ED25519])
def test_crl_is_byte_identical_to_cryptography_builder_for_deterministic_signatures(
    key_type: KeyType,
) -> None:
    # PKCS#1 v1.5 and Ed25519 signatures are deterministic, so the whole DER must match.
    ca = ca_for(key_type)
    revoked = [(3, REVOKED_AT, x509.ReasonFlags.superseded), (2**100, REVOKED_AT, None)]
    entries = [encode_revoked_entry(*entry) for entry in revoked]

    ours = build_crl(ca.crl_params(), entries, private_key=ca.key)

    reference = _reference_crl(ca, ca.crl_params(), revoked)
    assert ours == reference.public_bytes(serialization.Encoding.DER)


def test_crl_carries_issuer_times_number_and_authority_key_identifier() -> None:
    ca = ca_for(KeyType.EC_P256)
    params = ca.crl_params(crl_number=2**64)

    crl = x509.load_der_x509_crl(build_crl(params, [], private_key=ca.key))

    assert crl.issuer == ca.name
    assert crl.last_update_utc == params.this_update
    assert crl.next_update_utc == params.next_update
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2**64
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki == params.authority_key_identifier


def test_empty_crl_parses_and_leaves_out_revoked_certificates_field() -> None:
    ca = ca_for(KeyType.EC_P256)

    der = build_crl(ca.crl_params(), [], private_key=ca.key)

    crl = x509.load_der_x509_crl(der)
    assert len(crl) == 0
    assert list(crl) == []
    # version, signature, issuer, thisUpdate, nextUpdate, [0] extensions: no empty SEQUENCE.
    assert [element[0] for element in _top_level(crl.tbs_certlist_bytes)] == [
        0x02,
        0x30,
        0x30,
        TAG_UTC_TIME,
        TAG_UTC_TIME,
        0xA0,
    ]
    assert crl.is_signature_valid(ca.key.public_key())


def test_entries_may_come_from_a_generator() -> None:
    ca = ca_for(KeyType.EC_P256)
    entries = (encode_revoked_entry(serial, REVOKED_AT, None) for serial in range(1, 11))

    crl = x509.load_der_x509_crl(build_crl(ca.crl_params(), entries, private_key=ca.key))

    assert [entry.serial_number for entry in crl] == list(range(1, 11))


def test_twenty_thousand_entries_build_and_parse_with_every_serial() -> None:
    ca = ca_for(KeyType.EC_P256)
    entries = [
        encode_revoked_entry(serial, REVOKED_AT, x509.ReasonFlags.key_compromise)
        for serial in range(1, 20_001)
    ]

    crl = x509.load_der_x509_crl(build_crl(ca.crl_params(), entries, private_key=ca.key))

    assert len(crl) == 20_000
    assert {entry.serial_number for entry in crl} == set(range(1, 20_001))
    assert crl.is_signature_valid(ca.key.public_key())


def test_crl_with_unsupported_ca_key_is_refused() -> None:
    key = dsa.generate_private_key(2048)
    params = ca_for(KeyType.EC_P256).crl_params()

    with pytest.raises(KeyTypeNotAllowed):
        build_crl(params, [], private_key=key)


def test_crl_params_refuse_next_update_not_after_this_update() -> None:
    params = ca_for(KeyType.EC_P256).crl_params()

    with pytest.raises(InvalidValidity):
        CRLParams(
            issuer=params.issuer,
            this_update=params.this_update,
            next_update=params.this_update,
            crl_number=1,
            authority_key_identifier=params.authority_key_identifier,
        )


@pytest.mark.parametrize(
    ("this_update", "crl_number"),
    [(dt.datetime(2025, 1, 1), 1), (NOW, -1), (NOW, 2**159)],
    ids=["naive-time", "negative-number", "number-over-20-octets"],
)
def test_crl_params_refuse_naive_times_and_out_of_range_numbers(
    this_update: dt.datetime, crl_number: int
) -> None:
    params = ca_for(KeyType.EC_P256).crl_params()

    with pytest.raises(InvalidInput):
        CRLParams(
            issuer=params.issuer,
            this_update=this_update,
            next_update=NOW + dt.timedelta(days=1),
            crl_number=crl_number,
            authority_key_identifier=params.authority_key_identifier,
        )


# --- openssl ---------------------------------------------------------------------------------


@pytest.mark.interop
@requires_openssl
def test_openssl_prints_number_aki_entries_and_every_reason(tmp_path: Path) -> None:
    ca = ca_for(KeyType.EC_P256)
    revoked: list[tuple[int, dt.datetime, x509.ReasonFlags | None]] = [
        (serial, REVOKED_AT, reason) for serial, reason in enumerate(CRL_REASONS, 1)
    ]
    revoked.append((0xABCDEF, dt.datetime(2050, 1, 1, tzinfo=dt.UTC), None))
    entries = [encode_revoked_entry(*entry) for entry in revoked]
    der_path, _ = _write_crl(tmp_path, build_crl(ca.crl_params(), entries, private_key=ca.key))

    text = _openssl("crl", "-inform", "DER", "-in", str(der_path), "-noout", "-text")

    assert "X509v3 CRL Number: \n                7" in text
    assert "X509v3 Authority Key Identifier" in text
    aki = ca.crl_params().authority_key_identifier.key_identifier
    assert aki is not None
    assert aki.hex(":").upper() in text
    assert "Revoked Certificates:" in text
    assert "Serial Number: ABCDEF" in text
    assert "Revocation Date: Jan  1 00:00:00 2050 GMT" in text
    assert "Revocation Date: Jun  1 12:30:45 2025 GMT" in text
    for reason_text in OPENSSL_REASON_TEXT.values():
        assert reason_text in text
    assert "Unspecified" not in text


@pytest.mark.interop
@requires_openssl
@pytest.mark.parametrize("key_type", list(KeyType))
def test_openssl_verifies_crl_signature(tmp_path: Path, key_type: KeyType) -> None:
    ca = ca_for(key_type)
    entries = [encode_revoked_entry(serial, REVOKED_AT, None) for serial in range(1, 100)]
    der_path, _ = _write_crl(tmp_path, build_crl(ca.crl_params(), entries, private_key=ca.key))

    output = _openssl(
        "crl", "-inform", "DER", "-in", str(der_path), "-noout", "-verify",
        "-CAfile", str(ca.write_pem(tmp_path)),
    )  # fmt: skip

    assert "verify OK" in output


@pytest.mark.interop
@requires_openssl
@pytest.mark.parametrize("key_type", [KeyType.EC_P256, KeyType.RSA_2048, KeyType.ED25519])
def test_openssl_reports_revoked_leaf_as_revoked(tmp_path: Path, key_type: KeyType) -> None:
    ca = ca_for(key_type)
    leaf = ca.issue_leaf(0x1234567890)
    leaf_path = tmp_path / "leaf.pem"
    leaf_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    entries = [
        encode_revoked_entry(1, REVOKED_AT, None),
        encode_revoked_entry(leaf.serial_number, REVOKED_AT, x509.ReasonFlags.key_compromise),
    ]
    _, pem_path = _write_crl(tmp_path, build_crl(ca.crl_params(), entries, private_key=ca.key))

    output = _openssl(
        "verify", "-crl_check", "-CRLfile", str(pem_path),
        "-CAfile", str(ca.write_pem(tmp_path)), str(leaf_path),
    )  # fmt: skip

    assert "certificate revoked" in output


@pytest.mark.interop
@requires_openssl
def test_openssl_accepts_leaf_against_empty_crl(tmp_path: Path) -> None:
    ca = ca_for(KeyType.EC_P256)
    leaf_path = tmp_path / "leaf.pem"
    leaf_path.write_bytes(ca.issue_leaf(0x1234567890).public_bytes(serialization.Encoding.PEM))
    _, pem_path = _write_crl(tmp_path, build_crl(ca.crl_params(), [], private_key=ca.key))

    output = _openssl(
        "verify", "-crl_check", "-CRLfile", str(pem_path),
        "-CAfile", str(ca.write_pem(tmp_path)), str(leaf_path),
    )  # fmt: skip

    assert f"{leaf_path}: OK" in output
