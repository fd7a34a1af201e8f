"""``certward kms``: keys with versions, sign/verify files, encrypt/decrypt, access points.

Every command works on the data dir, or on a server with ``--server``; ``--json``
gives the same document either way. A key is named by its id (``key-<uuid>``) or
an alias (``alias/<name>``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from certward.cli.kms_files import parse_context, read_input, refuse_existing, write_output
from certward.cli.kms_use_commands import (
    ForceFlag,
    JsonFlag,
    KeyArg,
    decrypt,
    encrypt,
    generate_data_key,
    random,
    sign_file,
    verify_file,
)
from certward.cli.state import emit_json, state_of
from certward.errors import Conflict, InvalidInput

if TYPE_CHECKING:
    from certward.access.audit import AuditEvent
    from certward.kms.keys import KeyInfo

__all__ = ["kms_app"]

kms_app = typer.Typer(
    help="Key management: keys, rotation, sign/verify, encrypt/decrypt, access points.",
    no_args_is_help=True,
)


def key_json(info: KeyInfo) -> dict[str, object]:
    """A key as ``--json`` prints it (the API's Key object without the request id)."""
    return {
        "key_id": info.key_id,
        "aliases": list(info.aliases),
        "spec": str(info.spec),
        "usage": str(info.usage),
        "origin": str(info.origin),
        "state": str(info.state),
        "description": info.description,
        "tags": dict(info.tags),
        "primary_version": info.primary_version,
        "versions": [{"version": v.version, "created_at": v.created_at} for v in info.versions],
        "min_decryption_version": info.min_decryption_version,
        "rotation_period_days": info.rotation_period_days,
        "next_rotation_at": info.next_rotation_at,
        "deletion_date": info.deletion_date,
        "created_at": info.created_at,
    }


def _print_key(info: KeyInfo) -> None:
    rows: list[tuple[str, object]] = [
        ("key id", info.key_id),
        ("aliases", ", ".join(info.aliases) or "-"),
        ("spec / usage", f"{info.spec} / {info.usage}"),
        ("origin", info.origin),
        ("state", info.state),
        ("primary version", info.primary_version or "-"),
        ("versions", ", ".join(f"{v.version} ({v.created_at:%Y-%m-%d})" for v in info.versions)),
        ("min decryption version", info.min_decryption_version or "-"),
        (
            "rotation",
            f"every {info.rotation_period_days} days" if info.rotation_period_days else "off",
        ),
        (
            "next rotation",
            f"{info.next_rotation_at:%Y-%m-%d %H:%M}Z" if info.next_rotation_at else "-",
        ),
        ("deletion date", f"{info.deletion_date:%Y-%m-%d %H:%M}Z" if info.deletion_date else "-"),
        ("description", info.description or "-"),
        ("tags", ", ".join(f"{k}={v}" for k, v in sorted(info.tags.items())) or "-"),
        ("created", f"{info.created_at:%Y-%m-%d %H:%M}Z"),
    ]
    for label, value in rows:
        typer.echo(f"{label + ':':<24}{value}")


def _parse_tags(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    tags = parse_context(pairs)
    assert tags is not None
    return tags


def _key_answer(ctx: typer.Context, info: KeyInfo, json_flag: bool, line: str) -> None:
    if state_of(ctx).wants_json(json_flag):
        emit_json(key_json(info))
    else:
        typer.echo(line)


# -- keys -------------------------------------------------------------------------------------


@kms_app.command("create-key")
def create_key(
    ctx: typer.Context,
    spec: Annotated[
        str,
        typer.Option(
            help="AES_256, RSA_2048/3072/4096, EC_P256/P384/SECP256K1, ED25519, HMAC_256/512"
        ),
    ],
    usage: Annotated[str, typer.Option(help="ENCRYPT_DECRYPT, SIGN_VERIFY or GENERATE_VERIFY_MAC")],
    alias: Annotated[str | None, typer.Option(help="alias/<name> for the new key")] = None,
    description: Annotated[str, typer.Option(help="what the key is for")] = "",
    tag: Annotated[list[str] | None, typer.Option(help="tag NAME=VALUE (repeat for more)")] = None,
    rotation_days: Annotated[
        int | None, typer.Option(help="rotate automatically every N days")
    ] = None,
    external: Annotated[
        bool, typer.Option("--external", help="material will be imported (bring your own key)")
    ] = False,
    json_flag: JsonFlag = False,
) -> None:
    """Create a key; print its id."""
    from certward.kms.specs import KeyOrigin, KeySpec, KeyUsage, check_usage, parse_choice

    parsed_spec = parse_choice(KeySpec, spec, what="key spec")
    parsed_usage = parse_choice(KeyUsage, usage, what="key usage")
    check_usage(parsed_spec, parsed_usage)
    info = (
        state_of(ctx)
        .backend()
        .kms_create_key(
            spec=parsed_spec,
            usage=parsed_usage,
            description=description,
            tags=_parse_tags(tag),
            alias=alias,
            rotation_period_days=rotation_days,
            origin=KeyOrigin.EXTERNAL if external else KeyOrigin.CERTWARD,
        )
    )
    _key_answer(ctx, info, json_flag, info.key_id)


@kms_app.command("list-keys")
def list_keys(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="page size (max 1000)")] = 100,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of the previous page")] = None,
    json_flag: JsonFlag = False,
) -> None:
    """List keys, newest first, a page at a time."""
    state = state_of(ctx)
    page = state.backend().kms_list_keys(limit=limit, cursor=cursor)
    if state.wants_json(json_flag):
        emit_json({"items": [key_json(i) for i in page.items], "next_cursor": page.next_cursor})
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("key id", "aliases", "spec", "usage", "state", "version", "created")
    for item in page.items:
        table.add_row(
            item.key_id,
            " ".join(item.aliases),
            str(item.spec),
            str(item.usage),
            str(item.state),
            str(item.primary_version or "-"),
            f"{item.created_at:%Y-%m-%d}",
        )
    console = Console(width=200)
    console.print(table)
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}")


