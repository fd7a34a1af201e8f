"""``certward cert``: issue, sign a CSR, revoke, list and show certificates."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from certward.cli.state import check_output_file, emit_json, read_secret_file, state_of
from certward.errors import Conflict, InvalidInput

if TYPE_CHECKING:
    from certward.ca.factory import IssuedCertificate

__all__ = ["cert_app", "kds_names", "parse_duration"]

cert_app = typer.Typer(help="Certificates: issue, sign, revoke, list, show.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="machine-readable output")]

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks", "": "days"}


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``2w``, ``90m``, ``45s``; a bare number means days."""
    match = _DURATION.match(text.lower())
    if not match:
        raise InvalidInput(f"duration {text!r} is not like 30d, 12h, 2w")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _file_stem(common_name: str | None, serial: str) -> str:
    # A CN may hold '*', '/' or spaces; file names get a tame version of it.
    if not common_name:
        return serial
    return re.sub(r"[^A-Za-z0-9._-]", "_", common_name).lstrip(".") or serial


def kds_names(
    *,
    profile: str,
    common_name: str | None,
    sans: list[str],
    kds_name: str | None,
    groups: list[str],
) -> tuple[str, list[str]]:
    """The CN and SANs of a request, with ``--kds-name`` and ``--group`` folded in.

    ``kds-server``: the KDSName is the subject CN (and a SAN DNS name, so that ordinary
    TLS clients can verify the node by that name too). ``kds-client``: the KDSName is
    the SAN DNS name and each group a SAN URI. The profile itself checks the result, also
    for requests that arrive over the API with the SANs spelled out.
    """
    if profile not in ("kds-server", "kds-client") and (kds_name or groups):
        raise InvalidInput("--kds-name and --group go with --profile kds-server or kds-client")
    if profile == "kds-server":
        if groups:
            raise InvalidInput("--group goes with --profile kds-client, not kds-server")
        if kds_name:
            if common_name and common_name.lower() != kds_name.lower():
                raise InvalidInput(
                    f"--cn {common_name!r} differs from --kds-name {kds_name!r}; "
                    "the CN of a kds-server certificate is its KDSName"
                )
            common_name = kds_name
            sans = [*sans, f"DNS:{kds_name}"]
    elif profile == "kds-client":
        sans = [*sans, *([f"DNS:{kds_name}"] if kds_name else []), *(f"URI:{g}" for g in groups)]
    if not common_name:
        raise InvalidInput("--cn is required (a kds-server certificate takes it from --kds-name)")
    return common_name, sans


def _issued_json(issued: IssuedCertificate, paths: dict[str, Path]) -> dict[str, object]:
    from certward.crypto.names import san_strings

    return {
        "serial": issued.serial,
        "ca": issued.ca_name,
        "profile": issued.profile,
        "subject": issued.certificate.subject.rfc4514_string(),
        "sans": san_strings(issued.sans),
        "not_before": issued.not_before,
        "not_after": issued.not_after,
        "paths": {kind: str(path) for kind, path in paths.items()},
    }


