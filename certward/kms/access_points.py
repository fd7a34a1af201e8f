"""Application access points: a principal allowed to use some keys for some operations only.

An access point is an ordinary principal with one ``kms.use`` grant (resources =
the key ids, operations = those allowed) and a client certificate, handed over as
a cloud-KMS-style bundle: ``clientKey_<name>.json`` (``{"KeyId", "PrivateKeyData"}``,
the latter a password-protected PKCS#12 in base64), its password, and the CA
certificate that verifies the service. The server route and the CLI's local mode
both call :func:`create_access_point`.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field

from certward.access.grants import Grant, Permission
from certward.access.principals import Principal, create_principal
from certward.ca.authority import ca_chain
from certward.ca.context import CAContext
from certward.ca.group_commit import TableRow
from certward.crypto.formats import certificate_pem
from certward.errors import InvalidInput
from certward.kms.keys import describe_key
from certward.kms.specs import KMS_OPERATIONS

__all__ = ["AccessPoint", "create_access_point"]

_MAX_KEYS = 100


@dataclass(frozen=True)
class AccessPoint:
    """A new access point: its principal and the only copy of its credentials."""

    principal: Principal
    key_ids: tuple[str, ...]
    operations: tuple[str, ...]
    pkcs12: bytes = field(repr=False)
    password: str = field(repr=False)
    ca_pem: bytes

    @property
    def client_key(self) -> dict[str, str]:
        """The ``clientKey_<name>.json`` object: ``{"KeyId", "PrivateKeyData"}``."""
        return {
            "KeyId": self.principal.name,
            "PrivateKeyData": base64.b64encode(self.pkcs12).decode("ascii"),
        }


def _operations(operations: Sequence[str]) -> tuple[str, ...]:
    unknown = [op for op in operations if op not in KMS_OPERATIONS]
    if unknown or not operations:
        raise InvalidInput(
            f"unknown KMS operation(s) {', '.join(map(repr, unknown)) or 'none given'}; "
            f"choose from {', '.join(KMS_OPERATIONS)}"
        )
    return tuple(dict.fromkeys(operations))


def create_access_point(
    ctx: CAContext,
    *,
    name: str,
    key_refs: Sequence[str],
    operations: Sequence[str],
    ca_name: str,
    description: str = "",
    days: int | None = None,
    created_by: str | None = None,
    extra_rows: Sequence[TableRow] = (),
) -> AccessPoint:
    """A principal allowed ``operations`` on the keys ``key_refs`` (ids or aliases; must exist).

    ca_name: the CA that issues its client certificate and the service's certificate;
    the root above it is the bundle's CA.
    """
    if not key_refs or len(key_refs) > _MAX_KEYS:
        raise InvalidInput(f"an access point names 1-{_MAX_KEYS} keys")
    allowed = _operations(operations)
    # The grant names key ids: an alias moved to another key later must not widen it.
    key_ids = tuple(dict.fromkeys(describe_key(ctx, ref).key_id for ref in key_refs))
    grant = Grant(Permission.KMS_USE, resources=key_ids, operations=allowed)
    bundle = create_principal(
        ctx,
        name=name,
        grants=[grant],
        ca_name=ca_name,
        description=description,
        created_by=created_by,
        days=days,
        extra_rows=extra_rows,
    )
    root = ca_chain(ctx, ca_name)[-1]
    return AccessPoint(
        principal=bundle.principal,
        key_ids=key_ids,
        operations=allowed,
        pkcs12=bundle.pkcs12,
        password=bundle.pkcs12_password,
        ca_pem=certificate_pem(root),
    )