@kms_app.command("describe-key")
def describe_key(ctx: typer.Context, key: KeyArg, json_flag: JsonFlag = False) -> None:
    """Show a key: state, versions, settings (never its material)."""
    state = state_of(ctx)
    info = state.backend().kms_describe_key(key)
    if state.wants_json(json_flag):
        emit_json(key_json(info))
    else:
        _print_key(info)


@kms_app.command("rotate")
def rotate(ctx: typer.Context, key: KeyArg, json_flag: JsonFlag = False) -> None:
    """Make a new primary version; older versions still verify and decrypt."""
    info = state_of(ctx).backend().kms_rotate_key(key)
    _key_answer(ctx, info, json_flag, f"{info.key_id}: primary version {info.primary_version}")


@kms_app.command("enable")
def enable(ctx: typer.Context, key: KeyArg, json_flag: JsonFlag = False) -> None:
    """Enable a disabled key."""
    info = state_of(ctx).backend().kms_enable_key(key)
    _key_answer(ctx, info, json_flag, f"{info.key_id}: {info.state}")


@kms_app.command("disable")
def disable(ctx: typer.Context, key: KeyArg, json_flag: JsonFlag = False) -> None:
    """Disable a key: every operation with it is refused until it is enabled."""
    info = state_of(ctx).backend().kms_disable_key(key)
    _key_answer(ctx, info, json_flag, f"{info.key_id}: {info.state}")


@kms_app.command("schedule-deletion")
def schedule_deletion(
    ctx: typer.Context,
    key: KeyArg,
    days: Annotated[int | None, typer.Option(help="pending window, 7-30 days")] = None,
    json_flag: JsonFlag = False,
) -> None:
    """Delete a key after 7-30 days (unusable meanwhile; cancel-deletion undoes it)."""
    info = state_of(ctx).backend().kms_schedule_key_deletion(key, pending_window_days=days)
    when = f"{info.deletion_date:%Y-%m-%d %H:%M}Z" if info.deletion_date else "?"
    _key_answer(ctx, info, json_flag, f"{info.key_id}: {info.state}, deleted on {when}")


@kms_app.command("cancel-deletion")
def cancel_deletion(ctx: typer.Context, key: KeyArg, json_flag: JsonFlag = False) -> None:
    """Cancel a scheduled deletion; the key comes back Disabled."""
    info = state_of(ctx).backend().kms_cancel_key_deletion(key)
    _key_answer(ctx, info, json_flag, f"{info.key_id}: {info.state}")


