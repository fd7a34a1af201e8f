"""``certward keystore``: the master key files and their rotation."""

from __future__ import annotations

from typing import Annotated

import typer

from certward.cli.state import emit_json, state_of

__all__ = ["keystore_app"]

keystore_app = typer.Typer(
    help="Master keys (keys/kmc.ks + keys/StandbyKsf.ks).", no_args_is_help=True
)

JsonFlag = Annotated[bool, typer.Option("--json", help="machine-readable output")]


@keystore_app.command("status")
def status(ctx: typer.Context, json_flag: JsonFlag = False) -> None:
    """Show the master key ids and the fingerprint of the primary one (never the keys)."""
    state = state_of(ctx)
    keystore = state.context().keystore
    result = {
        "keys_dir": str(keystore.keys_dir),
        "primary_key_id": keystore.primary_key_id,
        "key_ids": list(keystore.key_ids),
        "fingerprint": keystore.fingerprint,
    }
    if state.wants_json(json_flag):
        emit_json(result)
    else:
        typer.echo(
            f"{result['keys_dir']}: primary key {result['primary_key_id']} "
            f"(fingerprint {result['fingerprint']}), keys {result['key_ids']}"
        )


@keystore_app.command("rotate")
def rotate(ctx: typer.Context, json_flag: JsonFlag = False) -> None:
    """Make a new master key, re-wrap every stored secret under it, retire the old keys."""
    from certward.rekey import rotate_master_key

    state = state_of(ctx)
    report = rotate_master_key(state.context())
    if state.wants_json(json_flag):
        emit_json(report)
    else:
        typer.echo(
            f"master key {report.new_key_id} is primary (fingerprint {report.fingerprint}); "
            f"{report.rewrapped} secrets re-wrapped; retired keys {list(report.retired_key_ids)}"
        )
