"""``certward ca``: create, list and show certificate authorities."""

from __future__ import annotations

from typing import Annotated

import typer

from certward.cli.state import emit_json, state_of

__all__ = ["ca_app"]

ca_app = typer.Typer(help="Certificate authorities: create, list, show.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def _ca_json(info: object) -> dict[str, object]:
    from certward.ca.authority import CAInfo

    assert isinstance(info, CAInfo)
    return {
        "name": info.name,
        "parent": info.parent,
        "subject": info.subject,
        "key_type": info.key_type,
        "serial": info.serial,
        "not_before": info.not_before,
        "not_after": info.not_after,
        "path_length": info.path_length,
        "crl_number": info.crl_number,
        "certificate_pem": info.certificate_pem.decode(),
    }


@ca_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="CA name (letters, digits, . _ -)")],
    subject: Annotated[str, typer.Option(help='subject, e.g. "/CN=Example Root/O=Example"')],
    parent: Annotated[str | None, typer.Option(help="parent CA (omit for a root)")] = None,
    key_type: Annotated[
        str, typer.Option(help="ec-p256, ec-p384, rsa-2048/3072/4096, ed25519")
    ] = "ec-p256",
    days: Annotated[int | None, typer.Option(help="validity in days")] = None,
    path_len: Annotated[
        int | None, typer.Option("--path-len", help="max CAs below this one")
    ] = None,
    permit: Annotated[
        list[str] | None,
        typer.Option(help="name constraint: permitted subtree, e.g. DNS:example.com"),
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option(help="name constraint: excluded subtree")
    ] = None,
    json_flag: JsonFlag = False,
) -> None:
    """Create a root CA, or an intermediate CA with --parent."""
    from certward.crypto.keys import KeyType

    state = state_of(ctx)
    info = state.backend().create_ca(
        name=name,
        subject=subject,
        parent=parent,
        key_type=KeyType.parse(key_type),
        days=days,
        path_length=path_len,
        permitted=permit or (),
        excluded=exclude or (),
    )
    if state.wants_json(json_flag):
        emit_json(_ca_json(info))
    else:
        typer.echo(
            f"created CA {info.name}: {info.subject} (valid until {info.not_after:%Y-%m-%d})"
        )


@ca_app.command("list")
def list_(ctx: typer.Context, json_flag: JsonFlag = False) -> None:
    """List every CA."""
    state = state_of(ctx)
    cas = state.backend().list_cas()
    if state.wants_json(json_flag):
        emit_json([_ca_json(info) for info in cas])
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "parent", "subject", "key", "not after", "CRL #")
    for info in cas:
        table.add_row(
            info.name,
            info.parent or "-",
            info.subject,
            info.key_type,
            f"{info.not_after:%Y-%m-%d}",
            str(info.crl_number),
        )
    Console(width=160).print(table)


@ca_app.command("show")
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="CA name")],
    chain: Annotated[bool, typer.Option(help="print the CA and every CA above it")] = False,
    json_flag: JsonFlag = False,
) -> None:
    """Print the CA certificate as PEM (--json for details)."""
    from certward.crypto.formats import chain_pem

    state = state_of(ctx)
    info = state.backend().get_ca(name)
    if state.wants_json(json_flag):
        emit_json(_ca_json(info))
    elif chain:
        typer.echo(chain_pem(state.backend().ca_chain(name)).decode(), nl=False)
    else:
        typer.echo(info.certificate_pem.decode(), nl=False)
