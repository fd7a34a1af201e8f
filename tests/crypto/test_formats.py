"""Reading certificates, CSRs and CRLs from outside bytes; PEM chains and PKCS#12 bundles."""

from __future__ import annotations

import datetime
import functools

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certward.crypto.formats import (
    certificate_pem,
    chain_pem,
    crl_pem,
    export_pkcs12,
    load_certificate,
    load_certificates,
    load_crl,
    load_csr,
    load_pkcs12,
)
from certward.crypto.keys import MAX_PASSWORD_LENGTH, public_key_to_pem
from certward.errors import MalformedData, PasswordError

NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
PASSWORD = b"pfx-password-123"


@functools.cache
def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject: str, issuer: str | None = None) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer or subject))
        .public_key(_key().public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(minutes=1))
        .not_valid_after(NOW + datetime.timedelta(days=1))
        .sign(_key(), hashes.SHA256())
    )


def _crl() -> x509.CertificateRevocationList:
    return (
        x509.CertificateRevocationListBuilder()
        .issuer_name(_name("CA"))
        .last_update(NOW)
        .next_update(NOW + datetime.timedelta(days=1))
        .sign(_key(), hashes.SHA256())
    )


def _csr() -> x509.CertificateSigningRequest:
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(_name("csr"))
        .sign(_key(), hashes.SHA256())
    )


# --- certificates ---------------------------------------------------------------------------


def test_load_certificates_reads_every_certificate_of_a_pem_bundle_in_order() -> None:
    leaf, ca = _certificate("leaf", "ca"), _certificate("ca")

    loaded = load_certificates(chain_pem([leaf, ca]))

    assert loaded == [leaf, ca]


def test_load_certificates_skips_text_between_pem_blocks() -> None:
    leaf, ca = _certificate("leaf", "ca"), _certificate("ca")
    bundle = b"subject=leaf\n" + certificate_pem(leaf) + b"\n# the CA\n" + certificate_pem(ca)

    assert load_certificates(bundle) == [leaf, ca]


def test_load_certificates_reads_one_der_certificate() -> None:
    certificate = _certificate("leaf")

    loaded = load_certificates(certificate.public_bytes(serialization.Encoding.DER))

    assert loaded == [certificate]


def test_load_certificate_is_the_first_of_a_bundle() -> None:
    leaf, ca = _certificate("leaf", "ca"), _certificate("ca")

    assert load_certificate(chain_pem([leaf, ca])) == leaf


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"  \n",
        b"garbage",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        b"\x30\x82\x01\x00",
    ],
)
def test_malformed_certificate_data_is_malformed_data(data: bytes) -> None:
    with pytest.raises(MalformedData):
        load_certificates(data)


def test_chain_pem_keeps_the_given_order() -> None:
    leaf, ca = _certificate("leaf", "ca"), _certificate("ca")

    assert chain_pem([leaf, ca]) == certificate_pem(leaf) + certificate_pem(ca)


# --- CSRs and CRLs --------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", [serialization.Encoding.PEM, serialization.Encoding.DER])
def test_load_csr_reads_pem_and_der(encoding: serialization.Encoding) -> None:
    csr = _csr()

    assert load_csr(csr.public_bytes(encoding)) == csr


@pytest.mark.parametrize("data", [b"", b"garbage", b"-----BEGIN CERTIFICATE REQUEST-----\nAA\n"])
def test_malformed_csr_is_malformed_data(data: bytes) -> None:
    with pytest.raises(MalformedData):
        load_csr(data)


@pytest.mark.parametrize("encoding", [serialization.Encoding.PEM, serialization.Encoding.DER])
def test_load_crl_reads_pem_and_der(encoding: serialization.Encoding) -> None:
    crl = _crl()

    assert load_crl(crl.public_bytes(encoding)) == crl


@pytest.mark.parametrize("data", [b"", b"garbage", b"-----BEGIN X509 CRL-----\nAA\n"])
def test_malformed_crl_is_malformed_data(data: bytes) -> None:
    with pytest.raises(MalformedData):
        load_crl(data)


def test_crl_pem_armours_the_der() -> None:
    crl = _crl()

    pem = crl_pem(crl.public_bytes(serialization.Encoding.DER))

    assert pem == crl.public_bytes(serialization.Encoding.PEM)


# --- PKCS#12 --------------------------------------------------------------------------------


def _bundle(password: bytes | None) -> tuple[bytes, x509.Certificate, x509.Certificate]:
    leaf, ca = _certificate("leaf", "ca"), _certificate("ca")
    data = export_pkcs12(name="leaf", key=_key(), certificate=leaf, chain=[ca], password=password)
    return data, leaf, ca


def test_pkcs12_round_trip_with_a_password() -> None:
    data, leaf, ca = _bundle(PASSWORD)

    key, certificate, extra = load_pkcs12(data, password=PASSWORD)

    assert key is not None
    assert public_key_to_pem(key.public_key()) == public_key_to_pem(_key().public_key())
    assert certificate == leaf
    assert extra == [ca]


def test_pkcs12_round_trip_without_a_password() -> None:
    data, leaf, ca = _bundle(None)

    key, certificate, extra = load_pkcs12(data, password=None)

    assert key is not None
    assert public_key_to_pem(key.public_key()) == public_key_to_pem(_key().public_key())
    assert certificate == leaf
    assert extra == [ca]


def test_pkcs12_with_a_wrong_password_is_a_password_error_that_does_not_echo_it() -> None:
    data, _, _ = _bundle(PASSWORD)

    with pytest.raises(PasswordError) as caught:
        load_pkcs12(data, password=b"not-the-password")

    assert "not-the-password" not in str(caught.value)
    assert PASSWORD.decode() not in str(caught.value)


def test_pkcs12_password_longer_than_the_limit_is_refused() -> None:
    leaf = _certificate("leaf")

    with pytest.raises(PasswordError):
        export_pkcs12(
            name="leaf",
            key=_key(),
            certificate=leaf,
            chain=[],
            password=b"p" * (MAX_PASSWORD_LENGTH + 1),
        )


def test_pkcs12_without_a_chain_has_no_extra_certificates() -> None:
    leaf = _certificate("leaf")
    data = export_pkcs12(name="leaf", key=_key(), certificate=leaf, chain=[], password=PASSWORD)

    _, certificate, extra = load_pkcs12(data, password=PASSWORD)

    assert certificate == leaf
    assert extra == []


def test_damaged_pkcs12_is_refused() -> None:
    data, _, _ = _bundle(PASSWORD)

    with pytest.raises(PasswordError):
        load_pkcs12(data[: len(data) // 2], password=PASSWORD)
