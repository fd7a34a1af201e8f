"""How the KDS checks whether a client certificate was revoked (Limax ``revocationCheckerOptions``).

Limax passes these options to Java's ``PKIXRevocationChecker``; certward's KDS
checks revocation with OpenSSL's CRL checks during the TLS handshake, so a
revoked client is refused before it sends a byte. OCSP is **not** supported:
CRLs are the only source of revocation status. The CRLs come from the trusts
path (CRL files beside the certificates) and, when the KDS runs on a certward
data dir, from the newest CRL that certward published for each trusted CA that
it operates; a new CRL is picked up without restart (see :mod:`certward.kds.serve`).

The options (any case; several may be given; unknown names are a ConfigError):

- none given: every certificate of the client's chain below the trust anchor is
  checked (``VERIFY_CRL_CHECK_CHAIN``); a CA whose CRL is missing or out of date
  makes the handshake of its clients fail (hard fail, as Java's default).
- ``DISABLE``: no revocation check at all. It wins over every other option.
- ``ONLY_END_ENTITY``: only the client certificate itself is checked
  (``VERIFY_CRL_CHECK_LEAF``); CA certificates are not.
- ``SOFT_FAIL``: when the CRL of a trusted CA is missing, out of date or does
  not verify, revocation is not checked (a warning names the CA) instead of
  refusing the clients. OpenSSL applies CRL checks to a whole context, so this
  is decided for the whole trust set, each time the CRLs change: as soon as
  every trusted CA has a current CRL, checks are on again.
- ``PREFER_CRLS``: accepted; CRLs are always used (there is no OCSP to prefer).
- ``NO_FALLBACK``: accepted; there is no second mechanism to fall back to. Java
  would, without ``PREFER_CRLS``, use OCSP only; certward uses CRLs either way.
"""

from __future__ import annotations

import enum
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certward.errors import ConfigError
from certward.server.tls import ReloadableTLS, TLSMaterial, build_server_context

__all__ = [
    "KdsTLS",
    "RevocationOption",
    "RevocationPolicy",
    "RevocationSetup",
    "build_kds_context",
    "select_crls",
    "verify_flags_for",
]

_log = structlog.get_logger()


class RevocationOption(enum.StrEnum):
    """Limax's (Java's ``PKIXRevocationChecker.Option``) names, plus ``DISABLE``."""

    DISABLE = "DISABLE"
    NO_FALLBACK = "NO_FALLBACK"
    ONLY_END_ENTITY = "ONLY_END_ENTITY"
    PREFER_CRLS = "PREFER_CRLS"
    SOFT_FAIL = "SOFT_FAIL"


@dataclass(frozen=True)
class RevocationPolicy:
    """The revocation options in force (see the module documentation for what each does)."""

    options: frozenset[RevocationOption] = frozenset()

    @classmethod
    def parse(cls, values: Iterable[str]) -> RevocationPolicy:
        """Options from names in any case; each value may itself be a comma-separated list."""
        options: set[RevocationOption] = set()
        for value in values:
            for item in value.split(","):
                name = item.strip()
                if not name:
                    continue
                try:
                    options.add(RevocationOption(name.upper()))
                except ValueError:
                    known = ", ".join(option.value for option in RevocationOption)
                    raise ConfigError(
                        f"unknown revocation checker option {name!r} (use {known})"
                    ) from None
        return cls(frozenset(options))

    @property
    def enabled(self) -> bool:
        """False with DISABLE (which wins over everything else)."""
        return RevocationOption.DISABLE not in self.options

    @property
    def only_end_entity(self) -> bool:
        return self.enabled and RevocationOption.ONLY_END_ENTITY in self.options

    @property
    def soft_fail(self) -> bool:
        return self.enabled and RevocationOption.SOFT_FAIL in self.options

    def describe(self) -> str:
        """One line for logs and ``kds status``."""
        if not self.enabled:
            return "disabled"
        scope = "client certificate only" if self.only_end_entity else "whole chain"
        failure = "soft fail" if self.soft_fail else "hard fail"
        return f"CRLs, {scope}, {failure}"


@dataclass(frozen=True)
class RevocationSetup:
    """The CRLs to load and whether OpenSSL checks them, for one context build."""

    crls_der: tuple[bytes, ...]
    check: bool
    missing: tuple[str, ...] = ()


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return certificate.issuer == certificate.subject  # a v1 root


def _issued_by(crl: x509.CertificateRevocationList, ca: x509.Certificate) -> bool:
    if crl.issuer != ca.subject:
        return False
    public_key = ca.public_key()
    try:
        return crl.is_signature_valid(public_key)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _crl_order(crl: x509.CertificateRevocationList) -> tuple[int, datetime]:
    try:
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        number = -1
    return number, crl.last_update_utc