@cert_app.command("issue")
def issue(
    ctx: typer.Context,
    ca: Annotated[str, typer.Option("--ca", help="issuing CA")],
    profile: Annotated[
        str, typer.Option(help="server, client, kds-server, kds-client or a configured profile")
    ],
    out: Annotated[Path, typer.Option(help="directory for CN.crt, CN.chain.pem, CN.key")],
    cn: Annotated[
        str | None, typer.Option("--cn", help="subject common name (kds-server: from --kds-name)")
    ] = None,
    san: Annotated[list[str] | None, typer.Option(help="DNS:x, IP:1.2.3.4, URI:u, email:e")] = None,
    kds_name: Annotated[
        str | None,
        typer.Option(
            "--kds-name",
            help="KDSName of a kds-server (its CN) or kds-client (its SAN DNS) certificate",
        ),
    ] = None,
    group: Annotated[
        list[str] | None,
        typer.Option(
            "--group", help="kds-client group URI with optional precision, e.g. 'urn:prjA#10s'"
        ),
    ] = None,
    key_type: Annotated[str, typer.Option(help="key type")] = "ec-p256",
    days: Annotated[int | None, typer.Option(help="validity in days")] = None,
    key_password_file: Annotated[
        Path | None, typer.Option(help="encrypt CN.key (and CN.p12) with the password in this file")
    ] = None,
    pkcs12: Annotated[bool, typer.Option("--pkcs12", help="also write CN.p12")] = False,
    force: Annotated[bool, typer.Option(help="overwrite existing files")] = False,
    json_flag: JsonFlag = False,
) -> None:
    """Issue a certificate with a key generated here (or by --server); write its files."""
    from certward.crypto.formats import certificate_pem, chain_pem, export_pkcs12
    from certward.crypto.keys import MAX_PASSWORD_LENGTH, KeyType, private_key_to_pkcs8
    from certward.errors import PasswordError
    from certward.files import PUBLIC_FILE_MODE, SECRET_FILE_MODE, write_atomic

    state = state_of(ctx)
    cn, sans = kds_names(
        profile=profile, common_name=cn, sans=san or [], kds_name=kds_name, groups=group or []
    )
    password = read_secret_file(key_password_file) if key_password_file else None
    # Refuse what would fail after issuance: the certificate would be stored, its files not.
    if password is not None and len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordError(f"password is longer than {MAX_PASSWORD_LENGTH} characters")
    parsed_key_type = KeyType.parse(key_type)
    stem = _file_stem(cn, "certificate")
    paths = {
        "certificate": out / f"{stem}.crt",
        "chain": out / f"{stem}.chain.pem",
        "key": out / f"{stem}.key",
    }
    if pkcs12:
        paths["pkcs12"] = out / f"{stem}.p12"
    nearest = next(p for p in (out, *out.parents) if p.exists())
    if not nearest.is_dir():
        raise InvalidInput(f"--out {out} is not a directory")
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not force:
        raise Conflict(f"{', '.join(existing)} already exist; use --force to overwrite")
    issued = state.backend().issue_certificate(
        ca=ca,
        profile=profile,
        common_name=cn,
        sans=sans,
        key_type=parsed_key_type,
        days=days,
    )
    assert issued.private_key is not None
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(paths["certificate"], certificate_pem(issued.certificate), mode=PUBLIC_FILE_MODE)
    write_atomic(paths["chain"], chain_pem(issued.full_chain), mode=PUBLIC_FILE_MODE)
    write_atomic(
        paths["key"],
        private_key_to_pkcs8(issued.private_key, password=password),
        mode=SECRET_FILE_MODE,
    )
    if pkcs12:
        write_atomic(
            paths["pkcs12"],
            export_pkcs12(
                name=cn,
                key=issued.private_key,
                certificate=issued.certificate,
                chain=issued.chain,
                password=password,
            ),
            mode=SECRET_FILE_MODE,
        )
    if state.wants_json(json_flag):
        emit_json(_issued_json(issued, paths))
    else:
        typer.echo(
            f"issued {issued.serial} for {cn}, valid until {issued.not_after:%Y-%m-%d %H:%M}Z"
        )
        for kind, path in paths.items():
            typer.echo(f"  {kind}: {path}")


@cert_app.command("sign")
def sign(
    ctx: typer.Context,
    ca: Annotated[str, typer.Option("--ca", help="issuing CA")],
    profile: Annotated[
        str, typer.Option(help="server, client, kds-server, kds-client or a configured profile")
    ],
    csr: Annotated[Path, typer.Option(help="PKCS#10 CSR file (PEM or DER)")],
    out: Annotated[Path, typer.Option(help="file for the certificate (PEM)")],
    days: Annotated[int | None, typer.Option(help="validity in days")] = None,
    chain: Annotated[bool, typer.Option(help="write the CA chain after the certificate")] = False,
    force: Annotated[bool, typer.Option(help="overwrite an existing --out file")] = False,
    json_flag: JsonFlag = False,
) -> None:
    """Issue a certificate for a CSR (its signature is checked first)."""
    from certward.crypto.formats import certificate_pem, chain_pem
    from certward.files import PUBLIC_FILE_MODE, write_atomic

    state = state_of(ctx)
    check_output_file(out)
    if out.exists() and not force:
        raise Conflict(f"{out} already exists; use --force to overwrite")
    try:
        csr_data = csr.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read CSR {csr}: {exc.strerror}") from None
    issued = state.backend().sign_csr(ca=ca, profile=profile, csr_data=csr_data, days=days)
    data = chain_pem(issued.full_chain) if chain else certificate_pem(issued.certificate)
    write_atomic(out, data, mode=PUBLIC_FILE_MODE)
    if state.wants_json(json_flag):
        emit_json(_issued_json(issued, {"certificate": out}))
    else:
        typer.echo(f"issued {issued.serial}, valid until {issued.not_after:%Y-%m-%d %H:%M}Z: {out}")


