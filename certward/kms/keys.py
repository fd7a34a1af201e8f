"""KMS keys: create, find, describe and list them, and load one for use.

A key is named by its id (``key-<uuid>``) or by an alias (``alias/<name>``; the
HTTP API also takes ``alias:<name>``). Its material lives in versions, each
sealed by the keystore; the key row says which version is primary (used to sign
and encrypt) and from which version on old ones are still accepted.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from certward.ca.context import CAContext
from certward.ca.group_commit import TableRow, insert_rows
from certward.errors import (
    InvalidInput,
    KmsAliasExists,
    KmsInvalidState,
    KmsKeyNotFound,
    KmsVersionRetired,
)
from certward.kms.material import MaterialCache, NewMaterial, OpenedMaterial, generate_material
from certward.kms.records import key_material_record_id, version_record
from certward.kms.specs import KeyOrigin, KeySpec, KeyState, KeyUsage, check_usage
from certward.store.models import KmsAliasRow, KmsKeyRow, KmsKeyVersionRow

__all__ = [
    "MAX_KEY_PAGE",
    "KeyInfo",
    "KeyPage",
    "KeyVersionInfo",
    "LoadedKey",
    "add_version",
    "alias_name",
    "change_key",
    "check_description",
    "check_rotation_period",
    "check_tags",
    "create_key",
    "describe_key",
    "find_key_row",
    "insert_alias",
    "key_info",
    "list_keys",
    "load_key",
    "new_key_id",
    "parse_key_ref",
]

MAX_KEY_PAGE = 1000
MAX_DESCRIPTION = 1000
MAX_TAGS = 50
MAX_ROTATION_DAYS = 3650
_KEY_ID = re.compile(r"key-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ALIAS = re.compile(r"alias/[A-Za-z0-9_.-]{1,250}")


def new_key_id() -> str:
    """A fresh key id, ``key-<uuid4>``."""
    return f"key-{uuid.uuid4()}"


def alias_name(alias: str) -> str:
    """``alias`` checked to be ``alias/<name>`` (letters, digits, ``_``, ``.``, ``-``)."""
    if not _ALIAS.fullmatch(alias):
        raise InvalidInput(
            f"alias {alias!r} is invalid: use alias/<name> with 1-250 letters, digits, "
            "'_', '.' or '-'"
        )
    return alias


def parse_key_ref(ref: str) -> tuple[str, str]:
    """``("id", key_id)`` or ``("alias", "alias/<name>")`` for a key reference.

    Accepted: ``key-<uuid>``, ``alias/<name>`` and ``alias:<name>``.
    """
    if _KEY_ID.fullmatch(ref):
        return "id", ref
    if ref.startswith("alias:"):
        ref = "alias/" + ref.removeprefix("alias:")
    if ref.startswith("alias/"):
        return "alias", alias_name(ref)
    raise InvalidInput(f"{ref!r} is not a key id (key-<uuid>) or an alias (alias/<name>)")


@dataclass(frozen=True)
class KeyVersionInfo:
    """One version of a key (its material is never shown)."""

    version: int
    created_at: datetime


@dataclass(frozen=True)
class KeyInfo:
    """What a key is and where it stands; no material."""

    key_id: str
    aliases: tuple[str, ...]
    spec: KeySpec
    usage: KeyUsage
    origin: KeyOrigin
    state: KeyState
    description: str
    tags: Mapping[str, str] = field(hash=False)
    primary_version: int | None
    versions: tuple[KeyVersionInfo, ...]
    min_decryption_version: int | None
    rotation_period_days: int | None
    next_rotation_at: datetime | None
    deletion_date: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class KeyPage:
    """A page of keys, newest first, and the cursor of the next page."""

    items: tuple[KeyInfo, ...]
    next_cursor: str | None


def find_key_row(session: Session, ref: str, *, for_update: bool = False) -> KmsKeyRow:
    """The key row of ``ref`` (id or alias); KmsKeyNotFound if there is none."""
    kind, value = parse_key_ref(ref)
    if kind == "id":
        query = select(KmsKeyRow).where(KmsKeyRow.key_id == value)
    else:
        query = select(KmsKeyRow).join(KmsAliasRow).where(KmsAliasRow.alias == value)
    if for_update:
        query = query.with_for_update(of=KmsKeyRow)
    row = session.scalar(query)
    if row is None:
        raise KmsKeyNotFound(f"no KMS key {ref!r}")
    return row


def _aliases_of(session: Session, row_id: int) -> tuple[str, ...]:
    return tuple(
        session.scalars(
            select(KmsAliasRow.alias)
            .where(KmsAliasRow.key_id == row_id)
            .order_by(KmsAliasRow.alias)
        )
    )


def key_info(session: Session, row: KmsKeyRow) -> KeyInfo:
    """The description of a key row (reads its aliases and versions)."""
    versions = session.execute(
        select(KmsKeyVersionRow.version, KmsKeyVersionRow.created_at)
        .where(KmsKeyVersionRow.key_id == row.id)
        .order_by(KmsKeyVersionRow.version)
    ).all()
    period = row.rotation_period_seconds
    return KeyInfo(
        key_id=row.key_id,
        aliases=_aliases_of(session, row.id),
        spec=KeySpec(row.spec),
        usage=KeyUsage(row.usage),
        origin=KeyOrigin(row.origin),
        state=KeyState(row.state),
        description=row.description,
        tags=json.loads(row.tags),
        primary_version=row.primary_version or None,
        versions=tuple(KeyVersionInfo(v, at) for v, at in versions),
        min_decryption_version=row.min_decryption_version if row.primary_version else None,
        rotation_period_days=period // 86400 if period else None,
        next_rotation_at=row.next_rotation_at,
        deletion_date=row.deletion_date,
        created_at=row.created_at,
    )


def check_description(description: str) -> str:
    """``description`` if it fits."""
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInput(f"the description is longer than {MAX_DESCRIPTION} characters")
    return description


def check_tags(tags: Mapping[str, str] | None) -> str:
    """The stored (JSON) form of ``tags``; InvalidInput for too many or too long ones."""
    tags = dict(tags or {})
    if len(tags) > MAX_TAGS:
        raise InvalidInput(f"a key takes at most {MAX_TAGS} tags")
    for name, value in tags.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise InvalidInput("tags map strings to strings")
        if not 1 <= len(name) <= 128 or len(value) > 256:
            raise InvalidInput("a tag name is 1-128 characters, a tag value at most 256")
    return json.dumps(tags, sort_keys=True)


def check_rotation_period(days: int | None) -> int | None:
    """The rotation period in seconds (None: no automatic rotation; 0 means none too)."""
    if not days:
        return None
    if not 1 <= days <= MAX_ROTATION_DAYS:
        raise InvalidInput(f"rotation_period_days must be 1-{MAX_ROTATION_DAYS} (0 or null: off)")
    return days * 86400


def add_version(
    ctx: CAContext, session: Session, row: KmsKeyRow, material: NewMaterial, *, primary: bool = True
) -> int:
    """Store ``material`` as the key's next version (sealed); make it primary. Returns it."""
    newest = session.scalar(
        select(KmsKeyVersionRow.version)
        .where(KmsKeyVersionRow.key_id == row.id)
        .order_by(KmsKeyVersionRow.version.desc())
        .limit(1)
    )
    version = (newest or 0) + 1
    record = version_record(row.key_id, version)
    sealed = (
        ctx.keystore.seal(material.secret, record_id=key_material_record_id(record))
        if material.secret is not None
        else None
    )
    session.add(
        KmsKeyVersionRow(
            key_id=row.id,
            record=record,
            version=version,
            material_sealed=sealed,
            public_der=material.public_der,
            created_at=ctx.clock(),
        )
    )
    if primary:
        row.primary_version = version
    row.updated_at = ctx.clock()
    return version


