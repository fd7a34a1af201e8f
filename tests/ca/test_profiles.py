"""Certificate profiles: the built-in ones and user profiles that narrow them."""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from certward.ca.profiles import BUILTIN_PROFILES, ProfileRegistry
from certward.config import ProfileSettings
from certward.crypto.keys import KeyType
from certward.crypto.names import parse_sans
from certward.errors import (
    ConfigError,
    InvalidValidity,
    KeyTypeNotAllowed,
    ProfileNotFound,
    SANNotAllowed,
    SANRequired,
)


def _registry(**profiles: ProfileSettings) -> ProfileRegistry:
    return ProfileRegistry(profiles)


# --- built-in profiles ----------------------------------------------------------------------


def test_builtin_profiles_are_server_client_ca_and_the_kds_pair() -> None:
    assert ProfileRegistry().names() == ["ca", "client", "kds-client", "kds-server", "server"]


def test_server_profile_is_server_auth_and_requires_a_san() -> None:
    server = ProfileRegistry().get("server")

    assert server.ext_key_usages == (ExtendedKeyUsageOID.SERVER_AUTH,)
    assert server.san_required


def test_client_profile_is_client_auth_without_a_required_san() -> None:
    client = ProfileRegistry().get("client")

    assert client.ext_key_usages == (ExtendedKeyUsageOID.CLIENT_AUTH,)
    assert not client.san_required
    client.check_sans(())


def test_builtin_profiles_allow_every_key_type() -> None:
    for profile in BUILTIN_PROFILES.values():
        for key_type in KeyType:
            profile.check_key_type(key_type)


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(ProfileNotFound, match="client, kds-client, kds-server, server"):
        ProfileRegistry().get("web")


def test_builtin_profile_cannot_be_redefined() -> None:
    with pytest.raises(ConfigError, match="built in"):
        _registry(server=ProfileSettings(base="client"))


# --- rules ----------------------------------------------------------------------------------


def test_server_profile_is_satisfied_by_an_ip_san() -> None:
    ProfileRegistry().get("server").check_sans(parse_sans(["IP:10.0.0.1"]))


@pytest.mark.parametrize("sans", [(), ("URI:https://x.example",), ("email:a@example.com",)])
def test_server_profile_without_a_dns_or_ip_san_is_san_required(sans: tuple[str, ...]) -> None:
    with pytest.raises(SANRequired):
        ProfileRegistry().get("server").check_sans(parse_sans(sans))


def test_validity_defaults_to_the_profiles_default() -> None:
    assert ProfileRegistry().get("server").validity_days(None) == 365


@pytest.mark.parametrize("days", [0, -5, 826])
def test_validity_outside_one_day_to_the_maximum_is_invalid(days: int) -> None:
    with pytest.raises(InvalidValidity):
        ProfileRegistry().get("server").validity_days(days)


def test_validity_of_exactly_the_maximum_is_accepted() -> None:
    assert ProfileRegistry().get("server").validity_days(825) == 825


# --- user profiles --------------------------------------------------------------------------


def test_user_profile_inherits_its_base() -> None:
    web = _registry(web=ProfileSettings(base="server")).get("web")

    assert web.name == "web"
    assert web.ext_key_usages == (ExtendedKeyUsageOID.SERVER_AUTH,)
    assert web.san_required
    assert not web.is_ca


def test_user_profile_is_listed_with_the_builtin_ones() -> None:
    assert _registry(web=ProfileSettings(base="server")).names() == [
        "ca",
        "client",
        "kds-client",
        "kds-server",
        "server",
        "web",
    ]


def test_user_profile_narrows_the_key_types() -> None:
    web = _registry(web=ProfileSettings(base="server", allowed_key_types=["EC-P384"])).get("web")

    web.check_key_type(KeyType.EC_P384)
    with pytest.raises(KeyTypeNotAllowed, match="ec-p384"):
        web.check_key_type(KeyType.EC_P256)


def test_user_profile_with_an_unknown_key_type_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="dsa"):
        _registry(web=ProfileSettings(base="server", allowed_key_types=["dsa"]))


