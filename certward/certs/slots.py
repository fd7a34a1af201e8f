"""Slots: the certificate locations of services, from certward.toml or created through the API.

A slot is named ``<kind>/<label>`` (``server/https``, ``client/ldap``,
``authority/truststore``): the kind says what it holds (one certificate and
key, or up to ``max_certificates`` CA certificates), the spec says where the
files go, with which owner and modes, and how the service is told to reload.
"""

from __future__ import annotations

import enum
import json
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import ValidationError
from sqlalchemy import select

from certward.ca.context import CAContext
from certward.ca.group_commit import TableRow, insert_rows
from certward.config import SlotReloadSettings, SlotSettings
from certward.errors import ConfigError, InvalidInput, SlotExists, SlotNotFound
from certward.store.models import CertSlotRow

__all__ = [
    "ReloadAction",
    "SlotKind",
    "SlotSpec",
    "create_slot",
    "get_slot",
    "list_slots",
    "slot_spec_from_settings",
]

_NAME = re.compile(r"^(server|client|authority)/[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

ReloadKind = Literal["command", "signal", "webhook", "none"]


class SlotKind(enum.StrEnum):
    """What a slot holds: a server or client identity (one cert + key), or trusted CAs."""

    SERVER = "server"
    CLIENT = "client"
    AUTHORITY = "authority"


@dataclass(frozen=True)
class ReloadAction:
    """How the slot's service picks up new files after a change.

    ``command``: run argv (no shell), exit status 0 means reloaded;
    ``signal``: send ``signal`` to the pid written in ``pid_file``;
    ``webhook``: POST a JSON notice to ``url``, a 2xx answer means reloaded;
    ``none``: the service reads the files itself.
    """

    kind: ReloadKind = "none"
    command: tuple[str, ...] = ()
    pid_file: Path | None = None
    signal: str = "SIGHUP"
    url: str | None = None
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class SlotSpec:
    """One slot: its name, kind, files, permissions, rules and reload action."""

    name: str
    kind: SlotKind
    directory: Path
    cert_file: str = "cert.pem"
    key_file: str = "key.pem"
    mode_dir: int = 0o700
    mode_file: int = 0o400
    owner: str | None = None
    key_types: tuple[str, ...] = ("RSA", "EC")
    max_certificates: int = 10
    lookup_hash_directory: bool = False
    crl_enabled: bool = False
    host_name: str = field(default_factory=socket.gethostname)
    reload: ReloadAction = field(default_factory=ReloadAction)
    truststore: str | None = None
    source: Literal["config", "api"] = "config"

    @property
    def label(self) -> str:
        """The part of the name after the kind (``https`` of ``server/https``)."""
        return self.name.split("/", 1)[1]

    @property
    def holds_key(self) -> bool:
        """Server and client slots hold a private key; authority slots do not."""
        return self.kind is not SlotKind.AUTHORITY

    @property
    def capacity(self) -> int:
        """How many certificates the slot may hold."""
        return self.max_certificates if self.kind is SlotKind.AUTHORITY else 1


def _reload_action(settings: SlotReloadSettings, where: str) -> ReloadAction:
    chosen = [
        name
        for name, value in (
            ("command", settings.command),
            ("pid_file", settings.pid_file),
            ("url", settings.url),
        )
        if value
    ]
    if len(chosen) > 1:
        raise ConfigError(f"{where}.reload: give one of command, pid_file or url, not {chosen}")
    kind: ReloadKind = "none"
    if settings.command:
        kind = "command"
    elif settings.pid_file:
        kind = "signal"
    elif settings.url:
        kind = "webhook"
    return ReloadAction(
        kind=kind,
        command=tuple(settings.command or ()),
        pid_file=Path(settings.pid_file) if settings.pid_file else None,
        signal=settings.signal,
        url=settings.url,
        timeout_seconds=settings.timeout_seconds,
    )


def slot_spec_from_settings(
    name: str, settings: SlotSettings, *, source: Literal["config", "api"] = "config"
) -> SlotSpec:
    """The spec of slot ``name`` from its settings; ConfigError names what is wrong."""
    where = f"slots.{name!r}"
    if not _NAME.match(name):
        raise ConfigError(
            f"{where}: a slot name is <server|client|authority>/<label>, e.g. server/https"
        )
    kind = SlotKind(name.split("/", 1)[0])
    for file_field in ("cert_file", "key_file"):
        if not _FILE_NAME.match(getattr(settings, file_field)):
            raise ConfigError(f"{where}.{file_field}: a plain file name is needed")
    if settings.cert_file == settings.key_file:
        raise ConfigError(f"{where}: cert_file and key_file must differ")
    if settings.crl_enabled and not (kind is SlotKind.AUTHORITY and settings.lookup_hash_directory):
        raise ConfigError(
            f"{where}: crl_enabled needs an authority slot with lookup_hash_directory"
        )
    if settings.lookup_hash_directory and kind is not SlotKind.AUTHORITY:
        raise ConfigError(f"{where}: lookup_hash_directory is for authority slots")
    if settings.truststore is not None and not settings.truststore.startswith("authority/"):
        raise ConfigError(f"{where}.truststore: must name an authority slot")
    if settings.mode_file & 0o400 == 0 or settings.mode_dir & 0o700 != 0o700:
        raise ConfigError(f"{where}: the owner must be able to read the files and use the dir")
    return SlotSpec(
        name=name,
        kind=kind,
        directory=Path(settings.directory),
        cert_file=settings.cert_file,
        key_file=settings.key_file,
        mode_dir=settings.mode_dir,
        mode_file=settings.mode_file,
        owner=settings.owner,
        key_types=tuple(settings.key_types),
        max_certificates=settings.max_certificates,
        lookup_hash_directory=settings.lookup_hash_directory,
        crl_enabled=settings.crl_enabled,
        host_name=settings.host_name or socket.gethostname(),
        reload=_reload_action(settings.reload, where),
        truststore=settings.truststore,
        source=source,
    )


def list_slots(ctx: CAContext) -> list[SlotSpec]:
    """Every slot, those of certward.toml first, then those created through the API; by name."""
    specs = {name: slot_spec_from_settings(name, s) for name, s in ctx.settings.slots.items()}
    with ctx.database.read() as session:
        rows = session.scalars(select(CertSlotRow).order_by(CertSlotRow.name)).all()
    for row in rows:
        if row.name not in specs:
            specs[row.name] = _spec_of_row(row)
    return [specs[name] for name in sorted(specs)]


def get_slot(ctx: CAContext, name: str) -> SlotSpec:
    """The slot called ``name``; SlotNotFound otherwise."""
    settings = ctx.settings.slots.get(name)
    if settings is not None:
        return slot_spec_from_settings(name, settings)
    with ctx.database.read() as session:
        row = session.scalar(select(CertSlotRow).where(CertSlotRow.name == name))
    if row is None:
        raise SlotNotFound(f"no slot named {name!r}")
    return _spec_of_row(row)


def create_slot(
    ctx: CAContext,
    name: str,
    settings: SlotSettings,
    *,
    actor: str | None,
    extra_rows: Sequence[TableRow] = (),
) -> SlotSpec:
    """Store a new slot (API-created); SlotExists if the name is taken, ConfigError if invalid."""
    spec = slot_spec_from_settings(name, settings, source="api")
    if name in ctx.settings.slots:
        raise SlotExists(f"slot {name!r} is defined in certward.toml")
    if spec.truststore is not None and spec.truststore != name:
        get_slot(ctx, spec.truststore)  # SlotNotFound names it
    with ctx.database.transaction() as session:
        if session.scalar(select(CertSlotRow.id).where(CertSlotRow.name == name)) is not None:
            raise SlotExists(f"slot {name!r} already exists")
        session.add(
            CertSlotRow(
                name=name,
                kind=spec.kind.value,
                settings=settings.model_dump_json(),
                created_at=ctx.clock(),
                created_by=actor,
            )
        )
        insert_rows(session, extra_rows)
    return spec


def _spec_of_row(row: CertSlotRow) -> SlotSpec:
    try:
        settings = SlotSettings.model_validate(json.loads(row.settings))
    except (ValidationError, ValueError) as exc:
        raise InvalidInput(f"stored slot {row.name!r} has unreadable settings") from exc
    return slot_spec_from_settings(row.name, settings, source="api")