@kms_app.command("settings")
def settings(
    ctx: typer.Context,
    key: KeyArg,
    description: Annotated[str | None, typer.Option(help="new description")] = None,
    tag: Annotated[
        list[str] | None, typer.Option(help="tag NAME=VALUE; replaces all tags (repeat)")
    ] = None,
    rotation_days: Annotated[
        int | None, typer.Option(help="rotate automatically every N days (0: off)")
    ] = None,
    min_decryption_version: Annotated[
        int | None, typer.Option(help="retire the versions below this one")
    ] = None,
    json_flag: JsonFlag = False,
) -> None:
    """Change a key's description, tags, rotation period or min decryption version."""
    if (description, tag, rotation_days, min_decryption_version) == (None, None, None, None):
        raise InvalidInput(
            "give at least one of --description, --tag, --rotation-days, --min-decryption-version"
        )
    info = (
        state_of(ctx)
        .backend()
        .kms_update_key_settings(
            key,
            description=description,
            tags=_parse_tags(tag),
            rotation_period_days=rotation_days,
            min_decryption_version=min_decryption_version,
        )
    )
    _key_answer(ctx, info, json_flag, f"{info.key_id}: settings changed")


@kms_app.command("create-alias")
def create_alias(
    ctx: typer.Context,
    alias: Annotated[str, typer.Argument(help="alias/<name>")],
    key: KeyArg,
    json_flag: JsonFlag = False,
) -> None:
    """Point an alias at a key."""
    state = state_of(ctx)
    made = state.backend().kms_create_alias(alias, key)
    if state.wants_json(json_flag):
        emit_json({"alias": made.alias, "key_id": made.key_id})
    else:
        typer.echo(f"{made.alias} -> {made.key_id}")


@kms_app.command("delete-alias")
def delete_alias(
    ctx: typer.Context,
    alias: Annotated[str, typer.Argument(help="alias/<name>")],
    json_flag: JsonFlag = False,
) -> None:
    """Remove an alias (the key stays)."""
    state = state_of(ctx)
    gone = state.backend().kms_delete_alias(alias)
    if state.wants_json(json_flag):
        emit_json({"alias": gone.alias, "key_id": gone.key_id})
    else:
        typer.echo(f"deleted {gone.alias} (was {gone.key_id})")


def _event_json(event: AuditEvent) -> dict[str, object]:
    return {
        "time": event.time,
        "principal": event.principal,
        "action": event.action,
        "target": event.target,
        "result": event.result,
        "request_id": event.request_id,
        "details": event.details,
    }


@kms_app.command("audit")
def audit(
    ctx: typer.Context,
    key: KeyArg,
    limit: Annotated[int, typer.Option(help="page size (max 1000)")] = 100,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of the previous page")] = None,
    json_flag: JsonFlag = False,
) -> None:
    """Every use of a key (who, which version, what, result, request id), newest first."""
    state = state_of(ctx)
    page = state.backend().kms_key_usage(key, limit=limit, cursor=cursor)
    if state.wants_json(json_flag):
        emit_json({"items": [_event_json(e) for e in page.items], "next_cursor": page.next_cursor})
        return
    for event in page.items:
        version = event.details.get("key_version", "-")
        typer.echo(
            f"{event.time:%Y-%m-%d %H:%M:%S}Z  {event.principal or '-'}  {event.action}  "
            f"v{version}  {event.result}  {event.request_id or '-'}"
        )
    if page.next_cursor:
        typer.echo(f"more: --cursor {page.next_cursor}")


# -- public keys ------------------------------------------------------------------------------


@kms_app.command("get-public-key")
def get_public_key(
    ctx: typer.Context,
    key: KeyArg,
    version: Annotated[int | None, typer.Option(help="key version (default: primary)")] = None,
    out: Annotated[Path | None, typer.Option(help="write the PEM to this file")] = None,
    force: ForceFlag = False,
    json_flag: JsonFlag = False,
) -> None:
    """Print the public key (PEM) of an asymmetric key's version."""
    from certward.files import PUBLIC_FILE_MODE

    state = state_of(ctx)
    if out is not None:
        refuse_existing(out, force=force)
    public = state.backend().kms_get_public_key(key, version=version)
    if out is not None:
        write_output(out, public.public_key_pem, mode=PUBLIC_FILE_MODE)
    if state.wants_json(json_flag):
        emit_json(
            {
                "key_id": public.key_id,
                "key_version": public.key_version,
                "spec": str(public.spec),
                "public_key_pem": public.public_key_pem.decode("ascii"),
            }
        )
    elif out is None:
        typer.echo(public.public_key_pem.decode("ascii"), nl=False)


