"""KMS rotation and slot changes under crashes and on two nodes at once.

- A node killed with SIGKILL while clients rotate a KMS key and encrypt with it
  keeps, after its restart, every version and every ciphertext it acknowledged;
  the versions have no gaps and the primary is the newest.
- A node killed while a client replaces a slot's certificate again and again
  restarts with the slot's files equal to its database, and that certificate is
  the last acknowledged one or a later one the client sent.
- Two nodes on one PostgreSQL rotating one key at once make one version per
  acknowledged rotation, numbered without gaps or twins.
- Two nodes replacing one slot's certificate at once: every acknowledged change
  is one event, and both nodes' own copies of the slot's files end equal to the
  database (the other node re-renders its copy when it sees the change).
"""

from __future__ import annotations

import base64
import itertools
import os
import signal
import sqlite3
import threading
from collections.abc import Callable
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
)
from sqlalchemy import create_engine, text

from tests.certs.factory import TestCA
from tests.cluster.nodes import join_dir
from tests.server.service import Service, poll_until, running_service

SLOT = "server/web"
HOST = "web.example.test"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _slot_config(directory: Path) -> str:
    return f'[slots."{SLOT}"]\ndirectory = "{directory}"\nhost_name = "{HOST}"\n'


def _create_key(api: httpx.Client) -> str:
    response = api.post("/v1/kms/keys", json={"spec": "AES_256", "usage": "ENCRYPT_DECRYPT"})
    assert response.status_code == 201, response.text
    key_id: str = response.json()["key_id"]
    return key_id


def _versions(api: httpx.Client, key_id: str) -> tuple[int, list[int]]:
    response = api.get(f"/v1/kms/keys/{key_id}")
    assert response.status_code == 200, response.text
    body = response.json()
    return body["primary_version"], sorted(v["version"] for v in body["versions"])


def _current_certificate(api: httpx.Client) -> dict[str, Any]:
    response = api.get(f"/v1/slots/{SLOT}/certificates")
    assert response.status_code == 200, response.text
    (current,) = response.json()
    return dict(current)


def _replace(api: httpx.Client, pem: tuple[bytes, bytes]) -> httpx.Response:
    """Replace whatever the slot holds now with ``pem`` (chain, key)."""
    current = api.get(f"/v1/slots/{SLOT}/certificates").json()
    upload = {"certificate_pem": pem[0].decode(), "key_pem": pem[1].decode()}
    if not current:
        return api.post(f"/v1/slots/{SLOT}/certificates", json=upload)
    return api.put(f"/v1/slots/{SLOT}/certificates/{current[0]['id']}", json=upload)


def _files_match(directory: Path, certificate_pem: str) -> bool:
    """The slot's files hold this certificate, and the key file is its key."""
    try:
        on_disk = x509.load_pem_x509_certificate((directory / "cert.pem").read_bytes())
        key = load_pem_private_key((directory / "key.pem").read_bytes(), password=None)
    except (OSError, ValueError):
        return False
    wanted = x509.load_pem_x509_certificate(certificate_pem.encode())
    public = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return on_disk == wanted and public == wanted.public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    )


def _run_until_killed(
    service: Service, work: Callable[[httpx.Client, int], None], *, threads: int, enough: int
) -> None:
    """Start ``threads`` clients looping ``work`` (a call that returns was acknowledged);
    SIGKILL the service, without warning, once ``enough`` calls were acknowledged."""
    done = itertools.count()
    acknowledged = [0]
    errors: list[BaseException] = []
    lock = threading.Lock()
    killed = threading.Event()

    def client() -> None:
        with service.client() as api:
            while not killed.is_set():
                try:
                    work(api, next(done))
                except Exception as exc:  # after the kill: expected; before it: reported
                    if not killed.is_set():
                        errors.append(exc)
                    return
                with lock:
                    acknowledged[0] += 1

    running = [threading.Thread(target=client) for _ in range(threads)]
    for thread in running:
        thread.start()
    ready = poll_until(lambda: acknowledged[0] >= enough or bool(errors), within=120)
    assert ready and not errors, errors
    killed.set()
    os.killpg(service.process.pid, signal.SIGKILL)
    service.process.wait(timeout=30)
    for thread in running:
        thread.join(timeout=60)


