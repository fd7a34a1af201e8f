"""``certward kds``: run a key distribution node and administer its master keys.

Every command works on the data dir (``certward -d DIR kds ...``) and its
database (SQLite, or PostgreSQL with ``--database``). Whoever can open the data
dir holds its keystore, so the local user is the administrator; export, import
and publish-now are recorded in the audit log under ``local:<user>``.
"""

from __future__ import annotations

import dataclasses
import getpass
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from certward.cli.state import check_output_file, emit_json, state_of

if TYPE_CHECKING:
    from certward.kds.masterkeys import MasterKeyInfo
    from certward.kds.nodes import NodeInfo

__all__ = ["kds_app"]

kds_app = typer.Typer(
    help="Key distribution (Limax-compatible): serve a node, master keys, status.",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def _principal() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"local:{user}"


def _list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [item.strip() for item in value.split(",") if item.strip()]


@kds_app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="TLS port (default 8444)")] = None,
    cert: Annotated[
        Path | None, typer.Option(help="server certificate, PEM (CN = KDSName; chain after)")
    ] = None,
    key: Annotated[Path | None, typer.Option(help="its private key (PEM or DER)")] = None,
    passphrase_file: Annotated[
        Path | None,
        typer.Option(help="file with the key's passphrase ('-': stdin); else env or prompt"),
    ] = None,
    trusts: Annotated[
        Path | None,
        typer.Option(help="trusted CAs: file or one-level directory (PEM, DER, PKCS#7/#12)"),
    ] = None,
    revocation_checker_options: Annotated[
        str | None,
        typer.Option(
            help="comma-separated: DISABLE, NO_FALLBACK, ONLY_END_ENTITY, PREFER_CRLS, SOFT_FAIL"
        ),
    ] = None,
    algorithm: Annotated[
        str | None, typer.Option(help="digest: SHA-1, SHA-256 (default), SHA-384, SHA-512")
    ] = None,
    key_lifespan: Annotated[
        int | None, typer.Option(help="days a master key lives (default 365)")
    ] = None,
    publish_period: Annotated[
        float | None, typer.Option(help="days between new master keys; -1: never publish")
    ] = None,
    peers: Annotated[
        str | None, typer.Option(help="comma-separated other nodes (host or host:port)")
    ] = None,
    database: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL of the shared database")
    ] = None,
    parent_pid: Annotated[int | None, typer.Option(hidden=True)] = None,
) -> None:
    """Run a KDS node: POST / with a KeyIdent over mutual TLS, answered as Limax does.

    Each option may also be set in the [kds] section of certward.toml; flags win.
    """
    from certward.datadir import initialise_data_dir
    from certward.kds.serve import (
        kds_options,
        key_is_encrypted,
        read_passphrase,
        run_kds,
        terminal_prompt,
    )

    state = state_of(ctx)
    state.require_local()
    context = initialise_data_dir(state.data_dir, database=database or state.database)
    settings = context.settings.kds
    options = kds_options(
        settings,
        host=host,
        port=port,
        cert=str(cert) if cert else None,
        key=str(key) if key else None,
        trusts=str(trusts) if trusts else None,
        revocation_checker_options=_list(revocation_checker_options),
        algorithm=algorithm,
        key_lifespan_days=key_lifespan,
        publish_period_days=publish_period,
        peers=_list(peers),
    )
    source = passphrase_file or (
        Path(settings.passphrase_file) if settings.passphrase_file else None
    )
    prompt = terminal_prompt if sys.stdin.isatty() and key_is_encrypted(options.key) else None
    options = dataclasses.replace(options, passphrase=read_passphrase(source, prompt=prompt))
    shown = f"[{options.host}]" if ":" in options.host else options.host
    typer.echo(
        f"certward KDS node on https://{shown}:{options.port} "
        f"(database {context.database.safe_url}; publish period "
        f"{'never' if not options.publishes else f'{options.publish_period_days:g} days'})"
    )
    run_kds(context, options, parent_pid=parent_pid)


def _key_json(info: MasterKeyInfo, current: int | None) -> dict[str, Any]:
    return {
        "timestamp": info.timestamp,
        "time": datetime.fromtimestamp(info.timestamp / 1000, UTC),
        "created_at": info.created_at,
        "created_by": info.created_by,
        "current": info.timestamp == current,
    }


