"""Who may use or manage a key: grants name key ids or aliases, and an alias covers its key.

A ``kms.use`` or ``kms.manage`` grant's ``resources`` are fnmatch patterns over key
ids and aliases; a key is covered when any of its names (its id, each of its
aliases) matches. ``operations`` narrows ``kms.use`` to the operations listed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from certward.access.grants import Grant, Permission, is_allowed
from certward.errors import AccessDenied

__all__ = ["authorize_key", "may_use_key"]


def may_use_key(
    grants: Iterable[Grant],
    permission: Permission,
    names: Sequence[str],
    *,
    operation: str | None = None,
) -> bool:
    """Whether ``grants`` allow ``permission`` (for ``operation``) on a key called ``names``."""
    grants = tuple(grants)
    return any(is_allowed(grants, permission, resource=name, operation=operation) for name in names)


def authorize_key(
    principal_name: str,
    grants: Iterable[Grant],
    permission: Permission,
    names: Sequence[str],
    *,
    operation: str | None = None,
) -> None:
    """AccessDenied unless ``grants`` allow ``permission`` on the key ``names[0]`` (id first)."""
    if may_use_key(grants, permission, names, operation=operation):
        return
    what = f"{permission.value} on {names[0]!r}"
    if operation is not None:
        what += f" for {operation!r}"
    raise AccessDenied(f"principal {principal_name!r} has no grant for {what}")
