"""The service side of ``certward import``: load the imported identity, serve TLS with it.

A service reads its config file (``streamserver.conf``), gets the key password
back from ``server_key_mm`` with the master keys of the keys directory, and
builds an ``ssl.SSLContext``::

    identity = load_imported_identity(Path("streamserver.conf"))
    trust = LiveTrust(lambda: server_context(identity, crl_enabled=True),
                      watched=identity.trust_files())
    listener = trust.base.wrap_socket(socket.create_server(("", 8443)), server_side=True)

Peers may be trusted through an OpenSSL hash directory instead (seed 004:
``lookup_hash_directory`` + ``crl_enabled``): ``server_context(identity,
peers_hash_dir=dir, crl_enabled=True)``.

OpenSSL caches the CRLs a context has loaded: a CRL replaced under the same name
(the seed's "delete, then copy the new file") is not seen by a running context.
Its hash-dir lookup does load a *new* ``hash.rN`` while running, and then uses
the CRL with the latest thisUpdate (a tie keeps the one loaded first).
:class:`LiveTrust` checks the watched files on every handshake (one ``stat``
each) and, when they changed, builds a fresh context and moves the connection
onto it from the SNI callback, which OpenSSL runs on every ClientHello. So the
next handshake after a CRL swap uses the new CRL, without a restart.
"""

from __future__ import annotations

import os
import ssl
import stat
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from certward.certs.certimport_config import read_config_values
from certward.certs.certimport_files import read_owned_file
from certward.certs.certimport_secrets import recover_key_password
from certward.crypto.keys import SigningKey, load_private_key
from certward.errors import ConfigError

__all__ = ["ImportedIdentity", "LiveTrust", "load_imported_identity", "server_context"]

_log = structlog.get_logger()


@dataclass(frozen=True)
class ImportedIdentity:
    """The files an import wrote, as a service finds them through its config file."""

    ca: Path
    certificate: Path
    key: Path
    crl: Path | None
    key_password: bytes = field(repr=False)

    def private_key(self) -> SigningKey:
        """The server's private key, decrypted with the recovered password."""
        return load_private_key(
            read_owned_file(self.key, what="the server key"), password=self.key_password
        )

    def trust_files(self) -> tuple[Path, ...]:
        """The files whose change calls for a new context (the CA certificate and the CRL)."""
        return (self.ca, self.crl) if self.crl is not None else (self.ca,)


def load_imported_identity(config: Path, *, keys_dir: Path | None = None) -> ImportedIdentity:
    """The identity named by ``config`` (paths relative to its directory), password recovered.

    ``keys_dir``: where ``kmc.ks``/``StandbyKsf.ks`` are; by default the directory
    of ``server_key``. Raises ConfigError for a missing key and DecryptionFailed
    when ``server_key_mm`` does not open with those master keys.
    """
    values = read_config_values(read_owned_file(config, what="the config file"))
    base = config.resolve().parent

    def path_of(key: str, *, required: bool) -> Path | None:
        value = values.get(key, "")
        if not value:
            if required:
                raise ConfigError(f"{config} has no {key}; run certward import first")
            return None
        return base / value

    key = path_of("server_key", required=True)
    ca = path_of("ca_crt", required=True)
    certificate = path_of("server_crt", required=True)
    assert key is not None and ca is not None and certificate is not None
    sealed = values.get("server_key_mm", "")
    if not sealed:
        raise ConfigError(f"{config} has no server_key_mm; run certward import first")
    password = recover_key_password(keys_dir or key.parent, sealed)
    return ImportedIdentity(
        ca=ca,
        certificate=certificate,
        key=key,
        crl=path_of("crl", required=False),
        key_password=password,
    )


def server_context(
    identity: ImportedIdentity,
    *,
    peers_hash_dir: Path | None = None,
    crl_enabled: bool = False,
    require_client_certificate: bool = True,
) -> ssl.SSLContext:
    """A TLS 1.2+ server context with the imported certificate and key.

    Clients are verified against the imported CA certificate, or against the
    OpenSSL hash directory ``peers_hash_dir`` (``<hash>.N`` certificates,
    ``<hash>.rN`` CRLs). With ``crl_enabled`` the client's certificate must not be
    revoked: by the imported CRL, or by a CRL in the hash directory — and a CA
    without any CRL there fails every client, as seed 004 says ("for each
    certificate at least one CRL must be in the directory").
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION
    context.load_cert_chain(identity.certificate, identity.key, password=identity.key_password)
    context.verify_mode = ssl.CERT_REQUIRED if require_client_certificate else ssl.CERT_OPTIONAL
    if peers_hash_dir is not None:
        context.load_verify_locations(capath=str(peers_hash_dir))
    else:
        context.load_verify_locations(cafile=str(identity.ca))
        if crl_enabled and identity.crl is not None:
            # ssl loads the CRLs of a PEM file given as cafile into the same store.
            context.load_verify_locations(cafile=str(identity.crl))
    if crl_enabled:
        context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    return context


def _signature(paths: Sequence[Path]) -> tuple[object, ...]:
    """What identifies the current content of files and directories: names, inodes, times."""
    parts: list[object] = []
    for path in paths:
        try:
            info = path.stat()
        except FileNotFoundError:
            parts.append((str(path), None))
            continue
        if stat.S_ISDIR(info.st_mode):
            entries = []
            with os.scandir(path) as listing:
                for entry in listing:
                    try:
                        entry_info = entry.stat()
                    except FileNotFoundError:
                        continue
                    entries.append(
                        (entry.name, entry_info.st_ino, entry_info.st_mtime_ns, entry_info.st_size)
                    )
            parts.append((str(path), tuple(sorted(entries))))
        else:
            parts.append((str(path), info.st_ino, info.st_mtime_ns, info.st_size))
    return tuple(parts)


class LiveTrust:
    """A listening context that moves each handshake onto a context built from current files."""

    def __init__(self, build: Callable[[], ssl.SSLContext], *, watched: Sequence[Path]) -> None:
        """``build`` makes a full server context; ``watched``: files and directories it reads."""
        self._build = build
        self._watched = tuple(watched)
        self._lock = threading.Lock()
        self._signature = _signature(self._watched)
        self._current = build()
        self.generation = 0
        self.base = build()
        self.base.sni_callback = self._select

    @property
    def current(self) -> ssl.SSLContext:
        """The context the next handshake uses (after a check of the watched files)."""
        self._refresh()
        return self._current

    def _refresh(self) -> None:
        signature = _signature(self._watched)
        if signature == self._signature:
            return
        with self._lock:
            if signature == self._signature:
                return
            try:
                context = self._build()
            except (OSError, ssl.SSLError) as exc:
                # Mid-swap (the seed's "delete, then copy"): keep serving with the
                # previous trust and try again at the next handshake.
                _log.warning("certimport.trust_reload_failed", error=type(exc).__name__)
                return
            self._current = context
            self._signature = signature
            self.generation += 1
        _log.info("certimport.trust_reloaded", generation=self.generation)

    def _select(
        self, connection: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: ssl.SSLContext
    ) -> None:
        self._refresh()
        connection.context = self._current
