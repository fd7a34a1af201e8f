"""Subjects in the OpenSSL and RFC 4514 forms, and subject alternative names."""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from certward.crypto.names import (
    common_name_of,
    format_san,
    parse_san,
    parse_sans,
    parse_subject,
    parse_subtrees,
    san_strings,
)
from certward.errors import InvalidInput, InvalidSubject


def _values(name: x509.Name) -> list[list[tuple[str, str]]]:
    """Each RDN in DER order as (short name, value) pairs."""
    return [
        sorted((attribute.rfc4514_attribute_name, str(attribute.value)) for attribute in rdn)
        for rdn in name.rdns
    ]


# --- subjects -----------------------------------------------------------------------------


def test_openssl_subject_keeps_its_order() -> None:
    name = parse_subject("/C=DE/O=Example/CN=web")

    assert _values(name) == [[("C", "DE")], [("O", "Example")], [("CN", "web")]]


def test_rfc4514_subject_is_most_specific_first() -> None:
    name = parse_subject("CN=web,O=Example,C=DE")

    assert _values(name) == [[("C", "DE")], [("O", "Example")], [("CN", "web")]]


def test_both_syntaxes_give_the_same_name() -> None:
    assert parse_subject("/C=DE/O=Example/CN=web") == parse_subject("CN=web,O=Example,C=DE")


def test_openssl_subject_unescapes_slash_plus_and_equals() -> None:
    name = parse_subject(r"/CN=a\/b\+c\=d")

    assert common_name_of(name) == "a/b+c=d"


def test_rfc4514_subject_unescapes_comma() -> None:
    name = parse_subject(r"CN=Doe\, John,O=Example")

    assert common_name_of(name) == "Doe, John"


def test_plus_joins_a_multi_valued_rdn() -> None:
    name = parse_subject("/O=Example/CN=web+OU=ops")

    assert _values(name) == [[("O", "Example")], [("CN", "web"), ("OU", "ops")]]


def test_multi_valued_rdn_in_rfc4514_form() -> None:
    name = parse_subject("CN=web+OU=ops,O=Example")

    assert _values(name) == [[("O", "Example")], [("CN", "web"), ("OU", "ops")]]


def test_attribute_keys_are_case_insensitive() -> None:
    assert parse_subject("/cn=web/o=Example") == parse_subject("/CN=web/O=Example")


def test_trailing_slash_is_tolerated() -> None:
    assert parse_subject("/CN=web/") == parse_subject("/CN=web")


def test_values_are_stripped() -> None:
    assert common_name_of(parse_subject("/CN=  web  ")) == "web"


def test_email_address_attribute_is_known() -> None:
    name = parse_subject("/CN=web/emailAddress=ops@example.com")

    assert name.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)[0].value == "ops@example.com"


@pytest.mark.parametrize("subject", ["/C=DEU/CN=x", "/C=D/CN=x"])
def test_country_must_be_two_letters(subject: str) -> None:
    with pytest.raises(InvalidSubject):
        parse_subject(subject)


def test_common_name_longer_than_64_characters_is_refused() -> None:
    with pytest.raises(InvalidSubject, match="64"):
        parse_subject("/CN=" + "a" * 65)


def test_common_name_of_64_characters_is_accepted() -> None:
    assert common_name_of(parse_subject("/CN=" + "a" * 64)) == "a" * 64


def test_unknown_attribute_is_refused_by_name() -> None:
    with pytest.raises(InvalidSubject, match="XYZ"):
        parse_subject("/CN=web/XYZ=1")


@pytest.mark.parametrize("subject", ["", "   ", "/"])
def test_empty_subject_is_refused(subject: str) -> None:
    with pytest.raises(InvalidSubject):
        parse_subject(subject)


@pytest.mark.parametrize("subject", ["/CN", "CN", "/CN=web/O"])
def test_component_without_equals_is_refused(subject: str) -> None:
    with pytest.raises(InvalidSubject):
        parse_subject(subject)


