"""Reading the KDS facts of certificates: KDSName, groups, precisions (as Limax reads them)."""

from __future__ import annotations

import datetime as dt
import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certward.errors import InvalidSubject, SubjectAltNameWithoutDNSName, SubjectAltNameWithoutURI
from certward.kds.certs import (
    group_uris_of_client,
    groups_of_client,
    kds_name_of_client,
    kds_name_of_server,
)

_KEY = ec.generate_private_key(ec.SECP256R1())


def _certificate(
    subject: list[tuple[x509.ObjectIdentifier, str]], sans: list[x509.GeneralName] | None
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(oid, value) for oid, value in subject])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")]))
        .public_key(_KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
    )
    if sans is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(_KEY, hashes.SHA256())


def _client(*sans: x509.GeneralName) -> x509.Certificate:
    return _certificate([(NameOID.COMMON_NAME, "app1")], list(sans))


def test_client_facts_come_from_the_san() -> None:
    cert = _client(
        x509.DNSName("key.example.org"),
        x509.UniformResourceIdentifier("urn:prjA#10s"),
        x509.IPAddress(ipaddress.ip_address("192.0.2.1")),
        x509.UniformResourceIdentifier("urn:prjB"),
    )

    assert kds_name_of_client(cert) == "key.example.org"
    assert group_uris_of_client(cert) == ("urn:prjA#10s", "urn:prjB")
    assert groups_of_client(cert) == frozenset({"urn:prjA", "urn:prjB"})


def test_the_last_san_dns_name_is_the_kds_name_as_in_limax() -> None:
    cert = _client(
        x509.DNSName("first.example.org"),
        x509.UniformResourceIdentifier("urn:g"),
        x509.DNSName("last.example.org"),
    )
    assert kds_name_of_client(cert) == "last.example.org"


@pytest.mark.parametrize(
    "sans",
    [None, [x509.UniformResourceIdentifier("urn:g")]],
    ids=["no-san-extension", "uri-only"],
)
def test_client_without_san_dns_name_is_refused(sans: list[x509.GeneralName] | None) -> None:
    cert = _certificate([(NameOID.COMMON_NAME, "key.example.org")], sans)
    with pytest.raises(SubjectAltNameWithoutDNSName):
        kds_name_of_client(cert)


@pytest.mark.parametrize(
    "sans", [None, [x509.DNSName("key.example.org")]], ids=["no-san-extension", "dns-only"]
)
def test_client_without_san_uri_is_refused(sans: list[x509.GeneralName] | None) -> None:
    cert = _certificate([(NameOID.COMMON_NAME, "app1")], sans)
    with pytest.raises(SubjectAltNameWithoutURI):
        group_uris_of_client(cert)
    with pytest.raises(SubjectAltNameWithoutURI):
        groups_of_client(cert)


def test_server_kds_name_is_the_first_subject_cn() -> None:
    cert = _certificate(
        [
            (NameOID.ORGANIZATION_NAME, "Example"),
            (NameOID.COMMON_NAME, "key.example.org"),
            (NameOID.COMMON_NAME, "second.example.org"),
        ],
        None,
    )
    assert kds_name_of_server(cert) == "key.example.org"


def test_server_without_cn_is_refused() -> None:
    cert = _certificate([(NameOID.ORGANIZATION_NAME, "Example")], None)
    with pytest.raises(InvalidSubject, match="no subject CN"):
        kds_name_of_server(cert)