def test_user_profile_with_a_malformed_eku_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        _registry(web=ProfileSettings(base="server", extra_ekus=["not-an-oid"]))


def test_user_profile_with_a_san_pattern_of_unknown_type_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="DNS:"):
        _registry(web=ProfileSettings(base="server", allowed_san_patterns=["host:*.example"]))


def test_user_profile_adds_extra_ekus_once() -> None:
    extra = [ExtendedKeyUsageOID.SERVER_AUTH.dotted_string, "1.3.6.1.5.5.7.3.3"]

    web = _registry(web=ProfileSettings(base="server", extra_ekus=extra)).get("web")

    assert web.ext_key_usages == (
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CODE_SIGNING,
    )


def test_user_profile_max_days_bounds_the_validity() -> None:
    short = _registry(short=ProfileSettings(base="client", max_days=30)).get("short")

    assert short.validity_days(30) == 30
    with pytest.raises(InvalidValidity, match="30"):
        short.validity_days(31)


def test_user_profile_default_days_are_cut_to_its_maximum() -> None:
    short = _registry(short=ProfileSettings(base="client", max_days=30)).get("short")

    assert short.validity_days(None) == 30


def test_user_profile_may_drop_the_san_requirement() -> None:
    loose = _registry(loose=ProfileSettings(base="server", san_required=False)).get("loose")

    loose.check_sans(())


def test_user_profile_may_require_a_san_for_clients() -> None:
    strict = _registry(strict=ProfileSettings(base="client", san_required=True)).get("strict")

    with pytest.raises(SANRequired):
        strict.check_sans(())


# --- SAN patterns ---------------------------------------------------------------------------


def _patterned(*patterns: str) -> ProfileRegistry:
    return _registry(p=ProfileSettings(base="client", allowed_san_patterns=list(patterns)))


@pytest.mark.parametrize(
    ("pattern", "san"),
    [
        ("DNS:*.example.com", "DNS:www.example.com"),
        ("DNS:*.EXAMPLE.com", "DNS:WWW.example.COM"),
        ("dns:exact.example.com", "DNS:exact.example.com"),
        ("IP:10.0.0.0/8", "IP:10.200.3.4"),
        ("IP:2001:db8::/32", "IP:2001:db8::5"),
        ("IP:192.168.1.*", "IP:192.168.1.77"),
        ("URI:spiffe://example.org/*", "URI:spiffe://example.org/ns/web"),
        ("email:*@example.com", "email:ops@example.com"),
    ],
)
def test_san_matching_a_pattern_is_allowed(pattern: str, san: str) -> None:
    _patterned(pattern).get("p").check_sans(parse_sans([san]))


@pytest.mark.parametrize(
    ("pattern", "san"),
    [
        ("DNS:*.example.com", "DNS:example.org"),
        ("DNS:*.example.com", "IP:10.0.0.1"),
        ("IP:10.0.0.0/8", "IP:11.0.0.1"),
        ("IP:10.0.0.0/8", "DNS:10.example.com"),
        ("URI:spiffe://example.org/*", "URI:spiffe://EXAMPLE.org/ns/web"),
        ("email:*@example.com", "email:ops@example.org"),
    ],
)
def test_san_matching_no_pattern_is_not_allowed(pattern: str, san: str) -> None:
    with pytest.raises(SANNotAllowed):
        _patterned(pattern).get("p").check_sans(parse_sans([san]))


def test_every_san_must_match_some_pattern() -> None:
    profile = _patterned("DNS:*.example.com", "IP:10.0.0.0/8").get("p")
    sans = (
        x509.DNSName("a.example.com"),
        x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
        x509.DNSName("b.example.org"),
    )

    with pytest.raises(SANNotAllowed, match=r"b\.example\.org"):
        profile.check_sans(sans)


def test_empty_pattern_list_allows_no_san() -> None:
    profile = _patterned().get("p")

    profile.check_sans(())
    with pytest.raises(SANNotAllowed):
        profile.check_sans(parse_sans(["DNS:a.example.com"]))
