"""Certificate profiles: what a certificate of a kind may and must contain.

Built in: ``server`` (serverAuth, a DNS or IP SAN required), ``client``
(clientAuth), ``ca`` (used for intermediate CAs) and the two key-distribution
(Limax KDS) kinds: ``kds-server`` (serverAuth, subject CN = the KDSName) and
``kds-client`` (clientAuth, SAN DNS = the KDSName, SAN URIs = the groups, each with
an optional precision fragment such as ``urn:prjA#10s``). User profiles from
``[profiles.NAME]`` in certward.toml start from ``server`` or ``client`` and
narrow them: allowed key types, maximum validity, allowed SAN patterns, extra
EKUs and CRL/AIA URLs.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from certward.ca.lint import check_profile
from certward.config import ProfileSettings
from certward.crypto.keys import KeyType
from certward.crypto.names import common_name_of, format_san, parse_san
from certward.errors import (
    ConfigError,
    InvalidInput,
    InvalidSubject,
    InvalidValidity,
    KeyTypeNotAllowed,
    ProfileNotFound,
    SANNotAllowed,
    SANRequired,
)
from certward.kds.ident import group_of, parse_precision

__all__ = ["BUILTIN_PROFILES", "Profile", "ProfileRegistry", "with_public_urls"]

# A rule over the whole request (subject and SANs) beyond what the fields say.
RequestRule = Callable[[x509.Name, Sequence[x509.GeneralName]], None]


@dataclass(frozen=True)
class Profile:
    """The rules for one kind of certificate."""

    name: str
    ext_key_usages: tuple[ObjectIdentifier, ...]
    allowed_key_types: frozenset[KeyType] = frozenset(KeyType)
    default_days: int = 365
    max_days: int = 825
    san_required: bool = False
    # SAN types that satisfy san_required (server certificates need a host name or address).
    required_san_types: tuple[type[x509.GeneralName], ...] = (x509.DNSName, x509.IPAddress)
    allowed_san_patterns: tuple[str, ...] | None = None
    crl_distribution_urls: tuple[str, ...] = field(default_factory=tuple)
    issuing_certificate_urls: tuple[str, ...] = field(default_factory=tuple)
    ocsp_urls: tuple[str, ...] = field(default_factory=tuple)
    # id-pkix-ocsp-nocheck (RFC 6960 4.2.2.2.1): only on delegated OCSP responder certificates.
    ocsp_no_check: bool = False
    is_ca: bool = False
    request_rule: RequestRule | None = None

    def check_key_type(self, key_type: KeyType) -> None:
        """KeyTypeNotAllowed unless this profile allows ``key_type``."""
        if key_type not in self.allowed_key_types:
            allowed = ", ".join(sorted(k.value for k in self.allowed_key_types))
            raise KeyTypeNotAllowed(
                f"profile {self.name!r} does not allow key type {key_type.value}; "
                f"allowed: {allowed}"
            )

    def check_sans(self, sans: Sequence[x509.GeneralName]) -> None:
        """SANRequired or SANNotAllowed unless ``sans`` satisfy this profile."""
        if self.san_required and not any(isinstance(s, self.required_san_types) for s in sans):
            raise SANRequired(
                f"profile {self.name!r} requires at least one DNS or IP subject alternative name"
            )
        if self.allowed_san_patterns is None:
            return
        for san in sans:
            if not any(_san_matches(san, pattern) for pattern in self.allowed_san_patterns):
                raise SANNotAllowed(f"profile {self.name!r} does not allow SAN {format_san(san)}")

    def check_request(self, subject: x509.Name, sans: Sequence[x509.GeneralName]) -> None:
        """Refuse a subject and SANs this profile does not allow (SAN rules, then its own)."""
        self.check_sans(sans)
        if self.request_rule is not None:
            self.request_rule(subject, sans)

    def validity_days(self, requested: int | None) -> int:
        """The validity to use: the requested days within the profile maximum, else the default."""
        if requested is None:
            return self.default_days
        if requested <= 0:
            raise InvalidValidity(f"validity must be at least one day, not {requested}")
        if requested > self.max_days:
            raise InvalidValidity(
                f"profile {self.name!r} allows at most {self.max_days} days, not {requested}"
            )
        return requested


def _san_matches(san: x509.GeneralName, pattern: str) -> bool:
    kind, _, value_pattern = pattern.partition(":")
    text = format_san(san)
    san_kind, _, san_value = text.partition(":")
    if san_kind.lower() != kind.lower():
        return False
    if isinstance(san, x509.IPAddress) and "/" in value_pattern:
        try:
            return san.value in ipaddress.ip_network(value_pattern, strict=False)
        except ValueError:
            return False
    if isinstance(san, x509.DNSName):
        return fnmatch.fnmatchcase(san_value.lower(), value_pattern.lower())
    return fnmatch.fnmatchcase(san_value, value_pattern)


def _check_kds_server(subject: x509.Name, sans: Sequence[x509.GeneralName]) -> None:
    # Limax reads the KDSName of a server from its first subject CN; it must be a DNS name.
    del sans  # a KDS server may carry any SANs; its KDSName is the subject CN
    if len(subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)) != 1:
        raise InvalidSubject(
            "profile 'kds-server' needs exactly one subject CN: the KDSName (--kds-name)"
        )
    kds_name = common_name_of(subject) or ""
    try:
        parse_san(f"DNS:{kds_name}")
    except InvalidInput:
        raise InvalidSubject(
            f"profile 'kds-server': the KDSName {kds_name!r} is not a valid domain name"
        ) from None


def _check_kds_client(subject: x509.Name, sans: Sequence[x509.GeneralName]) -> None:
    del subject  # the subject of a KDS client is free; its SANs carry the KDS facts
    dns_names = [san.value for san in sans if isinstance(san, x509.DNSName)]
    uris = [san.value for san in sans if isinstance(san, x509.UniformResourceIdentifier)]
    if not dns_names:
        raise SANRequired("profile 'kds-client' requires a SAN DNS name: the KDSName (--kds-name)")
    if len(dns_names) > 1:
        raise SANNotAllowed(
            f"profile 'kds-client' allows one SAN DNS name (the KDSName), not {len(dns_names)}"
        )
    if not uris:
        raise SANRequired("profile 'kds-client' requires at least one SAN URI: a group (--group)")
    seen: set[str] = set()
    for uri in uris:
        group, hash_sign, fragment = uri.partition("#")
        if hash_sign and parse_precision(fragment) is None:
            raise SANNotAllowed(
                f"profile 'kds-client': precision {fragment!r} of group {group!r} is not "
                "like 10s, 5m, 2h or a number of milliseconds"
            )
        if group_of(uri) in seen:
            raise SANNotAllowed(f"profile 'kds-client': group {group!r} is named twice")
        seen.add(group_of(uri))


BUILTIN_PROFILES: Mapping[str, Profile] = {
    "server": Profile(
        name="server",
        ext_key_usages=(ExtendedKeyUsageOID.SERVER_AUTH,),
        san_required=True,
    ),
    "client": Profile(name="client", ext_key_usages=(ExtendedKeyUsageOID.CLIENT_AUTH,)),
    "ca": Profile(name="ca", ext_key_usages=(), default_days=1825, max_days=36500, is_ca=True),
    "kds-server": Profile(
        name="kds-server",
        ext_key_usages=(ExtendedKeyUsageOID.SERVER_AUTH,),
        request_rule=_check_kds_server,
    ),
    "kds-client": Profile(
        name="kds-client",
        ext_key_usages=(ExtendedKeyUsageOID.CLIENT_AUTH,),
        allowed_san_patterns=("DNS:*", "URI:*"),
        request_rule=_check_kds_client,
    ),
}


def _profile_from_settings(name: str, settings: ProfileSettings) -> Profile:
    base = BUILTIN_PROFILES[settings.base]
    try:
        key_types = (
            frozenset(KeyType.parse(k) for k in settings.allowed_key_types)
            if settings.allowed_key_types is not None
            else base.allowed_key_types
        )
        extra = tuple(ObjectIdentifier(oid) for oid in settings.extra_ekus)
    except (ValueError, InvalidInput) as exc:  # a bad OID, or KeyType.parse's refusal
        raise ConfigError(f"profile {name!r}: {exc}") from None
    max_days = settings.max_days or base.max_days
    default_days = min(settings.default_days or base.default_days, max_days)
    for pattern in settings.allowed_san_patterns or ():
        if pattern.partition(":")[0].lower() not in ("dns", "ip", "uri", "email"):
            raise ConfigError(
                f"profile {name!r}: SAN pattern {pattern!r} must start with "
                "DNS:, IP:, URI: or email:"
            )
    profile = replace(
        base,
        name=name,
        ext_key_usages=base.ext_key_usages
        + tuple(o for o in extra if o not in base.ext_key_usages),
        allowed_key_types=key_types,
        max_days=max_days,
        default_days=default_days,
        san_required=base.san_required if settings.san_required is None else settings.san_required,
        allowed_san_patterns=(
            tuple(settings.allowed_san_patterns)
            if settings.allowed_san_patterns is not None
            else None
        ),
        crl_distribution_urls=tuple(settings.crl_distribution_urls),
        issuing_certificate_urls=tuple(settings.issuing_certificate_urls),
    )
    # A profile that could only make non-conforming certificates is refused now (ca/lint.py).
    check_profile(profile)
    return profile


def with_public_urls(profile: Profile, *, ca_name: str, base_url: str | None) -> Profile:
    """``profile`` with the service's CRL, CA-issuers and OCSP URLs of ``ca_name`` added.

    Without a public base URL, or for URLs the profile already configures, nothing changes.
    """
    if base_url is None:
        return profile
    base = base_url.rstrip("/")
    return replace(
        profile,
        crl_distribution_urls=profile.crl_distribution_urls or (f"{base}/ca/{ca_name}/crl",),
        issuing_certificate_urls=(
            profile.issuing_certificate_urls or (f"{base}/ca/{ca_name}/ca.crt",)
        ),
        ocsp_urls=profile.ocsp_urls or (f"{base}/ocsp/{ca_name}",),
    )


class ProfileRegistry:
    """The built-in profiles plus those configured; looked up by name."""

    def __init__(self, configured: Mapping[str, ProfileSettings] | None = None) -> None:
        profiles = dict(BUILTIN_PROFILES)
        for name, settings in (configured or {}).items():
            if name in BUILTIN_PROFILES:
                raise ConfigError(f"profile {name!r} is built in and cannot be redefined")
            profiles[name] = _profile_from_settings(name, settings)
        self._profiles = profiles

    def get(self, name: str) -> Profile:
        """The profile called ``name``; ProfileNotFound lists the known ones."""
        try:
            return self._profiles[name]
        except KeyError:
            known = ", ".join(sorted(self._profiles))
            raise ProfileNotFound(f"unknown profile {name!r}; known profiles: {known}") from None

    def names(self) -> list[str]:
        """Every profile name, sorted."""
        return sorted(self._profiles)
