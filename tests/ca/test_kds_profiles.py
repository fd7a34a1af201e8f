"""The key-distribution profiles: what a Limax KDS server and client certificate must carry."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certward.ca.context import CAContext
from certward.ca.issue import issue_certificate, leaf_request, sign_csr
from certward.ca.profiles import ProfileRegistry
from certward.crypto.keys import KeyType
from certward.crypto.names import parse_sans, parse_subject
from certward.errors import InvalidSubject, SANNotAllowed, SANRequired
from certward.kds.certs import (
    group_uris_of_client,
    groups_of_client,
    kds_name_of_client,
    kds_name_of_server,
)
from tests.support.pki import PKI

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
SERVER = ProfileRegistry().get("kds-server")
CLIENT = ProfileRegistry().get("kds-client")


def _name(text: str) -> x509.Name:
    return parse_subject(text)


def test_kds_server_profile_is_server_auth() -> None:
    assert SERVER.ext_key_usages == (ExtendedKeyUsageOID.SERVER_AUTH,)


def test_kds_client_profile_is_client_auth() -> None:
    assert CLIENT.ext_key_usages == (ExtendedKeyUsageOID.CLIENT_AUTH,)


def test_kds_server_accepts_a_domain_name_as_cn() -> None:
    SERVER.check_request(_name("/CN=key.example.org/O=Example"), ())


@pytest.mark.parametrize(
    ("subject", "message"),
    [
        ("/O=Example", "exactly one subject CN"),
        ("/CN=key.example.org/CN=other.example.org", "exactly one subject CN"),
        ("/CN=not a domain", "not a valid domain name"),
    ],
)
def test_kds_server_refuses_a_cn_that_is_no_single_kds_name(subject: str, message: str) -> None:
    with pytest.raises(InvalidSubject, match=message):
        SERVER.check_request(_name(subject), ())


def test_kds_client_accepts_one_dns_name_and_groups_with_precisions() -> None:
    sans = parse_sans(["DNS:key.example.org", "URI:urn:prjA#10s", "URI:urn:prjB", "URI:urn:c#250"])
    CLIENT.check_request(_name("/CN=app1"), sans)


@pytest.mark.parametrize(
    ("sans", "error", "message"),
    [
        (["URI:urn:prjA"], SANRequired, "SAN DNS name"),
        (["DNS:key.example.org"], SANRequired, "SAN URI"),
        (["DNS:a.example.org", "DNS:b.example.org", "URI:urn:g"], SANNotAllowed, "one SAN DNS"),
        (["DNS:key.example.org", "URI:urn:g#10d"], SANNotAllowed, "precision '10d'"),
        (["DNS:key.example.org", "URI:urn:g#0"], SANNotAllowed, "precision '0'"),
        (["DNS:key.example.org", "URI:urn:g#10s", "URI:urn:g#5m"], SANNotAllowed, "named twice"),
        (["DNS:key.example.org", "URI:urn:g", "IP:10.0.0.1"], SANNotAllowed, "IP:10.0.0.1"),
    ],
)
def test_kds_client_refuses_sans_that_do_not_say_one_kds_and_its_groups(
    sans: list[str], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        CLIENT.check_request(_name("/CN=app1"), parse_sans(sans))


@SQLITE_ONLY
def test_issued_kds_client_certificate_reads_back_its_kds_facts(pki: PKI) -> None:
    issued = issue_certificate(
        pki.context,
        ca_name=pki.issuing,
        profile="kds-client",
        common_name="app1",
        sans=("DNS:key.example.org", "URI:urn:prjA#10s", "URI:urn:prjB"),
    )
    cert = issued.certificate

    assert kds_name_of_client(cert) == "key.example.org"
    assert group_uris_of_client(cert) == ("urn:prjA#10s", "urn:prjB")
    assert groups_of_client(cert) == frozenset({"urn:prjA", "urn:prjB"})
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]


@SQLITE_ONLY
def test_issued_kds_server_certificate_names_its_kds_in_the_cn(pki: PKI) -> None:
    issued = issue_certificate(
        pki.context,
        ca_name=pki.issuing,
        profile="kds-server",
        common_name="key.example.org",
        sans=("DNS:key.example.org", "IP:127.0.0.1"),
    )

    assert kds_name_of_server(issued.certificate) == "key.example.org"
    eku = issued.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]


@SQLITE_ONLY
def test_a_csr_for_kds_client_without_groups_is_refused(ca_context: CAContext, pki: PKI) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "app2")]))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("key.example.org")]), critical=False
        )
        .sign(key, hashes.SHA256())
    )

    with pytest.raises(SANRequired, match="SAN URI"):
        sign_csr(
            ca_context,
            ca_name=pki.issuing,
            profile="kds-client",
            csr_data=csr.public_bytes(serialization.Encoding.PEM),
        )


def test_leaf_request_for_kds_client_keeps_fragments() -> None:
    request = leaf_request(
        common_name="app1",
        sans=("DNS:key.example.org", "URI:urn:prjA#10s"),
        key_type=KeyType.EC_P256,
        generate_key=False,
    )
    assert [san.value for san in request.sans] == ["key.example.org", "urn:prjA#10s"]