def insert_alias(ctx: CAContext, session: Session, row: KmsKeyRow, alias: str) -> None:
    """Point ``alias`` at the key of ``row``; KmsAliasExists if it names another key already."""
    alias_name(alias)
    existing = session.scalar(select(KmsAliasRow.id).where(KmsAliasRow.alias == alias))
    if existing is not None:
        raise KmsAliasExists(f"alias {alias!r} already exists; delete it first")
    session.add(KmsAliasRow(alias=alias, key_id=row.id, created_at=ctx.clock()))
    try:
        session.flush()
    except IntegrityError:
        raise KmsAliasExists(f"alias {alias!r} already exists; delete it first") from None


def create_key(
    ctx: CAContext,
    *,
    spec: KeySpec,
    usage: KeyUsage,
    origin: KeyOrigin = KeyOrigin.CERTWARD,
    description: str = "",
    tags: Mapping[str, str] | None = None,
    alias: str | None = None,
    rotation_period_days: int | None = None,
    key_id: str | None = None,
    created_by: str | None = None,
    material: NewMaterial | None = None,
    extra_rows: Sequence[TableRow] = (),
) -> KeyInfo:
    """Create a key; with origin CERTWARD its first version is generated (or ``material``).

    An EXTERNAL key starts PendingImport, with no version. ``extra_rows`` (an audit
    event) are stored in the same transaction.
    """
    check_usage(spec, usage)
    if origin is KeyOrigin.PUBLIC_ONLY and material is None:
        raise InvalidInput("a PUBLIC_ONLY key is made by importing its public key")
    description = check_description(description)
    stored_tags = check_tags(tags)
    period = check_rotation_period(rotation_period_days)
    if period is not None and origin is not KeyOrigin.CERTWARD:
        raise InvalidInput("automatic rotation needs a key whose material certward generates")
    if alias is not None:
        alias_name(alias)
    key_id = key_id or new_key_id()
    if origin is KeyOrigin.CERTWARD and material is None:
        material = generate_material(spec)  # before the transaction: RSA takes its time
    now = ctx.clock()
    with ctx.database.transaction() as session:
        row = KmsKeyRow(
            key_id=key_id,
            spec=spec.value,
            usage=usage.value,
            origin=origin.value,
            state=(KeyState.PENDING_IMPORT if material is None else KeyState.ENABLED).value,
            description=description,
            tags=stored_tags,
            primary_version=0,
            min_decryption_version=1,
            rotation_period_seconds=period,
            next_rotation_at=now + timedelta(seconds=period) if period else None,
            deletion_date=None,
            created_at=now,
            created_by=created_by,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        if material is not None:
            add_version(ctx, session, row, material)
        if alias is not None:
            insert_alias(ctx, session, row, alias)
        insert_rows(session, extra_rows)
        session.flush()
        return key_info(session, row)


def change_key(
    ctx: CAContext,
    ref: str,
    change: Callable[[Session, KmsKeyRow], None],
    *,
    extra_rows: Sequence[TableRow] = (),
) -> KeyInfo:
    """Apply ``change`` to the locked key row of ``ref`` in one transaction with ``extra_rows``.

    ``change`` raises to refuse; then nothing is stored.
    """
    with ctx.database.transaction() as session:
        row = find_key_row(session, ref, for_update=True)
        change(session, row)
        row.updated_at = ctx.clock()
        insert_rows(session, extra_rows)
        session.flush()
        return key_info(session, row)


def describe_key(ctx: CAContext, ref: str) -> KeyInfo:
    """The key named by ``ref`` (id or alias)."""
    with ctx.database.read() as session:
        return key_info(session, find_key_row(session, ref))


def list_keys(ctx: CAContext, *, limit: int = 100, cursor: str | None = None) -> KeyPage:
    """Keys, newest first; pass ``next_cursor`` for the next page."""
    if not 1 <= limit <= MAX_KEY_PAGE:
        raise InvalidInput(f"page size must be 1-{MAX_KEY_PAGE}, not {limit}")
    query = select(KmsKeyRow)
    if cursor is not None:
        if not cursor.isdigit():
            raise InvalidInput(f"invalid cursor {cursor!r}")
        query = query.where(KmsKeyRow.id < int(cursor))
    with ctx.database.read() as session:
        rows = session.scalars(query.order_by(KmsKeyRow.id.desc()).limit(limit + 1)).all()
        items = tuple(key_info(session, row) for row in rows[:limit])
        next_cursor = str(rows[limit - 1].id) if len(rows) > limit else None
    return KeyPage(items=items, next_cursor=next_cursor)


# -- loaded for use ---------------------------------------------------------------


@dataclass(frozen=True)
class _SealedVersion:
    record: str
    sealed: bytes | None = field(repr=False)
    public_der: bytes | None = field(repr=False)


@dataclass(frozen=True)
class LoadedKey:
    """A key as the operations need it: its state and its versions, opened on first use."""

    key_id: str
    spec: KeySpec
    usage: KeyUsage
    origin: KeyOrigin
    state: KeyState
    primary_version: int
    min_decryption_version: int
    aliases: tuple[str, ...]
    deletion_date: datetime | None
    versions: Mapping[int, _SealedVersion] = field(repr=False, hash=False)
    materials: MaterialCache = field(repr=False, hash=False, compare=False)

    @property
    def resources(self) -> tuple[str, ...]:
        """The names a grant may use for this key: its id and its aliases."""
        return (self.key_id, *self.aliases)

    def require_enabled(self) -> None:
        """KmsInvalidState unless the key may be used now."""
        if self.state is KeyState.ENABLED:
            return
        if self.state is KeyState.DISABLED:
            raise KmsInvalidState(f"key {self.key_id} is disabled; enable it to use it")
        if self.state is KeyState.PENDING_DELETION:
            when = self.deletion_date.isoformat() if self.deletion_date else "soon"
            raise KmsInvalidState(
                f"key {self.key_id} is pending deletion (on {when}); cancel the deletion to use it"
            )
        raise KmsInvalidState(f"key {self.key_id} has no material yet: import it first")

    def material(self, version: int) -> OpenedMaterial:
        """The opened material of ``version`` (which must exist)."""
        sealed = self.versions[version]
        return self.materials.get(
            self.spec, record=sealed.record, sealed=sealed.sealed, public_der=sealed.public_der
        )

    def has_version(self, version: int) -> bool:
        """Whether the key has a version ``version``."""
        return version in self.versions

    def accepted_version(self, version: int) -> OpenedMaterial:
        """Material of an existing ``version`` for verify/decrypt: KmsVersionRetired if too old."""
        if version < self.min_decryption_version:
            raise KmsVersionRetired(
                f"version {version} of key {self.key_id} is retired (the key's "
                f"min_decryption_version is {self.min_decryption_version}); lower it to use "
                "this version again, or re-encrypt old data under the primary version"
            )
        return self.material(version)


def load_key(ctx: CAContext, ref: str, *, materials: MaterialCache | None = None) -> LoadedKey:
    """The key named by ``ref``, ready for operations (its material opens on first use)."""
    with ctx.database.read() as session:
        row = find_key_row(session, ref)
        versions = session.execute(
            select(
                KmsKeyVersionRow.version,
                KmsKeyVersionRow.record,
                KmsKeyVersionRow.material_sealed,
                KmsKeyVersionRow.public_der,
            ).where(KmsKeyVersionRow.key_id == row.id)
        ).all()
        return LoadedKey(
            key_id=row.key_id,
            spec=KeySpec(row.spec),
            usage=KeyUsage(row.usage),
            origin=KeyOrigin(row.origin),
            state=KeyState(row.state),
            primary_version=row.primary_version,
            min_decryption_version=row.min_decryption_version,
            aliases=_aliases_of(session, row.id),
            deletion_date=row.deletion_date,
            versions={
                v: _SealedVersion(record, sealed, der) for v, record, sealed, der in versions
            },
            materials=materials or MaterialCache(ctx.keystore),
        )
