"""ACME accounts (RFC 8555 7.3): created by key, found by key or URL, updated, rolled, closed.

An account belongs to one directory (CA + profile) and is known by the
thumbprint of its key. External Account Binding keys (RFC 8555 7.3.4) are made
for a certward principal; the account created with one is bound to it.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from josepy.b64 import b64decode
from josepy.errors import DeserializationError
from josepy.errors import Error as JoseError
from josepy.jwk import JWK, JWKOct
from josepy.jws import JWS
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from certward.access.principals import get_principal
from certward.acme.directory import AcmeDirectory, new_public_id
from certward.acme.jws import check_account_key, jwk_from_json, thumbprint
from certward.ca.context import CAContext
from certward.ca.group_commit import TableRow, insert_rows
from certward.errors import (
    AcmeAccountDoesNotExist,
    AcmeExternalAccountRequired,
    AcmeInvalidContact,
    AcmeKeyInUse,
    AcmeMalformed,
    AcmeRateLimited,
    AcmeUnauthorized,
)
from certward.store.models import AcmeAccountRow, AcmeEabKeyRow

__all__ = [
    "Account",
    "EabKey",
    "account_by_key",
    "account_by_url",
    "change_account_key",
    "create_account",
    "create_eab_key",
    "eab_record_id",
    "update_account",
]

MAX_CONTACTS = 4
EAB_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})


@dataclass(frozen=True)
class Account:
    """An ACME account as the protocol sees it."""

    id: int
    public_id: str
    ca_name: str
    profile: str
    key: JWK
    thumbprint: str
    status: str
    contact: tuple[str, ...]
    principal: str | None

    @property
    def audit_name(self) -> str:
        """Who the audit log names: the bound principal, else the account."""
        return self.principal or f"acme:{self.public_id}"


@dataclass(frozen=True)
class EabKey:
    """An External Account Binding key: its id and the HMAC key (shown once)."""

    key_id: str
    hmac_key: str = field(repr=False)
    principal: str = ""


def _account(row: AcmeAccountRow) -> Account:
    return Account(
        id=row.id,
        public_id=row.public_id,
        ca_name=row.ca_name,
        profile=row.profile,
        key=jwk_from_json(json.loads(row.jwk)),
        thumbprint=row.thumbprint,
        status=row.status,
        contact=tuple(json.loads(row.contact)),
        principal=row.principal,
    )


def _contacts(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise AcmeMalformed("contact must be a list of URLs")
    if len(value) > MAX_CONTACTS:
        raise AcmeInvalidContact(f"at most {MAX_CONTACTS} contacts")
    for item in value:
        address = item.removeprefix("mailto:")
        if (
            not item.startswith("mailto:")
            or "@" not in address
            or any(c in address for c in ",;?&% \t\r\n")
        ):
            raise AcmeInvalidContact(f"contact {item!r} is not a mailto: address")
    return list(value)


def _row_by_key(session: Session, directory: AcmeDirectory, key_thumbprint: str) -> Any:
    return session.scalars(
        select(AcmeAccountRow).where(
            AcmeAccountRow.ca_name == directory.ca_name,
            AcmeAccountRow.profile == directory.profile,
            AcmeAccountRow.thumbprint == key_thumbprint,
        )
    ).first()


def account_by_key(ctx: CAContext, directory: AcmeDirectory, key: JWK) -> Account | None:
    """The account of ``key`` in ``directory``, if any."""
    with ctx.database.read() as session:
        row = _row_by_key(session, directory, thumbprint(key))
        return _account(row) if row is not None else None


def account_by_url(ctx: CAContext, directory: AcmeDirectory, url: str) -> Account:
    """The account a ``kid`` names; AcmeAccountDoesNotExist for another directory's or none."""
    prefix = directory.account_url("")
    public_id = url[len(prefix) :] if url.startswith(prefix) else ""
    with ctx.database.read() as session:
        row = session.scalars(
            select(AcmeAccountRow).where(AcmeAccountRow.public_id == public_id)
        ).first()
        if row is None or (row.ca_name, row.profile) != (directory.ca_name, directory.profile):
            raise AcmeAccountDoesNotExist(f"no account {url!r} in this directory")
        return _account(row)


def _bound_principal(
    ctx: CAContext,
    session: Session,
    binding: Any,
    *,
    account_key: JWK,
    url: str,
) -> tuple[str, AcmeEabKeyRow]:
    """Check an externalAccountBinding JWS (RFC 8555 7.3.4); the principal it binds to."""
    if not isinstance(binding, dict) or set(binding) != {"protected", "payload", "signature"}:
        raise AcmeMalformed("externalAccountBinding must be a flattened JWS")
    try:
        signed = JWS.from_json(binding)
        protected = json.loads(b64decode(binding["protected"]))
        payload = json.loads(signed.payload)
    except (DeserializationError, ValueError, TypeError, KeyError):
        raise AcmeMalformed("externalAccountBinding could not be parsed") from None
    if protected.get("alg") not in EAB_ALGORITHMS or "nonce" in protected:
        raise AcmeMalformed("externalAccountBinding must use HS256/384/512 and carry no nonce")
    if protected.get("url") != url:
        raise AcmeUnauthorized("externalAccountBinding is for another URL")
    if jwk_from_json(payload).thumbprint() != account_key.thumbprint():
        raise AcmeMalformed("externalAccountBinding must sign the account key")
    key_id = protected.get("kid")
    row = session.scalars(
        select(AcmeEabKeyRow).where(AcmeEabKeyRow.key_id == (key_id or ""))
    ).first()
    if row is None or row.used_by is not None:
        raise AcmeUnauthorized("unknown or used external account key")
    hmac_key = ctx.keystore.open(row.hmac_sealed, record_id=eab_record_id(row.key_id))
    try:
        valid = signed.verify(JWKOct(key=hmac_key))
    except (JoseError, ValueError, TypeError):
        valid = False
    if not valid:
        raise AcmeUnauthorized("externalAccountBinding signature does not verify")
    return row.principal, row


