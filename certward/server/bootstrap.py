"""First start of a service: CAs, the server certificate and the first admin identity.

Idempotent: what exists is kept. The server certificate is renewed when it
ends within 30 days or no longer covers the configured names. The admin's key
is written once, to ``<data dir>/admin/`` (0700, key files 0600); certward keeps
no copy it could hand out again.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import structlog
from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from certward.access.grants import Grant, Permission
from certward.access.principals import create_principal
from certward.ca.authority import ca_chain, create_ca
from certward.ca.context import CAContext
from certward.ca.factory import IssuedCertificate, certificate_key_record_id
from certward.ca.issue import issue_certificate
from certward.config import ServerSettings
from certward.crypto.formats import certificate_pem, chain_pem
from certward.crypto.keys import load_private_key, private_key_to_pkcs8
from certward.errors import CANotFound
from certward.files import PUBLIC_FILE_MODE, SECRET_FILE_MODE, ensure_private_dir, write_atomic
from certward.store.models import CertificateAuthorityRow, CertificateRow, MetaValue, PrincipalRow

__all__ = [
    "ADMIN_NAME",
    "AdminFiles",
    "ServerIdentity",
    "bootstrap_service",
    "load_server_identity",
]

_log = structlog.get_logger()
_SERVER_SERIAL_KEY = "server_certificate_serial"
_RENEW_BEFORE = timedelta(days=30)
ADMIN_NAME = "admin"


@dataclass(frozen=True)
class ServerIdentity:
    """The service's own certificate chain and key (PEM)."""

    serial: str
    chain_pem: bytes
    key_pem: bytes


@dataclass(frozen=True)
class AdminFiles:
    """Where the first admin identity was written."""

    directory: Path
    certificate: Path
    key: Path
    ca_certificate: Path
    pkcs12: Path
    pkcs12_password: Path


def _server_names(settings: ServerSettings) -> list[str]:
    names = ["DNS:localhost", "IP:127.0.0.1", "IP:::1"]
    for name in settings.names:
        try:
            entry = f"IP:{ipaddress.ip_address(name)}"
        except ValueError:
            entry = f"DNS:{name.lower()}"
        if entry not in names:
            names.append(entry)
    return names


def _ensure_cas(ctx: CAContext, settings: ServerSettings) -> None:
    for name, parent, subject in (
        (settings.root_ca, None, "/CN=certward Root CA/O=certward"),
        (settings.issuing_ca, settings.root_ca, "/CN=certward Issuing CA/O=certward"),
    ):
        try:
            ca_chain(ctx, name)
        except CANotFound:
            create_ca(ctx, name=name, subject=subject, parent=parent)


def _current_server_serial(ctx: CAContext) -> str | None:
    with ctx.database.read() as session:
        return session.scalar(select(MetaValue.value).where(MetaValue.key == _SERVER_SERIAL_KEY))


def _needs_new_server_certificate(ctx: CAContext, serial: str | None, names: list[str]) -> bool:
    if serial is None:
        return True
    with ctx.database.read() as session:
        row = session.scalar(select(CertificateRow).where(CertificateRow.serial == serial))
    if row is None or row.revoked_at is not None or row.key_sealed is None:
        return True
    if row.not_after - ctx.clock() < _RENEW_BEFORE:
        return True
    return sorted(row.sans.split()) != sorted(names)


def _ensure_server_certificate(ctx: CAContext, settings: ServerSettings) -> str:
    names = _server_names(settings)
    serial = _current_server_serial(ctx)
    if not _needs_new_server_certificate(ctx, serial, names):
        assert serial is not None
        return serial

    def remember(session: Session, issued: IssuedCertificate) -> None:
        # In the issuing transaction: the service never points at a certificate not stored.
        session.merge(MetaValue(key=_SERVER_SERIAL_KEY, value=issued.serial))

    issued = issue_certificate(
        ctx,
        ca_name=settings.issuing_ca,
        profile="server",
        common_name=names[0].split(":", 1)[1],
        sans=names,
        also=remember,
        store_key=True,
    )
    _log.info("server.certificate_issued", serial=issued.serial, names=names)
    return issued.serial


def load_server_identity(ctx: CAContext) -> ServerIdentity:
    """The server certificate chain and key the service presents."""
    serial = _current_server_serial(ctx)
    with ctx.database.read() as session:
        row = session.scalar(select(CertificateRow).where(CertificateRow.serial == serial))
        if row is None or row.key_sealed is None:
            raise CANotFound("the service has no server certificate yet; run certward serve once")
        issuer = session.get(CertificateAuthorityRow, row.ca_id)
        assert issuer is not None
        chain = ctx.chain_of(session, issuer)
    certificate = x509.load_der_x509_certificate(row.der)
    key = load_private_key(
        ctx.keystore.open(row.key_sealed, record_id=certificate_key_record_id(row.serial))
    )
    return ServerIdentity(
        serial=row.serial,
        chain_pem=chain_pem((certificate, *chain[:-1])),
        key_pem=private_key_to_pkcs8(key),
    )


def _ensure_admin(ctx: CAContext, settings: ServerSettings, data_dir: Path) -> AdminFiles | None:
    with ctx.database.read() as session:
        if session.scalar(select(PrincipalRow.id).where(PrincipalRow.name == ADMIN_NAME)):
            return None
    directory = ensure_private_dir(data_dir / "admin")
    bundle = create_principal(
        ctx,
        name=ADMIN_NAME,
        grants=[Grant(Permission.ADMIN)],
        ca_name=settings.issuing_ca,
        description="bootstrap administrator",
        created_by="bootstrap",
    )
    files = AdminFiles(
        directory=directory,
        certificate=directory / "admin.crt",
        key=directory / "admin.key",
        ca_certificate=directory / "ca.crt",
        pkcs12=directory / "admin.p12",
        pkcs12_password=directory / "admin.p12.pass",
    )
    root = ca_chain(ctx, settings.root_ca)[0]
    write_atomic(files.certificate, bundle.chain_pem, mode=PUBLIC_FILE_MODE)
    write_atomic(files.key, bundle.private_key_pem, mode=SECRET_FILE_MODE)
    write_atomic(files.ca_certificate, certificate_pem(root), mode=PUBLIC_FILE_MODE)
    write_atomic(files.pkcs12, bundle.pkcs12, mode=SECRET_FILE_MODE)
    write_atomic(
        files.pkcs12_password, bundle.pkcs12_password.encode() + b"\n", mode=SECRET_FILE_MODE
    )
    return files


def bootstrap_service(
    ctx: CAContext, settings: ServerSettings, data_dir: Path
) -> AdminFiles | None:
    """Make sure the CAs, the server certificate and the admin exist; return new admin files."""
    _ensure_cas(ctx, settings)
    _ensure_server_certificate(ctx, settings)
    return _ensure_admin(ctx, settings, data_dir)