@kms_app.command("import-public-key")
def import_public_key(
    ctx: typer.Context,
    pem: Annotated[Path, typer.Argument(help="public key file (PEM)")],
    usage: Annotated[str, typer.Option(help="SIGN_VERIFY or ENCRYPT_DECRYPT")] = "SIGN_VERIFY",
    alias: Annotated[str | None, typer.Option(help="alias/<name> for the key")] = None,
    description: Annotated[str, typer.Option(help="what the key is for")] = "",
    json_flag: JsonFlag = False,
) -> None:
    """Make a verify-only (or encrypt-only) key of a public key; print its id."""
    from certward.kms.specs import KeyUsage, parse_choice

    parsed_usage = parse_choice(KeyUsage, usage, what="key usage")
    info = (
        state_of(ctx)
        .backend()
        .kms_import_public_key(
            read_input(pem, "public key"), usage=parsed_usage, alias=alias, description=description
        )
    )
    _key_answer(ctx, info, json_flag, info.key_id)


# -- access points -----------------------------------------------------------------------------


def _split(values: list[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@kms_app.command("create-access-point")
def create_access_point(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="access point (principal) name")],
    key: Annotated[list[str], typer.Option(help="key id or alias it may use (repeat for more)")],
    allow: Annotated[str, typer.Option(help="operations, e.g. sign,verify (or encrypt,decrypt,…)")],
    out: Annotated[Path, typer.Option(help="directory for clientKey_NAME.json/.password, ca.pem")],
    description: Annotated[str | None, typer.Option(help="what the application is")] = None,
    days: Annotated[int | None, typer.Option(help="validity of its certificate in days")] = None,
    force: ForceFlag = False,
    json_flag: JsonFlag = False,
) -> None:
    """Create an application access point: a principal limited to KEYs and operations."""
    from certward.client._kms_access import access_point_files, write_access_point
    from certward.files import ensure_private_dir
    from certward.kms.specs import KMS_OPERATIONS

    state = state_of(ctx)
    keys, operations = _split(key), _split([allow])
    unknown = [op for op in operations if op not in KMS_OPERATIONS]
    if unknown or not operations:
        raise InvalidInput(
            f"--allow {allow!r}: operations are {', '.join(KMS_OPERATIONS)} (comma-separated)"
        )
    if not keys:
        raise InvalidInput("give at least one --key")
    files = access_point_files(out, name)
    nearest = next(p for p in (out, *out.parents) if p.exists())
    if not nearest.is_dir():
        raise InvalidInput(f"--out {out} is not a directory")
    existing = [str(p) for p in files.all() if p.exists()]
    if existing and not force:
        raise Conflict(f"{', '.join(existing)} already exist; use --force to overwrite")
    if out.exists():
        ensure_private_dir(out)  # refuses a directory others can read, before anything is made
    made = state.backend().kms_create_access_point(
        name, keys=keys, operations=operations, description=description, days=days
    )
    written = write_access_point(
        out,
        name=made.principal.name,
        pkcs12=made.pkcs12,
        password=made.password,
        ca_pem=made.ca_pem,
    )
    if state.wants_json(json_flag):
        emit_json(
            {
                "name": made.principal.name,
                "keys": keys,
                "operations": operations,
                "certificate_serial": made.principal.certificate_serial,
                "client_key_file": str(written.client_key_file),
                "password_file": str(written.password_file),
                "ca_file": str(written.ca_file),
            }
        )
    else:
        allowed = ",".join(operations)
        typer.echo(f"access point {made.principal.name} may {allowed} with {', '.join(keys)}:")
        for path in written.all():
            typer.echo(f"  {path}")


# The commands that use keys on files live in kms_use_commands (one idea per module).
kms_app.command("sign-file")(sign_file)
kms_app.command("verify-file")(verify_file)
kms_app.command("encrypt")(encrypt)
kms_app.command("decrypt")(decrypt)
kms_app.command("generate-data-key")(generate_data_key)
kms_app.command("random")(random)