def create_account(
    ctx: CAContext,
    directory: AcmeDirectory,
    *,
    key: JWK,
    payload: dict[str, Any],
    url: str,
    client_address: str | None,
    require_eab: bool,
    accounts_per_hour: int,
    audit: Callable[[Account], Sequence[TableRow]] | None = None,
) -> tuple[Account, bool]:
    """The account of ``key``: the existing one (False) or one made now (True)."""
    check_account_key(key)
    contact = _contacts(payload.get("contact"))
    binding = payload.get("externalAccountBinding")
    key_thumbprint = thumbprint(key)
    now = ctx.clock()
    with ctx.database.transaction() as session:
        existing = _row_by_key(session, directory, key_thumbprint)
        if existing is not None:
            return _account(existing), False
        if payload.get("onlyReturnExisting") is True:
            raise AcmeAccountDoesNotExist("no account has this key")
        if payload.get("termsOfServiceAgreed") is False:
            raise AcmeMalformed("the terms of service must be agreed to")
        if require_eab and binding is None:
            raise AcmeExternalAccountRequired("this directory needs an External Account Binding")
        recent = session.scalar(
            select(func.count(AcmeAccountRow.id)).where(
                AcmeAccountRow.created_from == client_address,
                AcmeAccountRow.created_at > now - timedelta(hours=1),
            )
        )
        if client_address is not None and (recent or 0) >= accounts_per_hour:
            raise AcmeRateLimited(f"at most {accounts_per_hour} new accounts per hour per address")
        principal: str | None = None
        eab_row: AcmeEabKeyRow | None = None
        if binding is not None:
            principal, eab_row = _bound_principal(ctx, session, binding, account_key=key, url=url)
        row = AcmeAccountRow(
            public_id=new_public_id(),
            ca_name=directory.ca_name,
            profile=directory.profile,
            thumbprint=key_thumbprint,
            jwk=json.dumps(key.public_key().to_json()),
            status="valid",
            contact=json.dumps(contact),
            principal=principal,
            created_at=now,
            created_from=client_address,
        )
        session.add(row)
        session.flush()
        if eab_row is not None:
            eab_row.used_by = row.id
        account = _account(row)
        if audit is not None:
            insert_rows(session, audit(account))
        return account, True


def update_account(
    ctx: CAContext, account: Account, payload: dict[str, Any], *, audit: Sequence[TableRow] = ()
) -> Account:
    """Change the contacts of ``account`` or deactivate it (``{"status": "deactivated"}``)."""
    status = payload.get("status")
    if status is not None and status != "deactivated":
        raise AcmeMalformed("an account can only be changed to status 'deactivated'")
    contact = _contacts(payload["contact"]) if "contact" in payload else None
    with ctx.database.transaction() as session:
        row = session.get(AcmeAccountRow, account.id)
        assert row is not None
        if status == "deactivated":
            row.status = "deactivated"
            insert_rows(session, audit)
        if contact is not None:
            row.contact = json.dumps(contact)
        session.flush()
        return _account(row)


def change_account_key(
    ctx: CAContext,
    directory: AcmeDirectory,
    account: Account,
    new_key: JWK,
    *,
    audit: Sequence[TableRow] = (),
) -> Account:
    """Give ``account`` a new key (RFC 8555 7.3.5); AcmeKeyInUse if another account has it."""
    check_account_key(new_key)
    new_thumbprint = thumbprint(new_key)
    with ctx.database.transaction() as session:
        holder = _row_by_key(session, directory, new_thumbprint)
        if holder is not None:
            raise AcmeKeyInUse(f"the new key belongs to {directory.account_url(holder.public_id)}")
        row = session.get(AcmeAccountRow, account.id)
        assert row is not None
        row.thumbprint = new_thumbprint
        row.jwk = json.dumps(new_key.public_key().to_json())
        insert_rows(session, audit)
        session.flush()
        return _account(row)


def eab_record_id(key_id: str) -> str:
    """Associated data of a sealed EAB HMAC key."""
    return f"acme-eab:{key_id}"


def create_eab_key(
    ctx: CAContext, *, principal: str, extra_rows: Sequence[TableRow] = ()
) -> EabKey:
    """A new single-use External Account Binding key for ``principal`` (the key is shown once).

    PrincipalNotFound-like NotFound when ``principal`` does not exist.
    """
    get_principal(ctx, principal)  # an EAB key for nobody would bind accounts to nobody
    key_id = f"eab-{secrets.token_hex(8)}"
    hmac_key = secrets.token_bytes(32)
    with ctx.database.transaction() as session:
        session.add(
            AcmeEabKeyRow(
                key_id=key_id,
                principal=principal,
                hmac_sealed=ctx.keystore.seal(hmac_key, record_id=eab_record_id(key_id)),
                created_at=ctx.clock(),
            )
        )
        insert_rows(session, extra_rows)  # the audit record, with the change
    encoded = base64.urlsafe_b64encode(hmac_key).rstrip(b"=").decode()
    return EabKey(key_id=key_id, hmac_key=encoded, principal=principal)
