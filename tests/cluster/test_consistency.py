"""Invariants under concurrent load and crashes: unique serials, increasing CRL numbers,
every acknowledged write kept.

Three nodes on one PostgreSQL take issuance and revocation from clients on all
of them at once. A single node killed with SIGKILL in the middle of issuing and
revoking keeps, after its restart, every operation it acknowledged, and its
published files agree with its database.
"""

from __future__ import annotations

import itertools
import os
import signal
import threading
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from certward.crypto.serials import serial_hex
from tests.server.service import Service, poll_until, running_service

PER_CLIENT = 12


def _issue(api: httpx.Client, name: str) -> str:
    response = api.post(
        "/v1/certificates", json={"ca": "issuing", "profile": "client", "common_name": name}
    )
    assert response.status_code == 201, response.text
    serial: str = response.json()["serial"]
    return serial


def _revoke(api: httpx.Client, serial: str, *, wait_for_crl: bool) -> int | None:
    response = api.post(
        f"/v1/certificates/{serial}/revoke",
        params={"wait_for_crl": "true"} if wait_for_crl else {},
        json={"reason": "superseded"},
    )
    assert response.status_code == 200, response.text
    number: int | None = response.json()["crl_number"]
    return number


def _crl_serials(service: Service) -> tuple[int, set[str]]:
    with service.client() as api:
        response = api.get("/ca/issuing/crl")
    assert response.status_code == 200
    crl = x509.load_der_x509_crl(response.content)
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    return number, {serial_hex(entry.serial_number) for entry in crl}


@pytest.mark.pg
def test_concurrent_issuance_and_revocation_on_three_nodes_keeps_every_invariant(
    three_nodes: list[Service],
) -> None:
    issued: list[str] = []
    revoked: list[str] = []
    crl_numbers: list[int] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def client(index: int, node: Service) -> None:
        try:
            with node.client() as api:
                for number in range(PER_CLIENT):
                    serial = _issue(api, f"c{index}-{number}")
                    with lock:
                        issued.append(serial)
                    if number % 3 == 0:
                        crl_number = _revoke(api, serial, wait_for_crl=True)
                        assert crl_number is not None
                        with lock:
                            revoked.append(serial)
                            crl_numbers.append(crl_number)
        except BaseException as exc:  # reported below, with the others' results
            failures.append(exc)

    # Two clients per node, all at once.
    threads = [
        threading.Thread(target=client, args=(index, node))
        for index, node in enumerate(itertools.chain(three_nodes, three_nodes))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures

    assert len(issued) == 6 * PER_CLIENT
    assert len(set(issued)) == len(issued)  # unique serials across nodes
    # Every revocation was answered with a CRL listing it; concurrent ones may share one.
    newest = max(crl_numbers)
    for node in three_nodes:
        number, listed = _crl_serials(node)
        assert number >= newest
        assert set(revoked) <= listed, node.url
    with three_nodes[0].client() as api:
        for serial in issued[::7]:
            assert api.get(f"/v1/certificates/{serial}").status_code == 200


def test_a_node_killed_mid_load_keeps_every_acknowledged_operation(tmp_path: Path) -> None:
    data_dir = tmp_path / "node"
    acknowledged: list[str] = []
    revoked: list[str] = []
    errors: list[BaseException] = []
    stop = threading.Event()
    lock = threading.Lock()

    def client(index: int, service: Service) -> None:
        with service.client() as api:
            for number in itertools.count():
                if stop.is_set():
                    return
                try:
                    serial = _issue(api, f"k{index}-{number}")
                    with lock:
                        acknowledged.append(serial)
                    if number % 4 == 0:
                        _revoke(api, serial, wait_for_crl=False)
                        with lock:
                            revoked.append(serial)
                except Exception as exc:  # after the kill: expected; before it: reported
                    errors.append(exc)
                    return  # the server died under this request: not acknowledged

    with running_service(data_dir, log=tmp_path / "first.log") as service:
        threads = [threading.Thread(target=client, args=(i, service)) for i in range(4)]
        for thread in threads:
            thread.start()
        # Let real work happen, then pull the plug without any warning.
        ready = poll_until(lambda: len(acknowledged) >= 40 or errors, within=120)
        assert ready and not errors, errors
        os.killpg(service.process.pid, signal.SIGKILL)
        service.process.wait(timeout=30)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)

    assert len(acknowledged) >= 40
    with (
        running_service(data_dir, log=tmp_path / "second.log") as restarted,
        restarted.client() as api,
    ):
        for serial in acknowledged:
            response = api.get(f"/v1/certificates/{serial}")
            assert response.status_code == 200, serial
            if serial in revoked:
                assert response.json()["status"] == "revoked"
        # Revocations acknowledged before their CRL was published are on the CRL the
        # restarted node publishes when it finds its newest CRL behind.
        assert poll_until(lambda: set(revoked) <= _crl_serials(restarted)[1], within=60)
        number, _ = _crl_serials(restarted)

    # The published files agree with the database after the restart's repair (the
    # files follow the commit of each CRL, so give the last one its moment).
    def published_number() -> int:
        published = (data_dir / "published" / "issuing" / "crl.der").read_bytes()
        crl = x509.load_der_x509_crl(published)
        value: int = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        return value

    assert poll_until(lambda: published_number() == number, within=10)
