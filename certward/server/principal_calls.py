"""The principal operations as a caller makes them: access check, audit, service call, side effects.

Shared by the JSON routes (``routes/principals.py``) and the web console, so a
principal created or disabled from a browser is checked and audited exactly like
one through the API. All of them need ``admin``. Each function is blocking (run it
with :func:`certward.server.auth.blocking`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from certward.access.grants import Grant, Permission
from certward.access.principals import (
    Principal,
    PrincipalBundle,
    create_principal,
    disable_principal,
    list_principals,
)
from certward.ca.inventory import get_certificate
from certward.server.auth import Caller
from certward.server.ca_calls import CRL_WAIT_SECONDS

__all__ = ["create_principal_as", "disable_principal_as", "list_principals_as"]


def list_principals_as(
    who: Caller, *, limit: int | None = None, after: str | None = None
) -> list[Principal]:
    """Principals by name: all, or at most ``limit`` after ``after`` (admin)."""
    who.require(Permission.ADMIN)
    return list_principals(who.runtime.ctx, limit=limit, after=after)


def create_principal_as(
    who: Caller,
    *,
    name: str,
    grants: Sequence[Mapping[str, Any]],
    description: str = "",
    days: int | None = None,
) -> PrincipalBundle:
    """Create a principal with a client certificate from the issuing CA (admin; audited).

    ``grants`` in their JSON form (InvalidInput names what is wrong). The returned
    bundle holds the only copy of its private key and PKCS#12 password.
    """
    who.require_for("principal.create", name, Permission.ADMIN)
    parsed = [Grant.from_dict(dict(grant)) for grant in grants]
    return who.audited(
        "principal.create",
        name,
        lambda audit: create_principal(
            who.runtime.ctx,
            name=name,
            grants=parsed,
            ca_name=who.runtime.settings.issuing_ca,
            description=description,
            created_by=who.name,
            days=days,
            extra_rows=audit,
        ),
        details={"grants": [g.permission.value for g in parsed]},
    )


def disable_principal_as(who: Caller, name: str) -> Principal:
    """Disable a principal: its certificate is revoked and refused from the next handshake."""
    who.require_for("principal.disable", name, Permission.ADMIN)
    principal = who.audited(
        "principal.disable",
        name,
        lambda audit: disable_principal(who.runtime.ctx, name, extra_rows=audit, publish=False),
    )
    # Rare and weighty: the answer waits until handshakes refuse the certificate too.
    issuer = get_certificate(who.runtime.ctx, principal.certificate_serial).ca_name
    who.runtime.crl_publisher.wait(who.runtime.after_revocation(issuer), timeout=CRL_WAIT_SECONDS)
    return principal