@pytest.mark.parametrize("subject", ["/CN=", "/CN=web/O=  ", "CN=web,,O=x", "/CN=web//O=x"])
def test_empty_component_or_value_is_refused(subject: str) -> None:
    with pytest.raises(InvalidSubject):
        parse_subject(subject)


def test_common_name_of_is_the_most_specific_one() -> None:
    assert common_name_of(parse_subject("/CN=outer/CN=inner")) == "inner"


def test_common_name_of_a_name_without_one_is_none() -> None:
    assert common_name_of(parse_subject("/O=Example")) is None


# --- subject alternative names --------------------------------------------------------------


def test_dns_san_is_lowercased_without_trailing_dot() -> None:
    assert parse_san("DNS:WWW.Example.COM.") == x509.DNSName("www.example.com")


def test_wildcard_dns_san_in_the_first_label() -> None:
    assert parse_san("DNS:*.example.com") == x509.DNSName("*.example.com")


def test_ipv4_san() -> None:
    assert parse_san("IP:10.1.2.3") == x509.IPAddress(ipaddress.ip_address("10.1.2.3"))


def test_ipv6_san() -> None:
    assert parse_san("IP:2001:db8::1") == x509.IPAddress(ipaddress.ip_address("2001:db8::1"))


def test_openssl_ip_address_spelling_is_accepted() -> None:
    assert parse_san("IP Address:127.0.0.1") == x509.IPAddress(ipaddress.ip_address("127.0.0.1"))


def test_uri_san() -> None:
    san = parse_san("URI:spiffe://example.org/ns/web")

    assert san == x509.UniformResourceIdentifier("spiffe://example.org/ns/web")


def test_email_san() -> None:
    assert parse_san("email:ops@example.com") == x509.RFC822Name("ops@example.com")


def test_san_type_is_case_insensitive() -> None:
    assert parse_san("dns:example.com") == parse_san("DNS:example.com")


@pytest.mark.parametrize(
    "text",
    [
        "example.com",
        "FTP:example.com",
        "DNS:",
        "DNS:exa mple.com",
        "DNS:-bad.example.com",
        "DNS:www.*.example.com",
        "DNS:" + "a" * 64 + ".example.com",
        "DNS:" + ".".join(["abcdefghi"] * 26),
        "IP:10.0.0.256",
        "IP:example.com",
        "IP:10.0.0.0/8",
        "URI:/relative/path",
        "URI:",
        "email:not-an-address",
        "email:a@b@c",
    ],
)
def test_malformed_san_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_san(text)


def test_non_ascii_dns_name_is_refused_with_a_hint_at_idna() -> None:
    with pytest.raises(InvalidInput, match="IDNA"):
        parse_san("DNS:bücher.example")


def test_idna_form_of_a_dns_name_is_accepted() -> None:
    assert parse_san("DNS:xn--bcher-kva.example") == x509.DNSName("xn--bcher-kva.example")


def test_parse_sans_drops_exact_duplicates_keeping_order() -> None:
    sans = parse_sans(["DNS:b.example", "IP:10.0.0.1", "DNS:B.example", "DNS:a.example"])

    assert san_strings(sans) == ["DNS:b.example", "IP:10.0.0.1", "DNS:a.example"]


@pytest.mark.parametrize(
    "text",
    ["DNS:example.com", "IP:10.0.0.1", "IP:2001:db8::1", "URI:https://example.com/", "email:a@b.c"],
)
def test_format_san_is_the_inverse_of_parse_san(text: str) -> None:
    assert format_san(parse_san(text)) == text


# --- name constraint subtrees ---------------------------------------------------------------


def test_subtrees_of_each_kind() -> None:
    subtrees = parse_subtrees(["DNS:.example.com", "IP:10.0.0.0/8", "email:example.com"])

    assert subtrees == (
        x509.DNSName("example.com"),
        x509.IPAddress(ipaddress.ip_network("10.0.0.0/8")),
        x509.RFC822Name("example.com"),
    )


@pytest.mark.parametrize("text", ["IP:10.0.0.1/8", "IP:nonsense", "URI:https://x", "example.com"])
def test_malformed_subtree_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_subtrees([text])
