"""ACME accounts as a service: External Account Binding to a principal, and its refusals."""

from __future__ import annotations

from typing import Any

import pytest
from acme import messages

from certward.access.grants import Grant, Permission
from certward.access.principals import create_principal
from certward.acme.accounts import create_account, create_eab_key
from certward.acme.directory import AcmeDirectory
from certward.ca.context import CAContext
from certward.errors import (
    AcmeExternalAccountRequired,
    AcmeMalformed,
    AcmeUnauthorized,
    NotFound,
)
from tests.acme.client import new_account_key
from tests.support.pki import PKI

DIRECTORY = AcmeDirectory(ca_name="issuing", profile="server", base="https://ca.test/acme/issuing")
NEW_ACCOUNT = DIRECTORY.url("new-account")


@pytest.fixture
def ca_context(ca_context: CAContext) -> CAContext:
    """A data dir whose principal ``web-team`` can be given EAB keys."""
    PKI.create(ca_context)
    create_principal(
        ca_context, name="web-team", grants=[Grant(Permission.CA_READ)], ca_name="issuing"
    )
    return ca_context


def test_an_eab_key_for_an_unknown_principal_is_refused(ca_context: CAContext) -> None:
    with pytest.raises(NotFound):
        create_eab_key(ca_context, principal="nobody")


def _binding(key: Any, key_id: str, hmac_key: str, *, url: str = NEW_ACCOUNT) -> dict[str, Any]:
    directory = messages.Directory({"newAccount": url})
    return messages.ExternalAccountBinding.from_data(key, key_id, hmac_key, directory)


def _create(ctx: CAContext, key: Any, payload: dict[str, Any], *, require_eab: bool) -> Any:
    return create_account(
        ctx,
        DIRECTORY,
        key=key.public_key(),
        payload=payload,
        url=NEW_ACCOUNT,
        client_address="192.0.2.1",
        require_eab=require_eab,
        accounts_per_hour=100,
    )


def test_an_account_made_with_an_eab_key_is_bound_to_its_principal(
    ca_context: CAContext,
) -> None:
    eab = create_eab_key(ca_context, principal="web-team")
    key = new_account_key()

    account, created = _create(
        ca_context,
        key,
        {
            "termsOfServiceAgreed": True,
            "externalAccountBinding": _binding(key, eab.key_id, eab.hmac_key),
        },
        require_eab=True,
    )

    assert created
    assert account.principal == "web-team"
    assert account.audit_name == "web-team"
    assert eab.hmac_key not in repr(eab)


def test_an_eab_key_binds_one_account_only(ca_context: CAContext) -> None:
    eab = create_eab_key(ca_context, principal="web-team")
    first, second = new_account_key(), new_account_key()
    _create(
        ca_context,
        first,
        {"externalAccountBinding": _binding(first, eab.key_id, eab.hmac_key)},
        require_eab=True,
    )

    with pytest.raises(AcmeUnauthorized):
        _create(
            ca_context,
            second,
            {"externalAccountBinding": _binding(second, eab.key_id, eab.hmac_key)},
            require_eab=True,
        )


def test_a_binding_with_the_wrong_hmac_key_or_url_is_refused(ca_context: CAContext) -> None:
    eab = create_eab_key(ca_context, principal="web-team")
    other = create_eab_key(ca_context, principal="web-team")
    key = new_account_key()

    with pytest.raises(AcmeUnauthorized):
        _create(
            ca_context,
            key,
            {"externalAccountBinding": _binding(key, eab.key_id, other.hmac_key)},
            require_eab=True,
        )
    with pytest.raises(AcmeUnauthorized):
        _create(
            ca_context,
            key,
            {
                "externalAccountBinding": _binding(
                    key, eab.key_id, eab.hmac_key, url="https://elsewhere/new-account"
                )
            },
            require_eab=True,
        )


def test_a_binding_for_another_account_key_is_malformed(ca_context: CAContext) -> None:
    eab = create_eab_key(ca_context, principal="web-team")
    key, stranger = new_account_key(), new_account_key()

    with pytest.raises(AcmeMalformed):
        _create(
            ca_context,
            key,
            {"externalAccountBinding": _binding(stranger, eab.key_id, eab.hmac_key)},
            require_eab=True,
        )


def test_without_a_binding_a_directory_that_requires_one_refuses(ca_context: CAContext) -> None:
    with pytest.raises(AcmeExternalAccountRequired):
        _create(ca_context, new_account_key(), {"termsOfServiceAgreed": True}, require_eab=True)
