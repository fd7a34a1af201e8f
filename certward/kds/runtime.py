"""One KDS node at run time: its keys, TLS contexts, registration, election and duties.

:class:`KdsRuntime` owns what a node shares between requests and runs one
maintenance thread that

- rebuilds the TLS context when a CRL changes (certward's own CRLs in the
  database, or files in the trusts path), so a revoked client is refused at its
  next handshake within a poll interval (0.25 s);
- refreshes the opened master key set within half a second of any change;
- writes the heartbeat, re-reads the live nodes (the "random servers" of every
  answer) and, on a node with a publish period, tries the publisher election
  and expires keys past their lifespan;
- as the publisher, adds a key on an empty set at once and then every period.

Database trouble is logged and retried; the node keeps answering from memory.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, select

from certward.ca.context import CAContext
from certward.ca.crl import latest_crl
from certward.crypto.formats import chain_pem, load_certificates
from certward.crypto.keys import load_private_key, private_key_to_pkcs8
from certward.errors import CertwardError, ConfigError, PasswordError
from certward.files import check_private_key_file
from certward.kds.certs import kds_name_of_server
from certward.kds.masterkeys import MasterKeySet, expire_master_keys, now_ms, publish_master_key
from certward.kds.nodes import (
    PublisherElection,
    address_of,
    heartbeat,
    list_nodes,
    node_id_for,
    random_servers,
    register_node,
    unregister_node,
)
from certward.kds.revocation import KdsTLS, RevocationPolicy, select_crls
from certward.kds.trusts import TrustMaterial, load_trusts, trust_files_state
from certward.server.tls import TLSMaterial
from certward.store.models import CertificateAuthorityRow, CRLRow

__all__ = ["KdsOptions", "KdsRuntime"]

_log = structlog.get_logger()
_MS_PER_DAY = 86_400_000
_KEY_POLL_SECONDS = 0.5  # master key set staleness bound (well under a second)
_SOFT_FAIL_RECHECK_SECONDS = 60.0  # CRLs can run out of date without any file changing


@dataclass(frozen=True)
class KdsOptions:
    """Everything one node runs with (flags over ``[kds]``; see KdsSettings)."""

    host: str
    port: int
    cert: Path
    key: Path
    trusts: Path | None
    revocation: RevocationPolicy
    algorithm: str
    key_lifespan_days: float
    publish_period_days: float
    peers: tuple[str, ...]
    heartbeat_seconds: float
    passphrase: bytes | None = field(default=None, repr=False)
    poll_seconds: float = 0.25

    @property
    def publishes(self) -> bool:
        """False for a publish period of -1: this node never publishes."""
        return self.publish_period_days > 0


# -- TLS material --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Identity:
    chain_pem: bytes
    key_pem: bytes = field(repr=False)
    chain: tuple[x509.Certificate, ...]


def _load_identity(options: KdsOptions) -> _Identity:
    check_private_key_file(options.key)
    try:
        chain = load_certificates(options.cert.read_bytes())
        key_data = options.key.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the KDS certificate or key: {exc.strerror}") from None
    try:
        key = load_private_key(key_data, password=options.passphrase)
    except PasswordError as exc:
        if options.passphrase is not None:
            raise
        raise PasswordError(
            f"{exc.message}: give --passphrase-file, set CERTWARD_KDS_PASSPHRASE "
            "or start the node on a terminal"
        ) from None
    ours = (
        chain[0]
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    theirs = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if ours != theirs:
        raise ConfigError(f"the key in {options.key} does not belong to {options.cert}")
    return _Identity(chain_pem(chain), private_key_to_pkcs8(key), tuple(chain))


class KdsRuntime:
    """One node: its opened keys, TLS contexts, registration, election and maintenance thread."""

    def __init__(self, ctx: CAContext, options: KdsOptions) -> None:
        self.ctx = ctx
        self.options = options
        self.keys = MasterKeySet(ctx, algorithm=options.algorithm)
        self._identity = _load_identity(options)
        self.kds_name = kds_name_of_server(self._identity.chain[0])
        self.address = address_of(options.host)
        self.node_id = node_id_for(self.address, options.port)
        self._peers = _peer_addresses(options.peers)
        self.election = PublisherElection(ctx.database)
        self.servers: tuple[bytes, ...] = self._peers
        self._tls_state = self._observed_tls_state()
        self.tls = KdsTLS(self.tls_material(), options.revocation)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- TLS ---------------------------------------------------------------------------

    def _trusts(self) -> TrustMaterial:
        own_cas = TrustMaterial(certificates=self._identity.chain[1:], crls=())
        if self.options.trusts is None:
            return own_cas
        return own_cas + load_trusts(self.options.trusts, passphrase=self.options.passphrase)

    def _published_crls(self, trusted: tuple[x509.Certificate, ...]) -> list[bytes]:
        ders = [cert.public_bytes(serialization.Encoding.DER) for cert in trusted]
        with self.ctx.database.read() as session:
            names = session.scalars(
                select(CertificateAuthorityRow.name).where(
                    CertificateAuthorityRow.certificate_der.in_(ders)
                )
            ).all()
        return [latest_crl(self.ctx, name).der for name in names]

    def tls_material(self) -> TLSMaterial:
        """Server identity, trust anchors and the CRLs the revocation policy wants, read now."""
        trusts = self._trusts()
        if not trusts.certificates:
            raise ConfigError(
                "the KDS trusts no CA: give --trusts, or a certificate file with its CA chain"
            )
        crls = list(trusts.crls)
        crls += [x509.load_der_x509_crl(der) for der in self._published_crls(trusts.certificates)]
        setup = select_crls(
            self.options.revocation, trusts.certificates, crls, now=self.ctx.clock()
        )
        return TLSMaterial(
            certificate_chain_pem=self._identity.chain_pem,
            private_key_pem=self._identity.key_pem,
            trusted_cas=trusts.certificates,
            crls_der=setup.crls_der,
            check_crls=setup.check,
        )

    def _observed_tls_state(self) -> tuple[Any, ...]:
        with self.ctx.database.read() as session:
            newest = session.scalar(select(func.max(CRLRow.id)))
        files = trust_files_state(self.options.trusts) if self.options.trusts else ()
        tick = None
        if self.options.revocation.soft_fail:
            tick = int(time.monotonic() // _SOFT_FAIL_RECHECK_SECONDS)
        return newest, files, tick

    def _watch_tls(self) -> None:
        state = self._observed_tls_state()
        if state != self._tls_state:
            self.tls.replace(self.tls_material())
            self._tls_state = state
            _log.info("kds.tls_reloaded", generation=self.tls.generation)

    # -- node duties ---------------------------------------------------------------------

    def _beat(self) -> None:
        """Heartbeat, refresh the random servers, (re)try the election, expire old keys."""
        if self.options.publishes and self.election.try_acquire():
            expire_master_keys(self.ctx, lifespan_days=self.options.key_lifespan_days)
        if not heartbeat(self.ctx, self.node_id, publisher=self.election.held):
            self._register()
        nodes = list_nodes(self.ctx, heartbeat_seconds=self.options.heartbeat_seconds)
        self.servers = random_servers(nodes, own_node_id=self.node_id, extra=self._peers)

    def _register(self) -> None:
        register_node(
            self.ctx,
            node_id=self.node_id,
            host=self.options.host,
            port=self.options.port,
            address=self.address,
        )

    def _publish_if_due(self) -> None:
        """As the publisher: a new key on an empty set, or when the newest is a period old."""
        if not self.election.held:
            return
        period_ms = self.options.publish_period_days * _MS_PER_DAY
        self.keys.refresh()
        timestamps = self.keys.ring.timestamps
        if not timestamps or now_ms() - timestamps[-1] >= period_ms:
            publish_master_key(self.ctx, created_by=self.node_id)
            self.keys.refresh()

    def start(self) -> None:
        """Register, load the keys (publishing the first one if this node may), start the thread."""
        self._register()
        self.keys.refresh(force=True)
        self._beat()  # elects this node if it may publish and nobody else does
        self._publish_if_due()
        _log.info(
            "kds.node_started",
            node_id=self.node_id,
            kds_name=self.kds_name,
            publisher=self.election.held,
            master_keys=len(self.keys.ring.timestamps),
            revocation=self.options.revocation.describe(),
        )
        self._thread = threading.Thread(target=self._run, name="certward-kds-node", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        now = time.monotonic()
        next_keys, next_beat = now + _KEY_POLL_SECONDS, now + self.options.heartbeat_seconds
        while not self._stop.wait(self.options.poll_seconds):
            now = time.monotonic()
            self._guarded("kds.tls_watch_failed", self._watch_tls)
            if now >= next_beat:
                next_beat = now + self.options.heartbeat_seconds
                self._guarded("kds.heartbeat_failed", self._beat)
            if now >= next_keys:
                next_keys = now + _KEY_POLL_SECONDS
                self._guarded("kds.key_refresh_failed", self.keys.refresh)
                self._guarded("kds.publish_failed", self._publish_if_due)

    @staticmethod
    def _guarded(event: str, action: Callable[[], object]) -> None:
        try:
            action()
        except CertwardError as exc:
            _log.warning(event, code=exc.code, error=exc.message)
        except Exception as exc:  # the node keeps serving from memory while the DB is away
            _log.warning(event, error=type(exc).__name__)

    def stop(self) -> None:
        """Stop the thread, leave the registry and the election, close the database pool."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with contextlib.suppress(CertwardError):
            unregister_node(self.ctx, self.node_id)
        self.election.release()
        self.ctx.database.dispose()


def _peer_addresses(peers: tuple[str, ...]) -> tuple[bytes, ...]:
    addresses: list[bytes] = []
    for peer in peers:
        host = peer.strip()
        if host.startswith("["):
            host = host[1:].split("]", 1)[0]
        elif host.count(":") == 1:
            host = host.rsplit(":", 1)[0]
        try:
            addresses.append(address_of(host))
        except ConfigError as exc:
            _log.warning("kds.peer_ignored", peer=peer, error=exc.message)
    return tuple(dict.fromkeys(addresses))
