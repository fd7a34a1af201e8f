"""``certward backup`` and ``certward restore``: one encrypted file holds a whole installation."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from certward.cli.state import check_output_file, emit_json, read_secret_file, state_of
from certward.errors import InvalidInput

__all__ = ["backup", "restore"]

PASSPHRASE_ENV = "CERTWARD_BACKUP_PASSPHRASE"  # noqa: S105 - the name of a variable

PassphraseFile = Annotated[
    Path | None,
    typer.Option(
        help=f"read the passphrase from this file (else ${PASSPHRASE_ENV}, else a prompt)"
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def _passphrase(path: Path | None, *, confirm: bool) -> bytes:
    if path is not None:
        return read_secret_file(path)
    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env:
        return from_env.encode()
    if not os.isatty(0):
        raise InvalidInput(
            f"no passphrase: give --passphrase-file, set {PASSPHRASE_ENV}, or run on a terminal"
        )
    text: str = typer.prompt("backup passphrase", hide_input=True, confirmation_prompt=confirm)
    return text.encode()


def backup(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", "-o", help="the archive to write (0600)")],
    passphrase_file: PassphraseFile = None,
    force: Annotated[bool, typer.Option(help="replace an existing archive")] = False,
    json_flag: JsonFlag = False,
) -> None:
    """Back up the database, the master keys and the config into one encrypted file (online)."""
    from certward.backup import create_backup

    state = state_of(ctx)
    state.require_local()
    if out.exists() and not force:
        raise InvalidInput(f"{out} exists; pass --force to replace it")
    check_output_file(out)
    passphrase = _passphrase(passphrase_file, confirm=True)
    report = create_backup(state.context(), out, passphrase)
    if state.wants_json(json_flag):
        emit_json(report)
    else:
        rows = sum(report.tables.values())
        typer.echo(
            f"backup written to {report.path} ({report.size_bytes} bytes, {rows} rows, "
            f"schema {report.schema_revision}); keep the passphrase apart from the file"
        )


def restore(
    ctx: typer.Context,
    archive: Annotated[Path, typer.Argument(help="an archive made by certward backup")],
    passphrase_file: PassphraseFile = None,
    json_flag: JsonFlag = False,
) -> None:
    """Restore a backup into a new data dir (--data-dir) and an empty database (--database)."""
    from certward.backup import restore_backup

    state = state_of(ctx)
    state.require_local()
    if not archive.is_file():
        raise InvalidInput(f"{archive} is not a file")
    passphrase = _passphrase(passphrase_file, confirm=False)
    report = restore_backup(archive, state.data_dir, passphrase, database_url=state.database)
    if state.wants_json(json_flag):
        emit_json(report)
    else:
        rows = sum(report.tables.values())
        typer.echo(
            f"restored {rows} rows into {report.data_dir} ({report.database}); "
            f"start it with: certward --data-dir {report.data_dir} serve"
        )