def _node_json(node: NodeInfo) -> dict[str, Any]:
    return {
        "node_id": node.node_id,
        "host": node.host,
        "port": node.port,
        "address": node.address_text,
        "started_at": node.started_at,
        "heartbeat_at": node.heartbeat_at,
        "live": node.live,
        "publisher": node.publisher and node.live,
    }


@kds_app.command("status")
def status(ctx: typer.Context, json_flag: JsonFlag = False) -> None:
    """Show the master keys (timestamps only), the current key, the publisher and the nodes."""
    from certward.kds.masterkeys import current_timestamp, list_master_keys
    from certward.kds.nodes import list_nodes

    state = state_of(ctx)
    context = state.context()
    keys = list_master_keys(context)
    current = current_timestamp([info.timestamp for info in keys])
    nodes = list_nodes(context, heartbeat_seconds=context.settings.kds.heartbeat_seconds)
    publisher = next((node.node_id for node in nodes if node.live and node.publisher), None)
    result = {
        "master_keys": [_key_json(info, current) for info in keys],
        "current": current,
        "publisher": publisher,
        "nodes": [_node_json(node) for node in nodes],
    }
    if state.wants_json(json_flag):
        emit_json(result)
        return
    typer.echo(f"master keys: {len(keys)}; current: {current if current is not None else '-'}")
    for info in keys:
        mark = "*" if info.timestamp == current else " "
        when = datetime.fromtimestamp(info.timestamp / 1000, UTC)
        typer.echo(f" {mark} {info.timestamp}  {when:%Y-%m-%d %H:%M:%S} UTC  {info.created_by}")
    typer.echo(f"publisher: {publisher or '-'}")
    typer.echo(f"nodes: {sum(node.live for node in nodes)} live of {len(nodes)}")
    for node in nodes:
        flags = ("live" if node.live else "gone") + (", publisher" if node.publisher else "")
        typer.echo(f"   {node.node_id}  {node.address_text}:{node.port}  ({flags})")


@kds_app.command("publish-now")
def publish_now(ctx: typer.Context, json_flag: JsonFlag = False) -> None:
    """Add a new master key now (it becomes current when the next one is published)."""
    from certward.kds.masterkeys import current_timestamp, list_master_keys, publish_master_key

    state = state_of(ctx)
    context = state.context()
    principal = _principal()
    timestamp = publish_master_key(context, created_by=principal, audit_principal=principal)
    current = current_timestamp([info.timestamp for info in list_master_keys(context)])
    if state.wants_json(json_flag):
        emit_json({"timestamp": timestamp, "current": current})
    else:
        typer.echo(f"published master key {timestamp}; current key {current}")


@kds_app.command("export-master-keys")
def export_keys(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="file to write (0600): JSON, keys in clear")],
    json_flag: JsonFlag = False,
) -> None:
    """Write every master key to a file for backup or migration (audited)."""
    import json

    from certward.files import SECRET_FILE_MODE, write_atomic
    from certward.kds.masterkeys import export_master_keys

    state = state_of(ctx)
    check_output_file(out)
    data = export_master_keys(state.context(), principal=_principal())
    write_atomic(out, data, mode=SECRET_FILE_MODE)
    count = len(json.loads(data))
    if state.wants_json(json_flag):
        emit_json({"file": out, "count": count})
    else:
        typer.echo(f"wrote {count} master keys to {out} (mode 0600; keep it like the keystore)")


@kds_app.command("import-master-keys")
def import_keys(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help='JSON list of {"timestamp": ms, "key": base64}')],
    json_flag: JsonFlag = False,
) -> None:
    """Add master keys from an export or a Limax deployment (audited; all or nothing)."""
    from certward.errors import InvalidInput
    from certward.kds.masterkeys import import_master_keys

    state = state_of(ctx)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {file}: {exc.strerror}") from None
    report = import_master_keys(state.context(), data, principal=_principal())
    if state.wants_json(json_flag):
        emit_json({"added": list(report.added), "unchanged": list(report.unchanged)})
    else:
        typer.echo(
            f"imported {len(report.added)} master keys "
            f"({len(report.unchanged)} already present with the same bytes)"
        )
