"""Live revocation with ``--workers 2``: every worker refuses a revoked certificate within 1 s.

Each worker process has its own TLS context. The worker that serves a revoke
call swaps its context at once; the other learns of the new CRL through its
watcher, and so do both when the CLI revokes and publishes behind the service's
back. Fresh connections alone might all land on one worker, so the test also
holds TCP connections to each worker (see ``workers.py``) and starts a TLS
handshake on them after the revocation: each worker must refuse within 1 s.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.server.service import Identity, Refusal, Service, poll_until, run_certward
from tests.server.workers import connections_by_worker

REVOCATION_DEADLINE = 1.0
POLL_INTERVAL = 0.1
# Handshakes kept ready per worker: one before the revocation, one per poll in the
# deadline (at most 10), and some to show the refusal stays.
HELD_PER_WORKER = 14
FRESH_CONNECTIONS = 10


def revoked(outcome: int | Refusal) -> bool:
    return isinstance(outcome, Refusal) and outcome.certificate_revoked


class Workers:
    """TCP connections held to each worker of a service, used one handshake at a time."""

    def __init__(self, service: Service, context: ssl.SSLContext) -> None:
        self.service = service
        self.context = context
        self.held = connections_by_worker(
            service.process.pid, service.host, service.port, workers=2, each=HELD_PER_WORKER
        )
        self.refusing: set[int] = set()

    def handshake(self, worker: int) -> int | Refusal:
        assert self.held[worker], f"no handshake left to try on worker {worker}"
        connection: socket.socket = self.held[worker].pop()
        return self.service.fresh_request(None, context=self.context, connection=connection)

    def all_accept(self) -> bool:
        return all(self.handshake(worker) == 200 for worker in self.held)

    def all_refuse_as_revoked(self) -> bool:
        """Try a handshake on each worker not yet seen refusing; True once all refuse."""
        for worker in set(self.held) - self.refusing:
            if revoked(self.handshake(worker)):
                self.refusing.add(worker)
        return self.refusing == set(self.held)

    def remaining_outcomes(self) -> list[int | Refusal]:
        return [self.handshake(w) for w in self.held for _ in range(len(self.held[w]))]

    def close(self) -> None:
        for connections in self.held.values():
            for connection in connections:
                connection.close()


@pytest.fixture
def principal_on_both_workers(
    two_worker_service: Service, tmp_path: Path
) -> Iterator[tuple[Identity, Workers]]:
    """A principal, and handshakes ready on each worker, which all accept it now."""
    service = two_worker_service
    principal = service.create_principal(tmp_path, grants=[{"permission": "kds.client"}])
    workers = Workers(service, service.ssl_context(principal))
    try:
        assert workers.all_accept()
        yield principal, workers
    finally:
        workers.close()


def assert_refused_everywhere_within_a_second(
    service: Service, workers: Workers, revoke: Callable[[], None]
) -> None:
    revoke()
    in_time = poll_until(
        workers.all_refuse_as_revoked, within=REVOCATION_DEADLINE, interval=POLL_INTERVAL
    )

    assert in_time, f"only workers {workers.refusing} of {set(workers.held)} refused within 1 s"
    assert all(revoked(outcome) for outcome in workers.remaining_outcomes())
    fresh = [service.fresh_request(None, context=workers.context) for _ in range(FRESH_CONNECTIONS)]
    assert all(revoked(outcome) for outcome in fresh), fresh
    assert service.fresh_request(service.admin) == 200


def test_principal_disabled_through_the_api_is_refused_by_every_worker_within_a_second(
    two_worker_service: Service, principal_on_both_workers: tuple[Identity, Workers]
) -> None:
    service = two_worker_service
    principal, workers = principal_on_both_workers

    def disable() -> None:
        with service.client() as api:
            response = api.post(f"/v1/principals/{principal.name}/disable")
        assert response.status_code == 200, response.text

    assert_refused_everywhere_within_a_second(service, workers, disable)


def test_revocation_by_the_cli_is_applied_by_every_worker_within_a_second(
    two_worker_service: Service, principal_on_both_workers: tuple[Identity, Workers]
) -> None:
    service = two_worker_service
    principal, workers = principal_on_both_workers

    def revoke_with_the_cli() -> None:
        run_certward("cert", "revoke", principal.serial, data_dir=service.data_dir)
        run_certward("crl", "publish", "--ca", "issuing", data_dir=service.data_dir)

    assert_refused_everywhere_within_a_second(service, workers, revoke_with_the_cli)
