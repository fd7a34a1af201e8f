"""Certificate profiles: what a certificate of a kind may and must contain.

Built in: ``server`` (serverAuth, a DNS or IP SAN required), ``client``
(clientAuth) and ``ca`` (used for intermediate CAs). User profiles from
``[profiles.NAME]`` in certward.toml start from ``server`` or ``client`` and
narrow them: allowed key types, maximum validity, allowed SAN patterns, extra
EKUs and CRL/AIA URLs.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from certward.config import ProfileSettings
from certward.crypto.keys import KeyType
from certward.crypto.names import format_san
from certward.errors import (
    ConfigError,
    InvalidInput,
    InvalidValidity,
    KeyTypeNotAllowed,
    ProfileNotFound,
    SANNotAllowed,
    SANRequired,
)

__all__ = ["BUILTIN_PROFILES", "Profile", "ProfileRegistry"]


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
    is_ca: bool = False

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


BUILTIN_PROFILES: Mapping[str, Profile] = {
    "server": Profile(
        name="server",
        ext_key_usages=(ExtendedKeyUsageOID.SERVER_AUTH,),
        san_required=True,
    ),
    "client": Profile(name="client", ext_key_usages=(ExtendedKeyUsageOID.CLIENT_AUTH,)),
    "ca": Profile(name="ca", ext_key_usages=(), default_days=1825, max_days=36500, is_ca=True),
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
    return replace(
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
