"""Replay nonces (RFC 8555 6.5): handed out once, accepted once, kept in the database.

The database, not process memory, holds them, so a nonce from one worker or
cluster node is good at any other. Expired ones are swept now and then.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import delete

from certward.ca.context import CAContext
from certward.store.models import AcmeNonceRow

__all__ = ["issue_nonce", "use_nonce"]

# One issue in this many also deletes the expired nonces.
_SWEEP_EVERY = 256


def issue_nonce(ctx: CAContext, *, lifetime_seconds: int) -> str:
    """A fresh nonce, good for ``lifetime_seconds``."""
    value = secrets.token_urlsafe(16)
    now = ctx.clock()
    with ctx.database.transaction() as session:
        session.add(AcmeNonceRow(value=value, expires_at=now + timedelta(seconds=lifetime_seconds)))
        if secrets.randbelow(_SWEEP_EVERY) == 0:
            session.execute(delete(AcmeNonceRow).where(AcmeNonceRow.expires_at <= now))
    return value


def use_nonce(ctx: CAContext, value: str | None) -> bool:
    """Use up ``value``; False when it was never issued, already used or expired."""
    if not value or len(value) > 64:
        return False
    with ctx.database.transaction() as session:
        result = session.execute(
            delete(AcmeNonceRow).where(
                AcmeNonceRow.value == value, AcmeNonceRow.expires_at > ctx.clock()
            )
        )
        return bool(getattr(result, "rowcount", 0) == 1)
