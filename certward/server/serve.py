"""``certward serve``: bootstrap the data dir, then run uvicorn with certward's TLS.

Workers are separate processes; each builds its own runtime (database pool,
TLS contexts, revocation watcher) from the ``CERTWARD_*`` environment set here.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import socket
import ssl
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import structlog
import uvicorn

from certward.ca.context import CAContext
from certward.ca.publish import republish_all
from certward.certs.events_delivery import EventDelivery
from certward.certs.reconcile import reconcile_slots
from certward.config import ServerSettings, load_settings
from certward.datadir import initialise_data_dir
from certward.errors import StorageError
from certward.logs import configure_logging
from certward.server.app import ServiceApp, create_app
from certward.server.bootstrap import AdminFiles, bootstrap_service
from certward.server.peercert import TLSScopeProtocol
from certward.server.runtime import RUNTIME_ENV_DATA_DIR, RUNTIME_ENV_DATABASE, get_runtime
from certward.server.tls_alerts import install_alert_flushing

__all__ = ["BootstrapResult", "app_factory", "prepare", "run", "ssl_context_factory"]

_log = structlog.get_logger()


@dataclass(frozen=True)
class BootstrapResult:
    """What ``prepare`` set up: the settings in force and new admin files, if any."""

    settings: ServerSettings
    admin: AdminFiles | None
    url: str


def prepare(
    data_dir: Path, *, database: str | None = None, host: str | None = None, port: int | None = None
) -> BootstrapResult:
    """Initialise and bootstrap ``data_dir`` and export where workers find it."""
    data_dir = Path(data_dir).resolve()
    ctx = _open_when_database_answers(data_dir, database)
    try:
        settings = ctx.settings.service
        admin = bootstrap_service(ctx, settings, data_dir)
        # Repair what a crash between a commit and a file write left behind (a CRL newer
        # in the database than in published/), and catch up on other nodes' CRLs.
        repaired = republish_all(ctx)
        if repaired:
            _log.info("published.repaired", cas=repaired)
        # The same for certificate slots: their files follow the database (issue 5).
        reconcile_slots(ctx)
    finally:
        ctx.database.dispose()
    os.environ[RUNTIME_ENV_DATA_DIR] = str(data_dir)
    # Workers read their settings again: the flags must reach them too (node registry).
    if host:
        os.environ["CERTWARD_SERVICE__HOST"] = host
    if port:
        os.environ["CERTWARD_SERVICE__PORT"] = str(port)
    if database:
        os.environ[RUNTIME_ENV_DATABASE] = database
    shown_host = host or settings.host
    if ":" in shown_host:
        shown_host = f"[{shown_host}]"
    return BootstrapResult(
        settings=settings, admin=admin, url=f"https://{shown_host}:{port or settings.port}"
    )


def _open_when_database_answers(data_dir: Path, database: str | None) -> CAContext:
    """The data dir, initialised; while the database does not answer, retry (bounded).

    A node started before its database (a cluster coming up, PostgreSQL restarting)
    says why it waits, once per attempt, and starts serving as soon as it can.
    Anything else (a schema mismatch, foreign master keys) ends the start at once.
    """
    wait = load_settings(data_dir, database=database).service.database_wait_seconds
    deadline = time.monotonic() + wait
    delay = 0.5
    while True:
        try:
            return initialise_data_dir(data_dir, database=database)
        except StorageError as exc:
            if type(exc) is not StorageError or time.monotonic() + delay > deadline:
                raise
            sys.stderr.write(f"warning: {exc.message}; retrying in {delay:g} s\n")
            sys.stderr.flush()
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def ssl_context_factory(
    config: uvicorn.Config, default: Callable[[], ssl.SSLContext]
) -> ssl.SSLContext:
    """uvicorn hook: the listening socket's base context (it passes handshakes on)."""
    return get_runtime().tls.base


def app_factory() -> ServiceApp:
    """uvicorn hook: the application of this worker process."""
    install_alert_flushing()  # worker processes start fresh: patch their asyncio too
    runtime = get_runtime()
    settings = runtime.ctx.settings
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    runtime.start()
    app = create_app(runtime)
    # Webhooks and the expiry scan of slot certificates (issue 5): one thread per worker.
    delivery = EventDelivery.start(runtime.ctx, owner=runtime.node_id)

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        # What start-up built (modules, app, caches) lives as long as the process: keep it
        # out of the collector's scans, which otherwise cost ~10% of a busy worker's time.
        gc.freeze()
        yield
        delivery.stop()
        runtime.stop()

    app.api.router.lifespan_context = lifespan
    return app


def run(*, host: str, port: int, workers: int) -> None:
    """Serve until SIGINT/SIGTERM (in-flight requests finish first)."""
    install_alert_flushing()
    config = uvicorn.Config(
        "certward.server.serve:app_factory",
        # asyncio's loop, not uvloop: only its TLS layer can be made to send refusal alerts.
        loop="asyncio",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http=TLSScopeProtocol,
        ssl_context_factory=ssl_context_factory,
        lifespan="on",
        access_log=False,
        log_level="warning",
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[listening_socket(config)]).run()
    else:
        # uvicorn raises SIGTERM again after its graceful shutdown, under the handler it
        # found: make that a normal exit (status 0), as with several workers.
        signal.signal(signal.SIGTERM, _exit_normally)
        server.run()


def listening_socket(config: uvicorn.Config) -> socket.socket:
    """The socket several workers share, with Nagle's algorithm off for what it accepts.

    uvicorn binds it without naming the protocol (proto 0), and asyncio turns
    TCP_NODELAY on only for accepted sockets whose listener says IPPROTO_TCP; so a
    keep-alive answer written in two parts waited for the client's delayed ACK, about
    40 ms a request (uvicorn#3149). Accepted sockets inherit the option on Linux.
    """
    sock = config.bind_socket()
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _exit_normally(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
