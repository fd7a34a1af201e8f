"""ACME orders, authorizations and challenges (RFC 8555 7.4-7.5): from new-order to finalize.

An order gets one authorization per identifier, each with the challenges that
can prove it (http-01, dns-01, tls-alpn-01; a wildcard only dns-01). Answering
a challenge checks it at once (the check runs outside any transaction); the
first success makes the authorization valid, a failure makes it and its order
invalid. A ready order is finalized with a CSR naming exactly its identifiers,
signed through :func:`certward.ca.issue.sign_csr`, so the profile's rules apply.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from josepy.b64 import b64decode
from josepy.jwk import JWK
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from certward.acme.accounts import Account
from certward.acme.directory import AcmeDirectory, new_public_id
from certward.ca.context import CAContext
from certward.ca.factory import IssuedCertificate
from certward.ca.group_commit import TableRow, insert_rows
from certward.ca.issue import csr_request, sign_csr
from certward.ca.profiles import Profile
from certward.crypto.names import common_name_of, parse_san
from certward.errors import (
    AcmeBadCSR,
    AcmeMalformed,
    AcmeNotFound,
    AcmeOrderNotReady,
    AcmeProblem,
    AcmeRateLimited,
    AcmeRejectedIdentifier,
    AcmeUnsupportedIdentifier,
    InvalidInput,
    PolicyViolation,
)
from certward.store.models import AcmeAuthorizationRow, AcmeChallengeRow, AcmeOrderRow

__all__ = [
    "MAX_IDENTIFIERS",
    "AuthorizationView",
    "ChallengeView",
    "OrderView",
    "answer_challenge",
    "deactivate_authorization",
    "finalize_order",
    "get_authorization",
    "get_challenge",
    "get_order",
    "new_order",
    "order_ids",
    "problem_json",
]

MAX_IDENTIFIERS = 100
CHALLENGE_TYPES = ("http-01", "dns-01", "tls-alpn-01")
Checker = Callable[[str, str, str, JWK], None]  # (type, name, token, account key)


def problem_json(problem: AcmeProblem) -> str:
    """The stored form of a problem document."""
    return json.dumps(
        {"type": problem.problem_type, "detail": problem.message, "status": problem.status}
    )


@dataclass(frozen=True)
class ChallengeView:
    public_id: str
    type: str
    token: str
    status: str
    validated_at: datetime | None
    error: dict[str, Any] | None


@dataclass(frozen=True)
class AuthorizationView:
    public_id: str
    identifier_type: str
    identifier: str
    wildcard: bool
    status: str
    expires_at: datetime
    challenges: tuple[ChallengeView, ...]


@dataclass(frozen=True)
class OrderView:
    public_id: str
    status: str
    identifiers: tuple[dict[str, str], ...]
    expires_at: datetime
    authorizations: tuple[str, ...]
    certificate_serial: str | None
    error: dict[str, Any] | None


# -- reading -----------------------------------------------------------------------


def _order_row(session: Session, account: Account, public_id: str) -> AcmeOrderRow:
    row = session.scalars(select(AcmeOrderRow).where(AcmeOrderRow.public_id == public_id)).first()
    if row is None or row.account_id != account.id:
        raise AcmeNotFound("no such order for this account")
    return row


def _authorizations(session: Session, order_id: int) -> list[AcmeAuthorizationRow]:
    return list(
        session.scalars(
            select(AcmeAuthorizationRow)
            .where(AcmeAuthorizationRow.order_id == order_id)
            .order_by(AcmeAuthorizationRow.id)
        )
    )


def _authorization_status(row: AcmeAuthorizationRow, now: datetime) -> str:
    if row.status in ("pending", "valid") and row.expires_at <= now:
        return "expired"
    return row.status


def _order_status(
    row: AcmeOrderRow, authorizations: Sequence[AcmeAuthorizationRow], now: datetime
) -> str:
    if row.status in ("valid", "invalid", "processing"):
        return row.status
    if row.expires_at <= now:
        return "invalid"
    states = {_authorization_status(a, now) for a in authorizations}
    if states - {"pending", "valid"}:
        return "invalid"
    return "ready" if states == {"valid"} else "pending"


def _order_view(session: Session, row: AcmeOrderRow, now: datetime) -> OrderView:
    authorizations = _authorizations(session, row.id)
    return OrderView(
        public_id=row.public_id,
        status=_order_status(row, authorizations, now),
        identifiers=tuple(json.loads(row.identifiers)),
        expires_at=row.expires_at,
        authorizations=tuple(a.public_id for a in authorizations),
        certificate_serial=row.certificate_serial,
        error=json.loads(row.error) if row.error else None,
    )


def _challenge_view(row: AcmeChallengeRow) -> ChallengeView:
    return ChallengeView(
        public_id=row.public_id,
        type=row.type,
        token=row.token,
        status=row.status,
        validated_at=row.validated_at,
        error=json.loads(row.error) if row.error else None,
    )


def _authorization_view(
    session: Session, row: AcmeAuthorizationRow, now: datetime
) -> AuthorizationView:
    challenges = session.scalars(
        select(AcmeChallengeRow)
        .where(AcmeChallengeRow.authorization_id == row.id)
        .order_by(AcmeChallengeRow.id)
    )
    return AuthorizationView(
        public_id=row.public_id,
        identifier_type=row.identifier_type,
        identifier=row.identifier,
        wildcard=row.wildcard,
        status=_authorization_status(row, now),
        expires_at=row.expires_at,
        challenges=tuple(_challenge_view(c) for c in challenges),
    )


def _owned_authorization(
    session: Session, account: Account, public_id: str
) -> AcmeAuthorizationRow:
    row = session.scalars(
        select(AcmeAuthorizationRow).where(AcmeAuthorizationRow.public_id == public_id)
    ).first()
    order = session.get(AcmeOrderRow, row.order_id) if row is not None else None
    if row is None or order is None or order.account_id != account.id:
        raise AcmeNotFound("no such authorization for this account")
    return row


def get_order(ctx: CAContext, account: Account, public_id: str) -> OrderView:
    """The order ``public_id`` of ``account``."""
    with ctx.database.read() as session:
        return _order_view(session, _order_row(session, account, public_id), ctx.clock())


def order_ids(ctx: CAContext, account: Account, *, limit: int = 1000) -> list[str]:
    """The public ids of the account's newest orders."""
    with ctx.database.read() as session:
        return list(
            session.scalars(
                select(AcmeOrderRow.public_id)
                .where(AcmeOrderRow.account_id == account.id)
                .order_by(AcmeOrderRow.id.desc())
                .limit(limit)
            )
        )


