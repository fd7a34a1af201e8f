"""CRLs published in the background, coalesced: revocations ask, one thread publishes.

A CRL lists every revoked certificate of its CA, so building one costs time in
proportion to their number (about 2.7 s at a million). A revocation in the
service therefore commits and answers at once, and only *asks* for the next
CRL: :meth:`CRLPublisher.request` marks the CA and wakes the publisher thread,
which publishes it with every revocation committed by then. Requests that
arrive while a CRL is being built are served together by the next one, so a
burst of revocations costs a handful of CRLs, not one each; after publishing,
the thread rests as long as the CRL took before it starts another, so it never
takes more than half of the process's time (and GIL) from the requests.

A caller that must see the CRL (``?wait_for_crl=true``) waits on its ticket
with :meth:`CRLPublisher.wait`. Nothing acknowledged is lost when a process dies
before publishing: the revocation is in the database, and every node's
heartbeat calls :meth:`CRLPublisher.request_behind`, which asks for every CA
whose newest CRL lists fewer entries than it has revoked, or has passed half of
its life (so CRLs are renewed before relying parties see them expire).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from sqlalchemy import select

from certward.ca.context import CAContext
from certward.ca.crl import (
    PublishedCRL,
    RevokedEntries,
    crl_freshness,
    publish_crl_if_behind,
)
from certward.errors import CertwardError
from certward.store.models import CertificateAuthorityRow

__all__ = ["CRLPublisher", "CRLTicket"]

_log = structlog.get_logger()

# After a failed publication, the CA is tried again after this long (then twice as
# long, up to the maximum), so a database outage does not spin the thread.
_RETRY_SECONDS = 0.5
_MAX_RETRY_SECONDS = 30.0


@dataclass(frozen=True)
class CRLTicket:
    """A request for the next CRL of a CA: met once a CRL published after it is stored."""

    ca_name: str
    number: int


class CRLPublisher:
    """One thread that publishes the CRLs asked for, each CA's requests served together."""

    def __init__(
        self,
        ctx: CAContext,
        *,
        on_published: Callable[[PublishedCRL], None] = lambda crl: None,
    ) -> None:
        self._ctx = ctx
        self._on_published = on_published
        self._cond = threading.Condition()
        self._asked = 0  # tickets handed out so far (one counter for every CA)
        self._pending: dict[str, int] = {}  # CA → newest ticket not yet served
        self._served: dict[str, tuple[int, int]] = {}  # CA → (newest ticket served, CRL number)
        self._failures: dict[str, int] = {}
        self._entries = RevokedEntries()  # the next CRL reads only what was revoked since
        self._rest_until = 0.0  # monotonic time before which no CRL is started
        self._stop = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the publisher thread (once)."""
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="certward-crl-publisher", daemon=True
                )
                self._thread.start()

    def stop(self, *, timeout: float = 10.0) -> None:
        """Stop after the publication in progress (pending requests stay in the database)."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def request(self, ca_name: str) -> CRLTicket:
        """Ask for a CRL of ``ca_name`` listing every revocation committed before this call."""
        with self._cond:
            self._asked += 1
            self._pending[ca_name] = self._asked
            self._cond.notify_all()
            return CRLTicket(ca_name=ca_name, number=self._asked)

    def wait(self, ticket: CRLTicket, *, timeout: float) -> int | None:
        """The number of a CRL that meets ``ticket``, or None if none did within ``timeout``."""
        with self._cond:
            met = self._cond.wait_for(
                lambda: self._served.get(ticket.ca_name, (0, 0))[0] >= ticket.number,
                timeout=timeout,
            )
            return self._served[ticket.ca_name][1] if met else None

    def request_behind(self) -> list[str]:
        """Ask for the CRL of every CA whose newest CRL is behind; returns their names."""
        now = self._ctx.clock()
        behind = []
        with self._ctx.database.read() as session:
            for row in session.scalars(select(CertificateAuthorityRow)):
                if crl_freshness(session, row).behind(now):
                    behind.append(row.name)
        for name in behind:
            self.request(name)
        return behind

    def _next(self) -> tuple[str, int] | None:
        with self._cond:
            while not self._stop:
                rest = self._rest_until - time.monotonic()
                if self._pending and rest <= 0:
                    name = next(iter(self._pending))
                    return name, self._pending.pop(name)
                self._cond.wait(rest if self._pending else None)
            return None

    def _run(self) -> None:
        while (job := self._next()) is not None:
            name, ticket = job
            started = time.monotonic()
            try:
                crl, number = publish_crl_if_behind(self._ctx, name, entries=self._entries)
            except Exception as exc:  # the thread must outlive any one failure
                self._failed(name, ticket, exc)
                continue
            self._failures.pop(name, None)
            if crl is not None:
                try:
                    self._on_published(crl)
                except Exception as exc:
                    _log.warning("crl.after_publish_failed", ca=name, error=type(exc).__name__)
                # Rest as long as this took: under a stream of revocations the thread works
                # at most half the time, leaving the GIL and the database to the requests.
                self._rest_until = time.monotonic() + (time.monotonic() - started)
            with self._cond:
                served, _ = self._served.get(name, (0, 0))
                self._served[name] = (max(served, ticket), number)
                self._cond.notify_all()

    def _failed(self, name: str, ticket: int, exc: Exception) -> None:
        failures = self._failures.get(name, 0) + 1
        self._failures[name] = failures
        delay = min(_RETRY_SECONDS * 2 ** (failures - 1), _MAX_RETRY_SECONDS)
        if isinstance(exc, CertwardError):
            _log.warning("crl.publish_failed", ca=name, code=exc.code, error=exc.message)
        else:
            _log.warning("crl.publish_failed", ca=name, error=type(exc).__name__)
        with self._cond:
            # Ask again (unless a newer request already did), after the back-off.
            self._pending[name] = max(self._pending.get(name, 0), ticket)
            self._cond.wait_for(lambda: self._stop, timeout=delay)