@cert_app.command("revoke")
def revoke(
    ctx: typer.Context,
    serial: Annotated[str, typer.Argument(help="serial number (hex)")],
    reason: Annotated[
        str | None, typer.Option(help="keyCompromise, superseded, cessationOfOperation, …")
    ] = None,
    json_flag: JsonFlag = False,
) -> None:
    """Revoke a certificate; its CA's next CRL lists it (--server publishes that CRL at once)."""
    state = state_of(ctx)
    result = state.backend().revoke_certificate(serial, reason=reason)
    if state.wants_json(json_flag):
        emit_json(
            {
                "serial": result.serial,
                "ca_name": result.ca_name,
                "revoked_at": result.revoked_at,
                "reason": result.reason,
            }
        )
    else:
        typer.echo(f"revoked {result.serial} ({result.reason or 'no reason given'})")


def _summary_json(item: Any) -> dict[str, object]:
    return {
        "serial": item.serial,
        "ca": item.ca_name,
        "profile": item.profile,
        "subject": item.subject,
        "common_name": item.common_name,
        "sans": list(item.sans),
        "not_before": item.not_before,
        "not_after": item.not_after,
        "status": item.status.value,
        "revoked_at": item.revoked_at,
        "revocation_reason": item.revocation_reason,
        "is_ca": item.is_ca,
    }


@cert_app.command("list")
def list_(
    ctx: typer.Context,
    ca: Annotated[str | None, typer.Option("--ca", help="only certificates of this CA")] = None,
    status: Annotated[str | None, typer.Option(help="valid, revoked or expired")] = None,
    expiring_within: Annotated[
        str | None, typer.Option(help="valid ones ending within e.g. 30d")
    ] = None,
    search: Annotated[str | None, typer.Option(help="text in subject or SANs, or a serial")] = None,
    limit: Annotated[int, typer.Option(help="page size (max 1000)")] = 100,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of the previous page")] = None,
    json_flag: JsonFlag = False,
) -> None:
    """List certificates, newest first, a page at a time."""
    from certward.ca.inventory import CertificateStatus

    state = state_of(ctx)
    try:
        parsed_status = CertificateStatus(status) if status else None
    except ValueError:
        raise InvalidInput(f"status {status!r} is not valid, revoked or expired") from None
    page = state.backend().list_certificates(
        ca=ca,
        status=parsed_status,
        expiring_within=parse_duration(expiring_within) if expiring_within else None,
        search=search,
        limit=limit,
        cursor=cursor,
    )
    if state.wants_json(json_flag):
        emit_json(
            {"items": [_summary_json(i) for i in page.items], "next_cursor": page.next_cursor}
        )
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("serial", "CA", "subject", "SANs", "not after", "status")
    for item in page.items:
        table.add_row(
            item.serial,
            item.ca_name,
            item.subject,
            " ".join(item.sans),
            f"{item.not_after:%Y-%m-%d}",
            item.status.value,
        )
    console = Console(width=200)
    console.print(table)
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}")


@cert_app.command("show")
def show(
    ctx: typer.Context,
    serial: Annotated[str, typer.Argument(help="serial number (hex)")],
    json_flag: JsonFlag = False,
) -> None:
    """Print a certificate as PEM (--json for details)."""
    from certward.crypto.formats import certificate_pem

    state = state_of(ctx)
    item = state.backend().get_certificate(serial)
    if state.wants_json(json_flag):
        data = _summary_json(item)
        data["certificate_pem"] = certificate_pem(item.certificate).decode()
        emit_json(data)
    else:
        typer.echo(certificate_pem(item.certificate).decode(), nl=False)