def get_authorization(ctx: CAContext, account: Account, public_id: str) -> AuthorizationView:
    """The authorization ``public_id`` of one of the account's orders."""
    with ctx.database.read() as session:
        row = _owned_authorization(session, account, public_id)
        return _authorization_view(session, row, ctx.clock())


def deactivate_authorization(ctx: CAContext, account: Account, public_id: str) -> AuthorizationView:
    """Give up an authorization (RFC 8555 7.5.2)."""
    with ctx.database.transaction() as session:
        row = _owned_authorization(session, account, public_id)
        if _authorization_status(row, ctx.clock()) not in ("pending", "valid"):
            raise AcmeMalformed(f"an authorization that is {row.status} cannot be deactivated")
        row.status = "deactivated"
        session.flush()
        return _authorization_view(session, row, ctx.clock())


# -- new order ---------------------------------------------------------------------


def _identifiers(payload: dict[str, Any], profile: Profile) -> list[tuple[str, bool]]:
    """The DNS names asked for (lowercase, no duplicates) and whether each is a wildcard."""
    given = payload.get("identifiers")
    if not isinstance(given, list) or not given:
        raise AcmeMalformed("identifiers must be a non-empty list")
    if len(given) > MAX_IDENTIFIERS:
        raise AcmeRejectedIdentifier(f"at most {MAX_IDENTIFIERS} identifiers per order")
    if payload.get("notBefore") is not None or payload.get("notAfter") is not None:
        raise AcmeMalformed("notBefore/notAfter are not supported; the profile sets validity")
    names: list[tuple[str, bool]] = []
    for item in given:
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            raise AcmeMalformed("each identifier needs a type and a value")
        if item.get("type") != "dns":
            raise AcmeUnsupportedIdentifier(
                f"identifier type {item.get('type')!r} is not supported"
            )
        value = item["value"].strip().lower().rstrip(".")
        try:
            san = parse_san(f"DNS:{value}")
        except InvalidInput as exc:
            raise AcmeRejectedIdentifier(f"{value!r} is not a DNS name: {exc.message}") from None
        try:
            profile.check_sans([san])
        except PolicyViolation as exc:
            raise AcmeRejectedIdentifier(exc.message) from None
        wildcard = value.startswith("*.")
        if "*" in value.removeprefix("*."):
            raise AcmeRejectedIdentifier(f"{value!r}: a wildcard may only be the first label")
        if (value, wildcard) not in names:
            names.append((value, wildcard))
    return names


