"""``certward slot``: certificate slots of services — list, show, add, install, replace, delete.

Local mode calls the services on the data dir (audited as ``local:<user>``);
with ``--server`` the same commands go to ``/v1/slots`` (see ``slot_backend``).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Any

import typer

from certward.cli.slot_backend import Document, SlotBackend, read_file
from certward.cli.state import emit_json, read_secret_file, state_of

__all__ = ["slot_app"]

slot_app = typer.Typer(
    help="Certificate slots of services: list, show, add, install, replace, delete, CRLs.",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="machine-readable output")]
SlotName = Annotated[str, typer.Argument(help="slot name, e.g. server/https")]
PemFile = Annotated[Path, typer.Argument(help="PEM file: certificate, then chain (and key)")]
KeyOption = Annotated[
    Path | None, typer.Option("--key", help="private key (PEM) if not in the certificate file")
]
PasswordFile = Annotated[
    Path | None, typer.Option("--password-file", help="file holding the key's password")
]


def _upload(certificate: Path, key: Path | None, password_file: Path | None) -> Document:
    document: Document = {"certificate_pem": read_file(certificate, "certificate file").decode()}
    if key is not None:
        document["key_pem"] = read_file(key, "key file").decode()
    if password_file is not None:
        document["password"] = read_secret_file(password_file).decode()
    return document


def _when(value: Any) -> str:
    return str(value)[:10]


def _echo_certificate(document: Document, verb: str) -> None:
    typer.echo(
        f"{verb} {document['id']} in {document['slot']}: {document['subject']} "
        f"(valid until {_when(document['not_after'])})"
    )


@slot_app.command("list")
def list_(ctx: typer.Context, json_flag: JsonFlag = False) -> None:
    """List every slot."""
    state = state_of(ctx)
    slots = SlotBackend(state).all()
    if state.wants_json(json_flag):
        emit_json(slots)
        return
    for slot in slots:
        typer.echo(f"{slot['name']}\t{slot['directory']}\treload: {slot['reload']['kind']}")


@slot_app.command("show")
def show(ctx: typer.Context, name: SlotName, json_flag: JsonFlag = False) -> None:
    """Show a slot and its certificates."""
    state = state_of(ctx)
    slot = SlotBackend(state).show(name)
    if state.wants_json(json_flag):
        emit_json(slot)
        return
    typer.echo(f"{slot['name']} ({slot['kind']}) in {slot['directory']}")
    for certificate in slot["certificates"]:
        typer.echo(
            f"  {certificate['id']}  {certificate['subject']}  "
            f"until {_when(certificate['not_after'])}"
        )


@slot_app.command("add")
def add(
    ctx: typer.Context,
    name: SlotName,
    directory: Annotated[Path, typer.Option(help="where the slot's files go")],
    cert_file: Annotated[str, typer.Option(help="server/client: certificate file name")] = (
        "cert.pem"
    ),
    key_file: Annotated[str, typer.Option(help="server/client: key file name")] = "key.pem",
    owner: Annotated[str | None, typer.Option(help="user[:group] of the files")] = None,
    key_type: Annotated[
        list[str] | None, typer.Option("--key-type", help="RSA and/or EC (default: both)")
    ] = None,
    max_certificates: Annotated[int, typer.Option(help="authority slots")] = 10,
    hash_dir: Annotated[
        bool, typer.Option("--hash-dir", help="authority: lay out as an OpenSSL CApath")
    ] = False,
    crl: Annotated[bool, typer.Option("--crl", help="accept CRLs (needs --hash-dir)")] = False,
    host_name: Annotated[str | None, typer.Option(help="CN of the self-signed fallback")] = None,
    truststore: Annotated[
        str | None, typer.Option(help="authority slot uploads must chain to")
    ] = None,
    reload_command: Annotated[
        str | None, typer.Option(help="command run after each change (split like a shell)")
    ] = None,
    pid_file: Annotated[Path | None, typer.Option(help="signal the pid in this file")] = None,
    signal: Annotated[str, typer.Option(help="the signal for --pid-file")] = "SIGHUP",
    webhook: Annotated[str | None, typer.Option(help="POST a notice to this URL")] = None,
    timeout: Annotated[float, typer.Option(help="reload timeout in seconds")] = 30.0,
    json_flag: JsonFlag = False,
) -> None:
    """Create a slot (stored in the database; slots of certward.toml need no add)."""
    state = state_of(ctx)
    settings: Document = {
        "directory": str(directory.resolve()),
        "cert_file": cert_file,
        "key_file": key_file,
        "owner": owner,
        "key_types": key_type or ["RSA", "EC"],
        "max_certificates": max_certificates,
        "lookup_hash_directory": hash_dir,
        "crl_enabled": crl,
        "host_name": host_name,
        "truststore": truststore,
        "reload": {
            "command": shlex.split(reload_command) if reload_command else None,
            "pid_file": str(pid_file.resolve()) if pid_file else None,
            "signal": signal,
            "url": webhook,
            "timeout_seconds": timeout,
        },
    }
    slot = SlotBackend(state).add(name, settings)
    if state.wants_json(json_flag):
        emit_json(slot)
    else:
        typer.echo(f"created slot {slot['name']} in {slot['directory']}")


@slot_app.command("remove")
def remove(ctx: typer.Context, name: SlotName) -> None:
    """Remove a slot made with `slot add` (its files stay on disk; the service keeps them)."""
    SlotBackend(state_of(ctx)).remove(name)
    typer.echo(f"removed slot {name}; its files were left in place")


@slot_app.command("install")
def install(
    ctx: typer.Context,
    name: SlotName,
    certificate: PemFile,
    key: KeyOption = None,
    password_file: PasswordFile = None,
    json_flag: JsonFlag = False,
) -> None:
    """Install a certificate (and key) into a slot, then reload its service."""
    state = state_of(ctx)
    installed = SlotBackend(state).install(name, _upload(certificate, key, password_file))
    if state.wants_json(json_flag):
        emit_json(installed)
    else:
        _echo_certificate(installed, "installed")


@slot_app.command("replace")
def replace(
    ctx: typer.Context,
    name: SlotName,
    cert_id: Annotated[str, typer.Argument(help="id of the certificate to replace")],
    certificate: PemFile,
    key: KeyOption = None,
    password_file: PasswordFile = None,
    json_flag: JsonFlag = False,
) -> None:
    """Replace a certificate of a slot, then reload its service."""
    state = state_of(ctx)
    replaced = SlotBackend(state).replace(name, cert_id, _upload(certificate, key, password_file))
    if state.wants_json(json_flag):
        emit_json(replaced)
    else:
        _echo_certificate(replaced, "replaced with")


@slot_app.command("delete")
def delete(
    ctx: typer.Context,
    name: SlotName,
    cert_id: Annotated[str, typer.Argument(help="id of the certificate to delete")],
    json_flag: JsonFlag = False,
) -> None:
    """Delete a certificate (a server slot gets a self-signed one), then reload."""
    state = state_of(ctx)
    result = SlotBackend(state).delete(name, cert_id)
    if state.wants_json(json_flag):
        emit_json(result)
        return
    typer.echo(f"deleted {result['deleted']} from {name}")
    if result["replacement"] is not None:
        _echo_certificate(result["replacement"], "installed self-signed")


@slot_app.command("install-crl")
def install_crl(
    ctx: typer.Context,
    name: SlotName,
    crl_file: Annotated[Path, typer.Argument(help="CRL file (PEM or DER)")],
    json_flag: JsonFlag = False,
) -> None:
    """Add a CRL to a crl_enabled slot's hash directory (next hash.rN), then reload."""
    state = state_of(ctx)
    crl = SlotBackend(state).install_crl(name, read_file(crl_file, "CRL file"))
    if state.wants_json(json_flag):
        emit_json(crl)
    else:
        typer.echo(f"installed CRL {crl['file_name']} in {name} (number {crl['crl_number']})")
