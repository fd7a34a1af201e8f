"""The CA operations as a caller makes them: access check, audit, service call, side effects.

Shared by the JSON routes (``routes/cas.py``, ``routes/certificates.py``,
``routes/audit.py``) and the web console, so a change made in a browser is checked
and audited exactly like the same change made through the API. Each function is
blocking (run it with :func:`certward.server.auth.blocking`) and returns the
service's value objects; the callers render them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from certward.access.audit import AuditPage, query_events
from certward.access.grants import Permission, is_allowed
from certward.ca.authority import CAInfo, create_ca, get_ca, list_cas
from certward.ca.crl import PublishedCRL, publish_crl
from certward.ca.extensions import NameConstraintSpec
from certward.ca.factory import IssuedCertificate
from certward.ca.group_commit import TableRow
from certward.ca.inventory import (
    CertificatePage,
    CertificateStatus,
    CertificateSummary,
    get_certificate,
    list_certificates,
)
from certward.ca.issue import issue_certificate
from certward.ca.key_export import stored_private_key
from certward.ca.revoke import RevokedCertificate, revoke_certificate
from certward.crypto.formats import export_pkcs12
from certward.crypto.keys import KeyType
from certward.crypto.names import parse_subtrees
from certward.errors import InvalidInput
from certward.server.auth import Caller

# A revocation with ``wait_for_crl`` waits this long for its CRL (~3 s at a million entries).
CRL_WAIT_SECONDS = 60.0

__all__ = [
    "CRL_WAIT_SECONDS",
    "create_ca_as",
    "export_pkcs12_as",
    "issue_as",
    "list_certificates_as",
    "publish_crl_as",
    "read_audit_as",
    "read_ca_as",
    "read_certificate_as",
    "readable_cas",
    "revoke_as",
]


def readable_cas(who: Caller) -> list[CAInfo]:
    """Every CA the caller may read (AccessDenied without any ``ca.read`` grant)."""
    who.require(Permission.CA_READ)
    return [
        info
        for info in list_cas(who.runtime.ctx)
        if is_allowed(who.principal.grants, Permission.CA_READ, resource=info.name)
    ]


def read_ca_as(who: Caller, name: str) -> CAInfo:
    """One CA (needs ``ca.read`` on it)."""
    who.require(Permission.CA_READ, resource=name)
    return get_ca(who.runtime.ctx, name)


def create_ca_as(
    who: Caller,
    *,
    name: str,
    subject: str,
    parent: str | None = None,
    key_type: str = "ec-p256",
    days: int | None = None,
    path_length: int | None = None,
    permitted: Sequence[str] = (),
    excluded: Sequence[str] = (),
) -> CAInfo:
    """Create a root CA, or an intermediate under ``parent`` (admin only; audited)."""
    who.require_for("ca.create", name, Permission.ADMIN)
    constraints = None
    if permitted or excluded:
        constraints = NameConstraintSpec(
            permitted=parse_subtrees(list(permitted)), excluded=parse_subtrees(list(excluded))
        )
    return who.audited(
        "ca.create",
        name,
        lambda audit: create_ca(
            who.runtime.ctx,
            name=name,
            subject=subject,
            parent=parent,
            key_type=KeyType.parse(key_type),
            days=days,
            path_length=path_length,
            name_constraints=constraints,
            extra_rows=audit,
        ),
        details={"parent": parent, "key_type": key_type},
    )


def publish_crl_as(who: Caller, name: str, *, days: int | None = None) -> PublishedCRL:
    """Issue the next CRL of CA ``name`` now (``ca.revoke`` on it; audited); reload TLS."""
    who.require_for("crl.publish", name, Permission.CA_REVOKE, resource=name)
    crl = who.audited(
        "crl.publish",
        name,
        lambda audit: publish_crl(who.runtime.ctx, name, days=days, extra_rows=audit),
    )
    who.runtime.reload_tls()
    return crl


def issue_as(
    who: Caller,
    *,
    ca: str,
    profile: str,
    common_name: str,
    sans: Sequence[str] = (),
    key_type: str = "ec-p256",
    days: int | None = None,
) -> IssuedCertificate:
    """Issue a certificate with a key made here (``ca.issue`` on the CA and profile; audited)."""
    who.require_for(
        "certificate.issue", common_name, Permission.CA_ISSUE, resource=ca, profile=profile
    )
    issued = who.audited(
        "certificate.issue",
        common_name,
        lambda audit: issue_certificate(
            who.runtime.ctx,
            ca_name=ca,
            profile=profile,
            common_name=common_name,
            sans=sans,
            key_type=KeyType.parse(key_type),
            days=days,
            writer=who.runtime.writer,
            extra_rows=audit,
        ),
        details={"ca": ca, "profile": profile},
    )
    who.runtime.count_issued()
    return issued


def list_certificates_as(
    who: Caller,
    *,
    ca: str | None = None,
    status: CertificateStatus | None = None,
    expiring_before: datetime | None = None,
    search: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> CertificatePage:
    """The inventory, newest first, filtered and paged (``ca.read`` on the CA, or on all)."""
    who.require(Permission.CA_READ, resource=ca or "*")
    expiring_within = None
    if expiring_before is not None:
        if expiring_before.tzinfo is None:
            raise InvalidInput("expiring_before needs a time zone (e.g. 2030-01-01T00:00:00Z)")
        expiring_within = expiring_before - who.runtime.ctx.clock()
    return list_certificates(
        who.runtime.ctx,
        ca_name=ca,
        status=status,
        expiring_within=expiring_within,
        search=search,
        limit=limit,
        cursor=cursor,
    )


def read_certificate_as(who: Caller, serial: str) -> CertificateSummary:
    """One certificate by serial (``ca.read`` on its CA; 403 first without any ``ca.read``)."""
    # Some ca.read grant before the lookup: without one, 403 whether or not the serial exists.
    who.require(Permission.CA_READ)
    item = get_certificate(who.runtime.ctx, serial)
    who.require(Permission.CA_READ, resource=item.ca_name)
    return item


def revoke_as(
    who: Caller, serial: str, *, reason: str | None, wait_for_crl: bool = False
) -> tuple[RevokedCertificate, int | None]:
    """Revoke a certificate (``ca.revoke``; audited); its CA's next CRL follows at once.

    The CRL is published in the background (``ca.crl_publisher``), so revoking costs
    the same at any number of revoked certificates; with ``wait_for_crl`` the call
    also returns the number of a published CRL that lists it (None if none did
    within :data:`CRL_WAIT_SECONDS`).
    """
    # As in read: no probing for serials without any ca.revoke grant.
    who.require(Permission.CA_REVOKE)
    item = get_certificate(who.runtime.ctx, serial)
    who.require_for("certificate.revoke", item.serial, Permission.CA_REVOKE, resource=item.ca_name)
    ctx = who.runtime.ctx
    revoked = who.audited(
        "certificate.revoke",
        item.serial,
        lambda audit: revoke_certificate(ctx, serial, reason=reason, extra_rows=audit),
        details={"reason": reason},
    )
    ticket = who.runtime.after_revocation(revoked.ca_name)
    number = (
        who.runtime.crl_publisher.wait(ticket, timeout=CRL_WAIT_SECONDS) if wait_for_crl else None
    )
    return revoked, number


def export_pkcs12_as(who: Caller, serial: str, *, password: str) -> bytes:
    """The stored key, certificate and chain of ``serial`` as PKCS#12 (admin only; audited).

    Admin only: stored keys include those of principals and of the service itself,
    so whoever may export them may act as anyone.
    """
    who.require(Permission.CA_READ)
    item = get_certificate(who.runtime.ctx, serial)
    who.require_for("certificate.export", item.serial, Permission.ADMIN)
    if not password:
        raise InvalidInput("a PKCS#12 bundle with a private key needs a password")

    def export(audit: Sequence[TableRow]) -> bytes:
        key, certificate, chain = stored_private_key(who.runtime.ctx, item.serial)
        bundle = export_pkcs12(
            name=item.common_name or item.serial,
            key=key,
            certificate=certificate,
            chain=chain,
            password=password.encode(),
        )
        who.runtime.writer.store_all(list(audit))
        return bundle

    return who.audited("certificate.export", item.serial, export, details={"format": "pkcs12"})


def read_audit_as(
    who: Caller,
    *,
    principal: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> AuditPage:
    """Audit events, newest first (``audit.read``)."""
    who.require(Permission.AUDIT_READ)
    return query_events(
        who.runtime.ctx,
        principal=principal,
        action=action,
        target=target,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )
