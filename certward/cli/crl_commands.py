"""``certward crl`` and ``certward hashdir``: publish CRLs, keep an openssl hash dir in step."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from certward.cli.state import check_output_file, emit_json, state_of

__all__ = ["crl_app", "hashdir_app"]

crl_app = typer.Typer(help="Certificate revocation lists.", no_args_is_help=True)
hashdir_app = typer.Typer(
    help="openssl-style hash directories (hash.N, hash.rN).", no_args_is_help=True
)

JsonFlag = Annotated[bool, typer.Option("--json", help="machine-readable output")]


@crl_app.command("publish")
def publish(
    ctx: typer.Context,
    ca: Annotated[str, typer.Option("--ca", help="the CA whose CRL to issue")],
    out: Annotated[Path | None, typer.Option(help="also write the CRL to this file")] = None,
    days: Annotated[int | None, typer.Option(help="validity of the CRL in days")] = None,
    der: Annotated[bool, typer.Option("--der", help="write --out as DER instead of PEM")] = False,
    json_flag: JsonFlag = False,
) -> None:
    """Issue the next CRL of a CA (and write it to --out)."""
    from certward.files import PUBLIC_FILE_MODE, write_atomic

    state = state_of(ctx)
    if out is not None:
        check_output_file(out)
    crl = state.backend().publish_crl(ca, days=days)
    if out is not None:
        write_atomic(out, crl.der if der else crl.pem, mode=PUBLIC_FILE_MODE)
    result = {
        "ca": crl.ca_name,
        "crl_number": crl.number,
        "this_update": crl.this_update,
        "next_update": crl.next_update,
        "entries": crl.entries,
        "path": str(out) if out else None,
    }
    if state.wants_json(json_flag):
        emit_json(result)
    else:
        typer.echo(
            f"CRL #{crl.number} of {crl.ca_name}: {crl.entries} revoked, "
            f"next update {crl.next_update:%Y-%m-%d %H:%M}Z"
            + (f", written to {out}" if out else "")
        )


@hashdir_app.command("sync")
def sync(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="the hash directory")],
    ca: Annotated[list[str], typer.Option("--ca", help="CA to include (repeat for several)")],
    crl: Annotated[bool, typer.Option("--crl", help="also write each CA's newest CRL")] = False,
    json_flag: JsonFlag = False,
) -> None:
    """Write CA certificates (and CRLs) as hash.N / hash.rN files, named as openssl rehash does.

    With --server they come from the server's public routes (no client certificate needed).
    """
    from certward.ca.hashdir import sync_hash_directory

    state = state_of(ctx)
    backend = state.backend()
    certificates = [backend.ca_chain(name)[0] for name in ca]
    crls = [backend.latest_crl(name) for name in ca] if crl else []
    report = sync_hash_directory(directory, certificates=certificates, crls=crls)
    if state.wants_json(json_flag):
        emit_json({"directory": str(directory), "entries": [e.__dict__ for e in report.entries]})
    else:
        for entry in report.entries:
            typer.echo(f"{entry.action:9} {directory / entry.file_name} ({entry.kind})")


@crl_app.command("install")
def install(
    ctx: typer.Context,
    crl_file: Annotated[Path, typer.Argument(help="CRL file (PEM or DER)")],
    slot: Annotated[str, typer.Option("--slot", help="a crl_enabled slot, e.g. authority/peers")],
    json_flag: JsonFlag = False,
) -> None:
    """Swap a CRL into a slot's hash directory while its service runs (= ``slot install-crl``)."""
    from certward.cli.slot_commands import install_crl

    install_crl(ctx, slot, crl_file, json_flag=json_flag)