def test_a_node_killed_mid_rotation_keeps_every_acknowledged_version_and_ciphertext(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "node"
    rotations: list[int] = []
    sealed: list[tuple[bytes, str, int]] = []
    lock = threading.Lock()

    with running_service(data_dir, log=tmp_path / "first.log") as service:
        with service.client() as api:
            key_id = _create_key(api)

        def work(api: httpx.Client, number: int) -> None:
            if number % 3 == 0:
                response = api.post(f"/v1/kms/keys/{key_id}/rotate")
                assert response.status_code == 200, response.text
                with lock:
                    rotations.append(response.json()["primary_version"])
                return
            plaintext = f"secret {number}".encode()
            response = api.post(
                f"/v1/kms/keys/{key_id}/encrypt", json={"plaintext": _b64(plaintext)}
            )
            assert response.status_code == 200, response.text
            body = response.json()
            with lock:
                sealed.append((plaintext, body["ciphertext"], body["key_version"]))

        _run_until_killed(service, work, threads=3, enough=45)

    with (
        running_service(data_dir, log=tmp_path / "second.log") as restarted,
        restarted.client() as api,
    ):
        primary, versions = _versions(api, key_id)
        # No gaps, no twins: 1..n; the primary is the newest; every acknowledged rotation kept.
        assert versions == list(range(1, len(versions) + 1))
        assert primary == versions[-1]
        assert set(rotations) <= set(versions)
        assert len(versions) - 1 in (len(rotations), len(rotations) + 1)  # + one in flight
        for plaintext, ciphertext, version in sealed:
            opened = api.post("/v1/kms/decrypt", json={"ciphertext": ciphertext})
            assert opened.status_code == 200, opened.text
            assert base64.b64decode(opened.json()["plaintext"]) == plaintext
            assert opened.json()["key_version"] == version


def test_a_node_killed_mid_slot_change_restarts_with_files_equal_to_its_database(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "node"
    data_dir.mkdir(mode=0o700)
    directory = tmp_path / "slots" / "web"
    (data_dir / "certward.toml").write_text(_slot_config(directory))
    ca = TestCA("Crash Root")
    uploads = [ca.issue(HOST) for _ in range(60)]
    sent: list[str] = []  # fingerprints in the order the client sent them
    acknowledged: list[str] = []

    with running_service(data_dir, log=tmp_path / "first.log") as service:

        def work(api: httpx.Client, number: int) -> None:
            upload = uploads[number % len(uploads)]
            sent.append(upload.certificate.fingerprint(hashes.SHA256()).hex())
            response = _replace(api, (upload.chain_pem, upload.key_pem))
            assert response.status_code in (200, 201), response.text
            acknowledged.append(response.json()["fingerprint_sha256"])

        _run_until_killed(service, work, threads=1, enough=15)

    with (
        running_service(data_dir, log=tmp_path / "second.log") as restarted,
        restarted.client() as api,
    ):
        current = _current_certificate(api)
        assert _files_match(directory, current["certificate_pem"])
        # One client: answers come in the order sent. The last acknowledged change holds,
        # unless the one in flight at the kill committed too.
        assert acknowledged == sent[: len(acknowledged)]
        assert current["fingerprint_sha256"] in sent[len(acknowledged) - 1 :]
    with closing(sqlite3.connect(data_dir / "certward.db")) as db:
        (changes,) = db.execute(
            "SELECT count(*) FROM cert_events WHERE slot = ? AND kind IN ('installed', 'replaced')",
            (SLOT,),
        ).fetchone()
    assert len(acknowledged) <= changes <= len(sent)


def _two_nodes_with_own_slot_dirs(
    stack: ExitStack, tmp_path: Path, url: str
) -> list[tuple[Service, Path]]:
    """Two nodes on one database; each renders slot ``server/web`` into a directory of its own."""
    first_dir, first_slot = tmp_path / "node-a", tmp_path / "slots-a" / "web"
    first_dir.mkdir(mode=0o700)
    (first_dir / "certward.toml").write_text(_slot_config(first_slot))
    first = stack.enter_context(running_service(first_dir, log=tmp_path / "a.log", database=url))
    second_dir, second_slot = join_dir(first_dir, tmp_path / "node-b"), tmp_path / "slots-b" / "web"
    config = second_dir / "certward.toml"
    config.write_text(config.read_text().replace(str(first_slot), str(second_slot)))
    second = stack.enter_context(running_service(second_dir, log=tmp_path / "b.log", database=url))
    return [(first, first_slot), (second, second_slot)]


@pytest.mark.pg
def test_two_nodes_rotating_one_key_at_once_make_one_version_per_rotation(
    three_nodes: list[Service],
) -> None:
    first, second = three_nodes[0], three_nodes[1]
    with first.client() as api:
        key_id = _create_key(api)
    primaries: list[int] = []
    failures: list[BaseException] = []

    def rotate(node: Service) -> None:
        try:
            with node.client() as api:
                for _ in range(10):
                    response = api.post(f"/v1/kms/keys/{key_id}/rotate")
                    assert response.status_code == 200, response.text
                    primaries.append(response.json()["primary_version"])
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=rotate, args=(node,)) for node in (first, second) * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures

    assert sorted(primaries) == list(range(2, 42))  # each rotation made its own version
    with second.client() as api:
        primary, versions = _versions(api, key_id)
    assert versions == list(range(1, 42))
    assert primary == 41


@pytest.mark.pg
def test_two_nodes_changing_one_slot_at_once_agree_with_the_database(
    tmp_path: Path, cluster_url: str
) -> None:
    ca = TestCA("Cluster Slot Root")
    uploads = [ca.issue(HOST) for _ in range(16)]
    acknowledged: list[str] = []
    failures: list[BaseException] = []

    with ExitStack() as stack:
        nodes = _two_nodes_with_own_slot_dirs(stack, tmp_path, cluster_url)

        def change(index: int, node: Service) -> None:
            try:
                with node.client() as api:
                    for upload in uploads[index::2]:
                        for _attempt in range(20):
                            response = _replace(api, (upload.chain_pem, upload.key_pem))
                            # The other node replaced the id we read first: read again.
                            if response.status_code not in (404, 400):
                                break
                        assert response.status_code in (200, 201), response.text
                        acknowledged.append(response.json()["fingerprint_sha256"])
            except BaseException as exc:  # reported below
                failures.append(exc)

        threads = [
            threading.Thread(target=change, args=(index, service))
            for index, (service, _) in enumerate(nodes)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not failures, failures
        assert len(acknowledged) == len(uploads)

        with nodes[0][0].client() as api:
            current = _current_certificate(api)
        for _, slot_dir in nodes:
            assert poll_until(
                lambda slot_dir=slot_dir: _files_match(slot_dir, current["certificate_pem"]),
                within=10,
            ), slot_dir

    engine = create_engine(cluster_url)
    with engine.connect() as connection:
        changes = connection.scalar(
            text(
                "SELECT count(*) FROM cert_events WHERE slot = :slot "
                "AND kind IN ('installed', 'replaced')"
            ),
            {"slot": SLOT},
        )
    engine.dispose()
    assert changes == len(acknowledged)