def new_order(
    ctx: CAContext,
    account: Account,
    payload: dict[str, Any],
    *,
    profile: Profile,
    order_hours: int,
    orders_per_hour: int,
) -> OrderView:
    """A new pending order for the identifiers of ``payload``, with its authorizations."""
    names = _identifiers(payload, profile)
    now = ctx.clock()
    expires = now + timedelta(hours=order_hours)
    with ctx.database.transaction() as session:
        recent = session.scalar(
            select(func.count(AcmeOrderRow.id)).where(
                AcmeOrderRow.account_id == account.id,
                AcmeOrderRow.created_at > now - timedelta(hours=1),
            )
        )
        if (recent or 0) >= orders_per_hour:
            raise AcmeRateLimited(f"at most {orders_per_hour} new orders per hour per account")
        order = AcmeOrderRow(
            public_id=new_public_id(),
            account_id=account.id,
            status="pending",
            identifiers=json.dumps(
                [{"type": "dns", "value": name} for name, _ in names], separators=(",", ":")
            ),
            expires_at=expires,
            created_at=now,
        )
        session.add(order)
        session.flush()
        for name, wildcard in names:
            authorization = AcmeAuthorizationRow(
                public_id=new_public_id(),
                order_id=order.id,
                identifier_type="dns",
                identifier=name.removeprefix("*.") if wildcard else name,
                wildcard=wildcard,
                status="pending",
                expires_at=expires,
            )
            session.add(authorization)
            session.flush()
            for kind in ("dns-01",) if wildcard else CHALLENGE_TYPES:
                session.add(
                    AcmeChallengeRow(
                        public_id=new_public_id(),
                        authorization_id=authorization.id,
                        type=kind,
                        token=new_public_id() + new_public_id(),
                        status="pending",
                    )
                )
        session.flush()
        return _order_view(session, order, now)


# -- challenges ----------------------------------------------------------------------


def _owned_challenge(
    session: Session, account: Account, public_id: str
) -> tuple[AcmeChallengeRow, AcmeAuthorizationRow]:
    challenge = session.scalars(
        select(AcmeChallengeRow).where(AcmeChallengeRow.public_id == public_id)
    ).first()
    if challenge is None:
        raise AcmeNotFound("no such challenge")
    authorization = session.get(AcmeAuthorizationRow, challenge.authorization_id)
    assert authorization is not None
    _owned_authorization(session, account, authorization.public_id)
    return challenge, authorization


def get_challenge(ctx: CAContext, account: Account, public_id: str) -> tuple[ChallengeView, str]:
    """Challenge ``public_id`` as it is (POST-as-GET); its view and its authorization id."""
    with ctx.database.read() as session:
        challenge, authorization = _owned_challenge(session, account, public_id)
        return _challenge_view(challenge), authorization.public_id