def _is_newer(
    candidate: x509.CertificateRevocationList, current: x509.CertificateRevocationList
) -> bool:
    return _crl_order(candidate) > _crl_order(current)


def select_crls(
    policy: RevocationPolicy,
    trusted: Sequence[x509.Certificate],
    crls: Sequence[x509.CertificateRevocationList],
    *,
    now: datetime,
) -> RevocationSetup:
    """The newest verified CRL of each trusted CA, and whether revocation is checked.

    A CRL that no trusted CA signed is dropped. With SOFT_FAIL, a trusted CA
    without a current CRL turns the checks off (and is named in ``missing``).
    """
    if not policy.enabled:
        return RevocationSetup(crls_der=(), check=False)
    newest: dict[bytes, x509.CertificateRevocationList] = {}
    authorities = [ca for ca in trusted if _is_ca(ca)]
    for crl in crls:
        for ca in authorities:
            if _issued_by(crl, ca):
                key = ca.public_bytes(serialization.Encoding.DER)
                if key not in newest or _is_newer(crl, newest[key]):
                    newest[key] = crl
                break
    missing = []
    for ca in authorities:
        found = newest.get(ca.public_bytes(serialization.Encoding.DER))
        next_update = found.next_update_utc if found is not None else None
        if found is None or (next_update is not None and next_update <= now):
            missing.append(ca.subject.rfc4514_string())
    crls_der = tuple(crl.public_bytes(serialization.Encoding.DER) for crl in newest.values())
    if missing and policy.soft_fail:
        _log.warning("kds.revocation_not_checked", reason="soft fail", cas_without_crl=missing)
        return RevocationSetup(crls_der=crls_der, check=False, missing=tuple(missing))
    if missing:
        _log.warning(
            "kds.revocation_crl_missing",
            reason="hard fail: clients of these CAs are refused",
            cas_without_crl=missing,
        )
    return RevocationSetup(crls_der=crls_der, check=True, missing=tuple(missing))


def verify_flags_for(
    flags: ssl.VerifyFlags, policy: RevocationPolicy, *, check: bool
) -> ssl.VerifyFlags:
    """``flags`` with the policy's CRL checks (none, leaf or chain) in place of any before."""
    flags &= ~ssl.VERIFY_CRL_CHECK_CHAIN
    if check and policy.enabled:
        flags |= ssl.VERIFY_CRL_CHECK_LEAF if policy.only_end_entity else ssl.VERIFY_CRL_CHECK_CHAIN
    return flags


def build_kds_context(material: TLSMaterial, policy: RevocationPolicy) -> ssl.SSLContext:
    """certward's server context with the policy's CRL checks (leaf or chain).

    ``material.check_crls`` says whether to check at all (see :func:`select_crls`).
    Chains end at a self-signed root of the trust set, as OpenSSL does by default
    (an intermediate alone is not an anchor; clients need not send the
    intermediates the trust set holds).
    """
    context = build_server_context(material)
    context.verify_flags = verify_flags_for(context.verify_flags, policy, check=material.check_crls)
    return context


class KdsTLS:
    """certward's reloadable TLS contexts, following a revocation policy.

    OpenSSL takes the CRLs of a handshake from the current context but its
    check flags from the listening socket's base context, so when a reload turns
    checks on or off (SOFT_FAIL), the base context's flags change too: after the
    new CRLs are in place when checks start, before they go when checks stop.
    """

    def __init__(self, material: TLSMaterial, policy: RevocationPolicy) -> None:
        self.policy = policy
        self._reloadable = ReloadableTLS(material, build=partial(build_kds_context, policy=policy))
        self._checking = material.check_crls

    @property
    def base(self) -> ssl.SSLContext:
        """The context of the listening socket."""
        return self._reloadable.base

    @property
    def generation(self) -> int:
        """How many times the contexts were replaced."""
        return self._reloadable.generation

    def replace(self, material: TLSMaterial) -> None:
        """Use ``material`` for every handshake from now on."""
        check = material.check_crls
        if check and not self._checking:
            self._reloadable.replace(material)
            self._set_base_flags(check=True)
        elif not check and self._checking:
            self._set_base_flags(check=False)
            self._reloadable.replace(material)
        else:
            self._reloadable.replace(material)
        self._checking = check

    def _set_base_flags(self, *, check: bool) -> None:
        base = self._reloadable.base
        base.verify_flags = verify_flags_for(base.verify_flags, self.policy, check=check)
