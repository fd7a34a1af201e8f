"""``Idempotency-Key``: a retried mutating call is answered again, never carried out twice."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.server.service import Service, assert_error


def _key() -> str:
    return f"test-{uuid.uuid4().hex}"


def _issue(api: httpx.Client, name: str, key: str | None) -> httpx.Response:
    headers = {"idempotency-key": key} if key else {}
    body = {"ca": "issuing", "profile": "client", "common_name": name}
    return api.post("/v1/certificates", json=body, headers=headers)


def _certificates_named(service: Service, name: str) -> int:
    with sqlite3.connect(service.data_dir / "certward.db") as db:
        (count,) = db.execute(
            "SELECT count(*) FROM certificates WHERE subject LIKE ?", (f"%{name}%",)
        ).fetchone()
    return int(count)


def test_a_retry_with_the_same_key_gets_the_same_certificate_and_issues_none(
    service: Service,
) -> None:
    name, key = f"idem-{uuid.uuid4().hex[:8]}", _key()
    with service.client() as api:
        first = _issue(api, name, key)
        again = _issue(api, name, key)

    assert first.status_code == again.status_code == 201
    assert again.json()["serial"] == first.json()["serial"]
    assert again.json()["private_key_pem"] == first.json()["private_key_pem"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert _certificates_named(service, name) == 1


def test_without_a_key_every_call_is_carried_out(service: Service) -> None:
    name = f"plain-{uuid.uuid4().hex[:8]}"
    with service.client() as api:
        serials = {_issue(api, name, None).json()["serial"] for _ in range(2)}

    assert len(serials) == 2
    assert _certificates_named(service, name) == 2


def test_a_key_reused_for_another_request_is_refused(service: Service) -> None:
    key = _key()
    with service.client() as api:
        assert _issue(api, f"one-{uuid.uuid4().hex[:8]}", key).status_code == 201
        other = f"two-{uuid.uuid4().hex[:8]}"
        refused = _issue(api, other, key)

    assert_error(refused, 422, "idempotency.key_reused")
    assert _certificates_named(service, other) == 0


def test_keys_belong_to_one_principal(service: Service, tmp_path: Path) -> None:
    other = service.create_principal(
        tmp_path, grants=[{"permission": "ca.issue", "resources": ["issuing"]}]
    )
    name, key = f"mine-{uuid.uuid4().hex[:8]}", _key()
    with service.client() as api, service.client(other) as theirs:
        mine = _issue(api, name, key)
        own = _issue(theirs, name, key)

    assert mine.status_code == own.status_code == 201
    assert own.json()["serial"] != mine.json()["serial"]
    assert "idempotent-replayed" not in own.headers


def test_a_replayed_revocation_answers_as_the_first_did(service: Service) -> None:
    key = _key()
    with service.client() as api:
        serial = _issue(api, f"rev-{uuid.uuid4().hex[:8]}", None).json()["serial"]
        path = f"/v1/certificates/{serial}/revoke"
        first = api.post(path, json={"reason": "superseded"}, headers={"idempotency-key": key})
        again = api.post(path, json={"reason": "superseded"}, headers={"idempotency-key": key})
        plain = api.post(path, json={"reason": "superseded"})

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert_error(plain, 409, "certificate.already_revoked")


def test_a_malformed_key_is_refused_before_anything_happens(service: Service) -> None:
    name = f"bad-{uuid.uuid4().hex[:8]}"
    with service.client() as api:
        refused = _issue(api, name, "short")

    assert_error(refused, 400, "input.invalid")
    assert _certificates_named(service, name) == 0


def test_the_stored_answer_is_sealed(service: Service) -> None:
    key = _key()
    with service.client() as api:
        issued = _issue(api, f"sealed-{uuid.uuid4().hex[:8]}", key).json()
    with sqlite3.connect(service.data_dir / "certward.db") as db:
        (blob,) = db.execute(
            "SELECT answer_sealed FROM idempotency_keys WHERE key = ?", (key,)
        ).fetchone()

    assert blob is not None
    assert issued["serial"].encode() not in blob
    assert b"PRIVATE KEY" not in blob


def test_a_call_that_changes_nothing_stores_no_key(service: Service) -> None:
    key = _key()
    with service.client() as api:
        created = api.post("/v1/kms/keys", json={"spec": "EC_P256", "usage": "SIGN_VERIFY"})
        signed = api.post(
            f"/v1/kms/keys/{created.json()['key_id']}/sign",
            json={"message": "bWVzc2FnZQ==", "algorithm": "ECDSA_SHA_256"},
            headers={"idempotency-key": key},
        )
    with sqlite3.connect(service.data_dir / "certward.db") as db:
        (count,) = db.execute(
            "SELECT count(*) FROM idempotency_keys WHERE key = ?", (key,)
        ).fetchone()

    assert signed.status_code == 200, signed.text
    assert count == 0


def test_concurrent_first_attempts_with_one_key_issue_once_and_answer_as_retries(
    service: Service,
) -> None:
    name, key = f"race-{uuid.uuid4().hex[:8]}", _key()
    barrier = threading.Barrier(8)

    def attempt() -> httpx.Response:
        with service.client() as api:
            barrier.wait()
            return _issue(api, name, key)

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: attempt(), range(8)))

    issued = [a for a in answers if a.status_code == 201]
    assert {a.json()["serial"] for a in issued} == {issued[0].json()["serial"]}
    for answer in answers:
        if answer.status_code != 201:  # the answer was not stored yet: never a second issue
            assert_error(answer, 409, "idempotency.in_progress")
    assert _certificates_named(service, name) == 1