def answer_challenge(
    ctx: CAContext, account: Account, public_id: str, check: Checker
) -> tuple[ChallengeView, str]:
    """Check challenge ``public_id`` now (if still pending); its view and its authorization id."""
    now = ctx.clock()
    with ctx.database.transaction() as session:
        challenge, authorization = _owned_challenge(session, account, public_id)
        authz_id = authorization.public_id
        if challenge.status != "pending" or _authorization_status(authorization, now) != "pending":
            return _challenge_view(challenge), authz_id
        # Claimed in one transaction: a second POST while this one checks sees "processing".
        challenge.status = "processing"
        kind, token, name = challenge.type, challenge.token, authorization.identifier
        challenge_id, authorization_id = challenge.id, authorization.id
    error: AcmeProblem | None = None
    try:
        check(kind, name, token, account.key)
    except AcmeProblem as exc:
        error = exc
    with ctx.database.transaction() as session:
        checked = session.get(AcmeChallengeRow, challenge_id)
        proven = session.get(AcmeAuthorizationRow, authorization_id)
        assert checked is not None and proven is not None
        if error is None:
            checked.status = "valid"
            checked.validated_at = ctx.clock()
            proven.status = "valid"
        else:
            checked.status = "invalid"
            checked.error = problem_json(error)
            proven.status = "invalid"
            session.execute(
                update(AcmeOrderRow)
                .where(AcmeOrderRow.id == proven.order_id)
                .values(status="invalid", error=checked.error)
            )
        session.flush()
        return _challenge_view(checked), authz_id


# -- finalize ------------------------------------------------------------------------


def _csr_names(csr_der: bytes) -> set[str]:
    try:
        request = csr_request(csr_der)
    except (InvalidInput, PolicyViolation) as exc:
        raise AcmeBadCSR(exc.message) from None
    names: set[str] = set()
    for san in request.sans:
        if not isinstance(san, x509.DNSName):
            raise AcmeBadCSR("the CSR may only name DNS names")
        names.add(san.value.lower())
    common_name = common_name_of(request.subject)
    if common_name is not None:
        names.add(common_name.lower())
    return names


def finalize_order(
    ctx: CAContext,
    directory: AcmeDirectory,
    account: Account,
    public_id: str,
    payload: dict[str, Any],
    *,
    audit: Callable[[IssuedCertificate], Sequence[TableRow]],
) -> OrderView:
    """Issue the certificate of a ready order for the CSR in ``payload``."""
    csr_text = payload.get("csr")
    if not isinstance(csr_text, str):
        raise AcmeMalformed("finalize needs a csr")
    try:
        csr_der = b64decode(csr_text)
    except (ValueError, TypeError):
        raise AcmeBadCSR("the csr is not base64url") from None
    now = ctx.clock()
    with ctx.database.transaction() as session:
        order = _order_row(session, account, public_id)
        view = _order_view(session, order, now)
        if view.status != "ready":
            raise AcmeOrderNotReady(f"the order is {view.status}, not ready")
        names = _csr_names(csr_der)
        wanted = {item["value"] for item in view.identifiers}
        if names != wanted:
            raise AcmeBadCSR(
                f"the CSR names {sorted(names)}, the order {sorted(wanted)}: they must be the same"
            )
        order.status = "processing"
        order_id = order.id

    def mark_valid(session: Session, issued: IssuedCertificate) -> None:
        session.execute(
            update(AcmeOrderRow)
            .where(AcmeOrderRow.id == order_id)
            .values(status="valid", certificate_serial=issued.serial)
        )
        insert_rows(session, audit(issued))

    try:
        sign_csr(
            ctx,
            ca_name=directory.ca_name,
            profile=directory.profile,
            csr_data=csr_der,
            also=mark_valid,
        )
    except (InvalidInput, PolicyViolation) as exc:
        problem = AcmeBadCSR(exc.message)
        _fail_order(ctx, order_id, problem)
        raise problem from None
    except BaseException:
        _fail_order(ctx, order_id, AcmeBadCSR("the certificate could not be issued"))
        raise
    return get_order(ctx, account, public_id)


def _fail_order(ctx: CAContext, order_id: int, problem: AcmeProblem) -> None:
    with ctx.database.transaction() as session:
        session.execute(
            update(AcmeOrderRow)
            .where(AcmeOrderRow.id == order_id)
            .values(status="invalid", error=problem_json(problem))
        )
