"""Grants: what a permission narrowed by resources, profiles and operations allows."""

from __future__ import annotations

from typing import Any

import pytest

from certward.access.grants import (
    Grant,
    Permission,
    authorize,
    grants_from_json,
    grants_to_json,
    is_allowed,
)
from certward.errors import AccessDenied, InvalidInput

ISSUE_CLIENT_FROM_ISSUING = Grant(Permission.CA_ISSUE, resources=("issuing",), profiles=("client",))


def test_admin_covers_every_permission_resource_profile_and_operation() -> None:
    admin = Grant(Permission.ADMIN, resources=("nothing",))

    assert all(
        admin.covers(permission, resource="any", profile="server", operation="sign")
        for permission in Permission
    )


def test_a_grant_covers_only_its_own_permission() -> None:
    read_all = Grant(Permission.CA_READ)

    assert read_all.covers(Permission.CA_READ, resource="issuing")
    assert not read_all.covers(Permission.CA_ISSUE, resource="issuing")
    assert not read_all.covers(Permission.ADMIN)


def test_resources_and_profiles_narrow_an_issue_grant() -> None:
    grant = ISSUE_CLIENT_FROM_ISSUING

    assert grant.covers(Permission.CA_ISSUE, resource="issuing", profile="client")
    assert not grant.covers(Permission.CA_ISSUE, resource="other", profile="client")
    assert not grant.covers(Permission.CA_ISSUE, resource="issuing", profile="server")


@pytest.mark.parametrize(
    ("patterns", "resource", "allowed"),
    [
        (("team-*",), "team-a", True),
        (("team-*",), "teams", False),
        (("team-?",), "team-b", True),
        (("team-?",), "team-bb", False),
        (("[ab]-ca",), "a-ca", True),
        (("[ab]-ca",), "c-ca", False),
        (("Issuing",), "issuing", False),  # case matters: CA names are exact
        (("one", "two"), "two", True),
        (("*",), "anything", True),
    ],
)
def test_resources_are_fnmatch_patterns(
    patterns: tuple[str, ...], resource: str, allowed: bool
) -> None:
    grant = Grant(Permission.CA_REVOKE, resources=patterns)

    assert grant.covers(Permission.CA_REVOKE, resource=resource) is allowed


def test_a_pattern_in_the_request_is_not_a_wildcard() -> None:
    # The request names one thing; a grant for "team-a" does not allow asking for "team-*".
    grant = Grant(Permission.CA_READ, resources=("team-a",))

    assert not grant.covers(Permission.CA_READ, resource="team-*")
    assert not grant.covers(Permission.CA_READ, resource="*")


def test_operations_narrow_a_kms_grant() -> None:
    grant = Grant(Permission.KMS_USE, resources=("key-*",), operations=("encrypt", "decrypt"))

    assert grant.covers(Permission.KMS_USE, resource="key-1", operation="decrypt")
    assert not grant.covers(Permission.KMS_USE, resource="key-1", operation="sign")
    assert not grant.covers(Permission.KMS_USE, resource="other", operation="encrypt")


def test_an_unnamed_resource_asks_only_for_the_permission() -> None:
    grant = Grant(Permission.CA_READ, resources=("issuing",))

    assert grant.covers(Permission.CA_READ)


def test_is_allowed_when_any_grant_covers() -> None:
    grants = [Grant(Permission.KDS_CLIENT), ISSUE_CLIENT_FROM_ISSUING]

    assert is_allowed(grants, Permission.CA_ISSUE, resource="issuing", profile="client")
    assert not is_allowed(grants, Permission.CA_ISSUE, resource="issuing", profile="server")
    assert not is_allowed([], Permission.CA_READ)


def test_authorize_names_what_was_missing() -> None:
    with pytest.raises(AccessDenied) as raised:
        authorize(
            "alice",
            [ISSUE_CLIENT_FROM_ISSUING],
            Permission.CA_ISSUE,
            resource="issuing",
            profile="server",
        )

    assert raised.value.code == "auth.forbidden"
    assert raised.value.status == 403
    assert raised.value.message == (
        "principal 'alice' has no grant for ca.issue on 'issuing' with profile 'server'"
    )


def test_authorize_returns_quietly_when_allowed() -> None:
    authorize("alice", [ISSUE_CLIENT_FROM_ISSUING], Permission.CA_ISSUE, resource="issuing")


def test_from_dict_fills_unnamed_lists_with_any() -> None:
    grant = Grant.from_dict({"permission": "ca.read"})

    assert grant == Grant(Permission.CA_READ, resources=("*",), profiles=("*",), operations=("*",))


def test_grants_survive_their_stored_form() -> None:
    grants = (Grant(Permission.ADMIN), ISSUE_CLIENT_FROM_ISSUING, Grant(Permission.KDS_CLIENT))

    assert grants_from_json(grants_to_json(grants)) == grants
    assert Grant.from_dict(ISSUE_CLIENT_FROM_ISSUING.to_dict()) == ISSUE_CLIENT_FROM_ISSUING


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"permission": "root"}, "unknown permission 'root'"),
        ({}, "unknown permission None"),
        ({"permission": "admin", "scope": "all"}, "unknown grant field(s): scope"),
        ({"permission": "ca.read", "resources": []}, "'resources' must be a non-empty list"),
        ({"permission": "ca.read", "resources": "issuing"}, "'resources' must be a non-empty"),
        ({"permission": "ca.read", "profiles": [""]}, "'profiles' must be a non-empty list"),
        ({"permission": "kms.use", "operations": [1]}, "'operations' must be a non-empty list"),
        (["admin"], "a grant must be an object"),
    ],
)
def test_from_dict_refuses_what_it_does_not_understand(data: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        Grant.from_dict(data)

    assert message in raised.value.message
    assert raised.value.code == "input.invalid"


def test_grants_are_values() -> None:
    assert Grant(Permission.CA_READ) == Grant(Permission.CA_READ)
    assert len({Grant(Permission.CA_READ), Grant(Permission.CA_READ)}) == 1
    with pytest.raises(AttributeError):
        Grant(Permission.CA_READ).permission = Permission.ADMIN  # type: ignore[misc]
