"""``certward import`` (certImport, seed 000) and ``certward keystore decrypt``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from certward.cli.state import emit_json, read_secret_file, state_of
from certward.errors import InvalidInput, PasswordError

__all__ = ["import_certificates_command", "keystore_decrypt"]

JsonFlag = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def _read_password(password_file: Path | None, key: Path) -> str | None:
    """The key password: from the file (``-`` = stdin), piped stdin, or a prompt."""
    from certward.certs.certimport import key_file_needs_password

    if password_file is not None:
        if str(password_file) == "-":
            data = sys.stdin.buffer.readline().rstrip(b"\r\n")
        else:
            data = read_secret_file(password_file)
    elif not key_file_needs_password(key):
        return None
    elif not sys.stdin.isatty():
        data = sys.stdin.buffer.readline().rstrip(b"\r\n")
    else:
        text: str = typer.prompt("password of the server key", hide_input=True)
        return text
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise PasswordError("the key password is not UTF-8 text") from None


def import_certificates_command(
    ctx: typer.Context,
    ca: Annotated[
        Path | None, typer.Option("--ca", "-c", help="CA certificate that signed the server's")
    ] = None,
    cert: Annotated[
        Path | None, typer.Option("--cert", "-s", help="server certificate (PEM, + chain)")
    ] = None,
    key: Annotated[Path | None, typer.Option("--key", "-k", help="its private key")] = None,
    crl: Annotated[Path | None, typer.Option("--crl", "-r", help="the CA's CRL")] = None,
    target: Annotated[
        Path,
        typer.Option("--target", "--keys-dir", help="directory to import into (0700)"),
    ] = Path("keys"),
    config: Annotated[
        Path | None,
        typer.Option(help="key=value config file to write the paths and server_key_mm into"),
    ] = None,
    password_file: Annotated[
        Path | None,
        typer.Option(help="file holding the key password ('-' = stdin); else stdin or a prompt"),
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="move files already imported to a backup first")
    ] = False,
    allow_ec: Annotated[
        bool, typer.Option("--allow-ec", help="accept EC keys (certImport takes RSA only)")
    ] = False,
    crl_only: Annotated[
        bool,
        typer.Option("--crl-only", help="only replace the CRL of an earlier import (with --crl)"),
    ] = False,
    json_flag: JsonFlag = False,
) -> None:
    """Check and import a server certificate, key and CRL into a keys directory, all or nothing.

    Replaces certImport.sh: the key is re-encrypted and its password sealed with the
    master keys (kmc.ks + StandbyKsf.ks) into server_key_mm in the config file.
    """
    state = state_of(ctx)
    if crl_only:
        _update_crl(state.wants_json(json_flag), crl=crl, target=target, config=config)
        return
    missing = [
        flag for flag, value in (("--ca", ca), ("--cert", cert), ("--key", key)) if not value
    ]
    if missing:
        raise InvalidInput(f"certward import needs {', '.join(missing)}")
    assert ca is not None and cert is not None and key is not None
    from certward.certs.certimport import ImportRequest, import_certificates

    result = import_certificates(
        ImportRequest(
            ca=ca,
            certificate=cert,
            key=key,
            crl=crl,
            target=target,
            config=config,
            password=_read_password(password_file, key),
            replace=replace,
            allow_ec=allow_ec,
        )
    )
    if state.wants_json(json_flag):
        emit_json(
            {
                "target": result.target,
                "files": list(result.files),
                "master_keys_created": result.master_keys_created,
                "config": result.config,
                "config_values": result.config_values,
                "backup": result.backup,
                "key_type": result.key_type,
                "subject": result.subject,
                "not_after": result.not_after,
                "user": result.operator,
            }
        )
        return
    typer.echo(f"imported {result.subject} ({result.key_type}) into {result.target}/")
    typer.echo(f"  files: {', '.join(result.files)}")
    if result.master_keys_created:
        typer.echo("  new master keys: kmc.ks, StandbyKsf.ks")
    if result.backup is not None:
        typer.echo(f"  previous files moved to {result.backup}/")
    if result.config is not None:
        typer.echo(f"  {result.config}: {', '.join(result.config_values)} written")
    else:
        typer.echo("  no --config given; set these in the service's config:")
        for name, value in result.config_values.items():
            typer.echo(f"{name}={value}")


def _update_crl(as_json: bool, *, crl: Path | None, target: Path, config: Path | None) -> None:
    if crl is None:
        raise InvalidInput("--crl-only needs --crl FILE")
    from certward.certs.certimport import update_crl

    result = update_crl(crl, target=target, config=config)
    if as_json:
        emit_json(result)
        return
    number = "no number" if result.crl_number is None else f"number {result.crl_number}"
    typer.echo(
        f"CRL replaced: {result.crl} ({number}, {result.revoked_count} revoked, next update "
        f"{result.next_update.isoformat() if result.next_update else 'none'})"
    )


def keystore_decrypt(
    keys_dir: Annotated[
        Path, typer.Option("--keys-dir", help="directory holding kmc.ks and StandbyKsf.ks")
    ] = Path("keys"),
    value: Annotated[
        str | None, typer.Option("--value", help="the server_key_mm value of the config file")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="read server_key_mm from this config file instead")
    ] = None,
) -> None:
    """Print the password that server_key_mm seals (for a service that needs it in clear)."""
    from certward.certs.certimport_config import read_config_values
    from certward.certs.certimport_files import read_owned_file
    from certward.certs.certimport_secrets import recover_key_password

    if (value is None) == (config is None):
        raise InvalidInput("give exactly one of --value and --config")
    if config is not None:
        value = read_config_values(read_owned_file(config, what="the config file")).get(
            "server_key_mm"
        )
        if not value:
            raise InvalidInput(f"{config} has no server_key_mm")
    assert value is not None
    password = recover_key_password(keys_dir, value)
    sys.stdout.buffer.write(password + b"\n")
