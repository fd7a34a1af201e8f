"""Aliases: ``alias/<name>`` pointing at one key; a key may have several."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from certward.ca.context import CAContext
from certward.ca.group_commit import TableRow, insert_rows
from certward.errors import NotFound
from certward.kms.keys import alias_name, find_key_row, insert_alias
from certward.store.models import KmsAliasRow, KmsKeyRow

__all__ = ["Alias", "create_alias", "delete_alias"]


@dataclass(frozen=True)
class Alias:
    """An alias and the id of the key it names."""

    alias: str
    key_id: str


def create_alias(
    ctx: CAContext, alias: str, key_ref: str, *, extra_rows: Sequence[TableRow] = ()
) -> Alias:
    """Point ``alias`` at the key ``key_ref``; KmsAliasExists if the alias is taken."""
    alias_name(alias)
    with ctx.database.transaction() as session:
        row = find_key_row(session, key_ref, for_update=True)
        insert_alias(ctx, session, row, alias)
        insert_rows(session, extra_rows)
        return Alias(alias=alias, key_id=row.key_id)


def delete_alias(ctx: CAContext, alias: str, *, extra_rows: Sequence[TableRow] = ()) -> Alias:
    """Remove ``alias`` (the key stays); NotFound if there is no such alias."""
    alias_name(alias)
    with ctx.database.transaction() as session:
        found = session.execute(
            select(KmsAliasRow, KmsKeyRow.key_id)
            .join(KmsKeyRow, KmsKeyRow.id == KmsAliasRow.key_id)
            .where(KmsAliasRow.alias == alias)
        ).first()
        if found is None:
            raise NotFound(f"no alias {alias!r}")
        row, key_id = found
        session.delete(row)
        insert_rows(session, extra_rows)
        return Alias(alias=alias, key_id=key_id)
