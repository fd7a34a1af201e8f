"""One service process: its data dir, TLS contexts, principal cache and revocation watcher.

Every uvicorn worker builds its own runtime (the SSL context is made before the
app, so both ask :func:`get_runtime`, which builds it once per process). A
watcher thread polls the database for new CRLs (and the optional CRL hash dir
for new files) and swaps a fresh TLS context in, so a revocation reaches every
worker within one poll interval; a revocation made by this process swaps at once.

The same watcher keeps this node's copy of the certificate slots in step: when
another node changed a slot (a newer slot event in the database), every slot's
files here are re-rendered from the database and its service reloaded.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import structlog
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, select

from certward.access.idempotency import purge_expired
from certward.access.principals import Principal, principal_by_fingerprint
from certward.ca.authority import ca_chain
from certward.ca.context import CAContext
from certward.ca.crl import PublishedCRL, latest_crl
from certward.ca.crl_publisher import CRLPublisher, CRLTicket
from certward.ca.group_commit import GroupCommitWriter
from certward.ca.publish import republish_all
from certward.certs.events import newest_file_change
from certward.certs.jobs import abandon_stale_jobs
from certward.certs.reconcile import reconcile_slots
from certward.config import ServerSettings
from certward.crypto.formats import load_crl
from certward.datadir import open_data_dir
from certward.errors import CertwardError, MalformedData
from certward.kms.cache import KeyCache
from certward.kms.maintenance import KmsMaintenance
from certward.nodes import (
    HEARTBEAT_SECONDS,
    heartbeat,
    node_id_for,
    register_node,
    unregister_node,
)
from certward.server.audit_batch import AuditBatch
from certward.server.bootstrap import load_server_identity
from certward.server.metrics import ServiceMetrics
from certward.server.tls import ReloadableTLS, TLSMaterial
from certward.store.models import CertificateAuthorityRow, CRLRow
from certward.store.notify import ChangeListener

__all__ = [
    "MISSING",
    "RUNTIME_ENV_DATABASE",
    "RUNTIME_ENV_DATA_DIR",
    "ServerRuntime",
    "get_runtime",
]

_log = structlog.get_logger()
MISSING = object()  # "not in the principal cache" (None means "no such principal")
RUNTIME_ENV_DATA_DIR = "CERTWARD_DATA_DIR"
RUNTIME_ENV_DATABASE = "CERTWARD_DATABASE"
# A principal looked up is trusted for this long; a disabled one is also refused at the
# next handshake (its certificate is revoked), this bounds keep-alive connections.
_PRINCIPAL_TTL = 1.0
# "May this CA issue?" is re-checked at least this often (and after every new CRL).
_ISSUER_CHECK_TTL = 1.0


@dataclass(frozen=True)
class _CachedPrincipal:
    principal: Principal | None
    loaded_at: float
    generation: int


class ServerRuntime:
    """Everything one service process shares between requests."""

    def __init__(self, ctx: CAContext, data_dir: Path) -> None:
        self.ctx = ctx
        self.ctx.issuer_check_ttl = _ISSUER_CHECK_TTL
        self.data_dir = data_dir
        self.settings: ServerSettings = ctx.settings.service
        self._crl_state = self._observed_state()
        self._slot_state = newest_file_change(ctx)
        self.tls = ReloadableTLS(self.tls_material())
        self._principals: dict[str, _CachedPrincipal] = {}
        self._stop = threading.Event()
        self.changes = ChangeListener(ctx.database)
        self.node_id = node_id_for(self.settings.port)
        self._last_beat = 0.0
        self._watcher: threading.Thread | None = None
        self.healthy = True
        self.health_checked = 0.0
        self.writer = GroupCommitWriter(ctx.database)
        self.metrics: ServiceMetrics | None = None  # set by the app that serves this runtime
        # KMS keys ready for use (state trusted for a second), their audit rows stored per
        # event-loop turn, and their upkeep thread.
        self.kms_keys = KeyCache(ctx)
        self.kms_audit = AuditBatch(self.writer)
        self.kms_maintenance = KmsMaintenance(
            ctx, interval=ctx.settings.kms.rotation_check_seconds, on_change=self.kms_keys.forget
        )
        # Revocations here ask for their CA's next CRL; one thread publishes them, coalesced.
        self.crl_publisher = CRLPublisher(ctx, on_published=self._published_here)

    # -- TLS ---------------------------------------------------------------------

    def trusted_ca_names(self) -> list[str]:
        """The principal-issuing CA and every CA above it."""
        with self.ctx.database.read() as session:
            row: CertificateAuthorityRow | None = self.ctx.ca_row(session, self.settings.issuing_ca)
            names = []
            while row is not None:
                names.append(row.name)
                row = session.get(CertificateAuthorityRow, row.parent_id) if row.parent_id else None
        return names

    def _hash_dir_crls(self) -> list[bytes]:
        if not self.settings.crl_hash_dir:
            return []
        crls = []
        for path in sorted(Path(self.settings.crl_hash_dir).glob("*.r[0-9]*")):
            try:
                crl = load_crl(path.read_bytes())
            except (OSError, MalformedData):
                _log.warning("tls.crl_file_ignored", path=str(path))
                continue
            crls.append(crl.public_bytes(serialization.Encoding.DER))
        return crls

    def tls_material(self) -> TLSMaterial:
        """Server identity, trusted CAs and their newest CRLs, read now."""
        identity = load_server_identity(self.ctx)
        chain = ca_chain(self.ctx, self.settings.issuing_ca)
        crls = [latest_crl(self.ctx, name).der for name in self.trusted_ca_names()]
        return TLSMaterial(
            certificate_chain_pem=identity.chain_pem,
            private_key_pem=identity.key_pem,
            trusted_cas=tuple(chain),
            crls_der=tuple(crls + self._hash_dir_crls()),
        )

    def _observed_state(self) -> tuple[int | None, tuple[tuple[str, float], ...]]:
        with self.ctx.database.read() as session:
            newest = session.scalar(select(func.max(CRLRow.id)))
        files: tuple[tuple[str, float], ...] = ()
        if self.settings.crl_hash_dir:
            directory = Path(self.settings.crl_hash_dir)
            try:
                files = tuple(
                    sorted((p.name, p.stat().st_mtime) for p in directory.glob("*.r[0-9]*"))
                )
            except OSError:
                files = ()
        return newest, files

    def count_issued(self) -> None:
        """Count one issued certificate in this process's metrics."""
        if self.metrics is not None:
            self.metrics.issued.inc()

    def count_revoked(self) -> None:
        """Count one revoked certificate in this process's metrics."""
        if self.metrics is not None:
            self.metrics.revoked.inc()

    def after_revocation(self, ca_name: str) -> CRLTicket:
        """A revocation committed here: refuse its certificate from now on, ask for the CRL.

        Principals and issuer checks are looked up again at once (they read the
        revocation from the database); handshakes refuse the certificate when the
        CRL is published, which happens in the background (see ``ca.crl_publisher``).
        """
        self.count_revoked()
        self._principals.clear()
        self.ctx.forget_issuer_checks()
        return self.crl_publisher.request(ca_name)

    def _published_here(self, crl: PublishedCRL) -> None:
        self.reload_tls()

    def reload_tls(self) -> None:
        """Rebuild the TLS context from the database now (after a revocation here)."""
        self._crl_state = self._observed_state()
        self.tls.replace(self.tls_material())
        self._principals.clear()
        self.ctx.forget_issuer_checks()
        _log.info("tls.reloaded", generation=self.tls.generation, pid=os.getpid())

    @property
    def url(self) -> str:
        """Where this node answers (as configured; ``serve --host/--port`` set these)."""
        host = self.settings.host
        return (
            f"https://[{host}]:{self.settings.port}"
            if ":" in host
            else (f"https://{host}:{self.settings.port}")
        )

    def _beat(self) -> None:
        now = time.monotonic()
        if now - self._last_beat >= HEARTBEAT_SECONDS:
            heartbeat(self.ctx, node_id=self.node_id, url=self.url)
            self._last_beat = now
            # Keys older than a day are forgotten (cheap: an indexed delete), and CSR jobs
            # whose process died are marked failed.
            purge_expired(self.ctx)
            abandon_stale_jobs(self.ctx)
            # CRLs missing a revocation (a process died before publishing it, or the CLI
            # recorded it) or past half their life are published.
            self.crl_publisher.request_behind()

    def _watch(self) -> None:
        while not self._stop.is_set():
            # A PostgreSQL notice (another node published a CRL) ends the wait at once;
            # the poll interval bounds the delay when notices are lost or absent (SQLite).
            self.changes.wait(self.settings.revocation_poll_seconds)
            if self._stop.is_set():
                break
            try:
                state = self._observed_state()
                if state != self._crl_state:
                    self.reload_tls()
                    # Keep this node's published/ files (CRLs, chains) in step too.
                    republish_all(self.ctx)
                self._follow_slot_changes()
                self._beat()
                self.healthy = True
            except CertwardError as exc:
                self.healthy = False
                _log.warning("tls.watch_failed", code=exc.code, error=exc.message)
            except Exception as exc:
                self.healthy = False
                _log.warning("tls.watch_failed", error=type(exc).__name__)
            self.health_checked = time.monotonic()

    def _follow_slot_changes(self) -> None:
        """Re-render this node's slot files when a slot changed (here or on another node)."""
        newest = newest_file_change(self.ctx)
        if newest != self._slot_state:
            reconcile_slots(self.ctx)
            self._slot_state = newest

    def start(self) -> None:
        """Register this node and start the revocation watcher (once)."""
        if self._watcher is None:
            register_node(self.ctx, node_id=self.node_id, url=self.url)
            self._last_beat = time.monotonic()
            self._watcher = threading.Thread(
                target=self._watch, name="certward-tls-watch", daemon=True
            )
            self._watcher.start()
            self.kms_maintenance.start()
            self.crl_publisher.start()
            with contextlib.suppress(CertwardError):
                self.crl_publisher.request_behind()

    def stop(self) -> None:
        """Stop the watcher and close the database pool."""
        self._stop.set()
        self.changes.close()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
            with contextlib.suppress(CertwardError):
                unregister_node(self.ctx, node_id=self.node_id)
        self.kms_maintenance.stop()
        self.crl_publisher.stop()
        self.writer.close()
        self.ctx.database.dispose()

    # -- principals ----------------------------------------------------------------

    def cached_principal(self, fingerprint: str) -> Principal | object | None:
        """The cached principal of a certificate, None if known not to exist, else MISSING."""
        cached = self._principals.get(fingerprint)
        if (
            cached is not None
            and time.monotonic() - cached.loaded_at < _PRINCIPAL_TTL
            and cached.generation == self.tls.generation
        ):
            return cached.principal
        return MISSING

    def principal(self, fingerprint: str) -> Principal | None:
        """The principal of a client certificate (cached for a second)."""
        now = time.monotonic()
        cached = self._principals.get(fingerprint)
        if (
            cached is not None
            and now - cached.loaded_at < _PRINCIPAL_TTL
            and cached.generation == self.tls.generation
        ):
            return cached.principal
        principal = principal_by_fingerprint(self.ctx, fingerprint)
        if len(self._principals) > 10_000:
            self._principals.clear()  # bounded: one client cannot grow it without end
        self._principals[fingerprint] = _CachedPrincipal(principal, now, self.tls.generation)
        return principal


_runtimes: dict[str, ServerRuntime] = {}
_runtime_lock = threading.Lock()


def get_runtime() -> ServerRuntime:
    """This process's runtime, built on first use from the ``CERTWARD_*`` environment."""
    with _runtime_lock:
        runtime = _runtimes.get("process")
        if runtime is None:
            data_dir = Path(os.environ.get(RUNTIME_ENV_DATA_DIR, "certward-data"))
            database = os.environ.get(RUNTIME_ENV_DATABASE) or None
            runtime = ServerRuntime(open_data_dir(data_dir, database=database), data_dir)
            _runtimes["process"] = runtime
        return runtime
