"""Clients that hold every node's URL ride out a node killed with SIGKILL under load.

Four SDK clients issue and revoke on a three-node cluster (PostgreSQL); one node
is killed without warning. Every client finishes its work: calls cut off by the
kill are retried on another node with the same Idempotency-Key, so nothing is
carried out twice — the database holds exactly one certificate per issuance the
clients were told about.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import uuid

import pytest

from certward.client import Client
from certward.errors import IdempotencyInProgress
from tests.server.service import Service, poll_until

PER_CLIENT = 24
CLIENTS = 4


def _count_issued(service: Service, prefix: str) -> int:
    with service.client() as api:
        response = api.get("/v1/certificates", params={"search": prefix, "limit": 1000})
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert response.json()["next_cursor"] is None
    return sum(1 for item in items if item["common_name"].startswith(prefix))


@pytest.mark.pg
def test_clients_with_every_url_finish_their_work_when_a_node_is_killed(
    three_nodes: list[Service],
) -> None:
    prefix = f"fo-{uuid.uuid4().hex[:6]}-"
    urls = [node.url for node in three_nodes]
    admin = three_nodes[0].admin
    ca = three_nodes[0].ca_certificate
    issued: list[str] = []
    done_elsewhere: list[str] = []  # carried out before the kill, answer lost with the node
    revoked: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(index: int) -> None:
        # Each client starts on another node, so the killed one is in use by some.
        order = urls[index % 3 :] + urls[: index % 3]
        try:
            with Client(order, cert=admin.certificate, key=admin.key, ca=ca, retries=3) as sdk:
                for number in range(PER_CLIENT):
                    name = f"{prefix}{index}-{number}"
                    try:
                        certificate = sdk.issue_certificate(
                            ca="issuing", profile="client", common_name=name
                        )
                    except IdempotencyInProgress:
                        with lock:
                            done_elsewhere.append(name)
                        continue
                    with lock:
                        issued.append(certificate.serial)
                    if number % 3 == 0:
                        # In progress = revoked before the kill; checked below like the others.
                        with contextlib.suppress(IdempotencyInProgress):
                            sdk.revoke_certificate(certificate.serial, reason="superseded")
                        with lock:
                            revoked.append(certificate.serial)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    assert poll_until(lambda: len(issued) >= 20 or errors, within=180)
    victim = three_nodes[0]
    os.killpg(victim.process.pid, signal.SIGKILL)
    victim.process.wait(timeout=30)
    for thread in threads:
        thread.join(timeout=300)

    assert errors == []
    assert len(issued) + len(done_elsewhere) == CLIENTS * PER_CLIENT
    survivor = three_nodes[1]
    # Exactly one certificate per issuance: no retry was carried out twice.
    assert _count_issued(survivor, prefix) == CLIENTS * PER_CLIENT
    assert len(set(issued)) == len(issued)
    with survivor.client() as api:
        for serial in revoked:
            assert api.get(f"/v1/certificates/{serial}").json()["status"] == "revoked"
