"""What a principal may do: grants of permissions on resources, and the check.

A grant names a permission and narrows it: ``resources`` (CA names for
``ca.read``/``ca.issue``/``ca.revoke``, slot names for ``certs.manage``, key ids or aliases for
``kms.use``/``kms.manage``), ``profiles`` (for ``ca.issue``) and ``operations`` (for
``kms.use``: sign, verify, encrypt, decrypt, generate_data_key, re_encrypt, generate_mac,
verify_mac, get_public_key, describe).
Each list holds fnmatch patterns; ``*`` means any. ``admin`` allows everything.
"""

from __future__ import annotations

import enum
import fnmatch
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from certward.errors import AccessDenied, InvalidInput

__all__ = ["Grant", "Permission", "authorize", "grants_from_json", "grants_to_json", "is_allowed"]


class Permission(enum.StrEnum):
    ADMIN = "admin"
    CA_READ = "ca.read"
    CA_ISSUE = "ca.issue"
    CA_REVOKE = "ca.revoke"
    CERTS_MANAGE = "certs.manage"
    KMS_USE = "kms.use"
    KMS_MANAGE = "kms.manage"
    KDS_CLIENT = "kds.client"
    AUDIT_READ = "audit.read"
    METRICS_READ = "metrics.read"


@dataclass(frozen=True)
class Grant:
    """One permission, narrowed to resources, profiles and operations (fnmatch patterns)."""

    permission: Permission
    resources: tuple[str, ...] = ("*",)
    profiles: tuple[str, ...] = ("*",)
    operations: tuple[str, ...] = ("*",)

    def covers(
        self,
        permission: Permission,
        *,
        resource: str | None = None,
        profile: str | None = None,
        operation: str | None = None,
    ) -> bool:
        """True when this grant allows ``permission`` on the given resource/profile/operation."""
        if self.permission is Permission.ADMIN:
            return True
        if self.permission is not permission:
            return False
        return (
            _matches(self.resources, resource)
            and _matches(self.profiles, profile)
            and _matches(self.operations, operation)
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of the grant."""
        return {
            "permission": self.permission.value,
            "resources": list(self.resources),
            "profiles": list(self.profiles),
            "operations": list(self.operations),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Grant:
        """A grant from its JSON form; InvalidInput for unknown permissions or fields."""
        if not isinstance(data, dict):
            raise InvalidInput("a grant must be an object with a 'permission'")
        unknown = set(data) - {"permission", "resources", "profiles", "operations"}
        if unknown:
            raise InvalidInput(f"unknown grant field(s): {', '.join(sorted(unknown))}")
        try:
            permission = Permission(str(data.get("permission")))
        except ValueError:
            known = ", ".join(p.value for p in Permission)
            raise InvalidInput(
                f"unknown permission {data.get('permission')!r}; known: {known}"
            ) from None
        return cls(
            permission=permission,
            resources=_patterns(data, "resources"),
            profiles=_patterns(data, "profiles"),
            operations=_patterns(data, "operations"),
        )


def _patterns(data: dict[str, Any], field: str) -> tuple[str, ...]:
    value = data.get(field, ["*"])
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise InvalidInput(f"grant field {field!r} must be a non-empty list of names or patterns")
    return tuple(value)


def _matches(patterns: Sequence[str], value: str | None) -> bool:
    if value is None:
        return True
    return any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)


def is_allowed(
    grants: Iterable[Grant],
    permission: Permission,
    *,
    resource: str | None = None,
    profile: str | None = None,
    operation: str | None = None,
) -> bool:
    """True when any of ``grants`` covers the request."""
    return any(
        grant.covers(permission, resource=resource, profile=profile, operation=operation)
        for grant in grants
    )


def authorize(
    principal_name: str,
    grants: Iterable[Grant],
    permission: Permission,
    *,
    resource: str | None = None,
    profile: str | None = None,
    operation: str | None = None,
) -> None:
    """AccessDenied unless ``grants`` cover the request (the message names what was missing)."""
    if is_allowed(grants, permission, resource=resource, profile=profile, operation=operation):
        return
    what = permission.value
    if resource is not None:
        what += f" on {resource!r}"
    if profile is not None:
        what += f" with profile {profile!r}"
    if operation is not None:
        what += f" for {operation!r}"
    raise AccessDenied(f"principal {principal_name!r} has no grant for {what}")


def grants_to_json(grants: Iterable[Grant]) -> str:
    """The stored form of a grant list."""
    return json.dumps([grant.to_dict() for grant in grants], sort_keys=True)


def grants_from_json(text: str) -> tuple[Grant, ...]:
    """Grants from their stored form."""
    return tuple(Grant.from_dict(item) for item in json.loads(text))
