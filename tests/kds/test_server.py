"""The key route: the raw ASGI app driven in-process, and a real ``certward kds serve``."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.client
import json
import ssl
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from certward.ca.crl import publish_crl
from certward.ca.revoke import revoke_certificate
from certward.kds.ident import KeyIdent
from certward.kds.masterkeys import MasterKeySet, export_master_keys, publish_master_key
from certward.kds.response import KeyResponse
from certward.kds.server import KdsApp
from tests.kds.kds_service import KdsIdentity, KdsNode, KdsPKI, running_kds
from tests.server.service import poll_until

SERVERS = (bytes([10, 0, 0, 2]), bytes(16))


def _masters(pki: KdsPKI) -> dict[int, bytes]:
    document = json.loads(export_master_keys(pki.context, principal="test"))
    return {entry["timestamp"]: base64.b64decode(entry["key"]) for entry in document}


def _expected(ts: int, master: bytes, nonce: int, group: str, client: KdsIdentity) -> bytes:
    """Limax's formula, written out: SHA-256(be64(ts) || master || "ts nonce group" || issuer)."""
    text = f"{ts} {nonce} {group}".encode()
    issuer = client.cert.issuer.public_bytes()
    return hashlib.sha256(struct.pack(">q", ts) + master + text + issuer).digest()


# -- in-process: the ASGI app as uvicorn + TLSScopeProtocol call it --------------------------


@dataclass
class Answer:
    status: int
    headers: dict[bytes, bytes]
    body: bytes

    def error_code(self) -> str:
        code: str = json.loads(self.body)["error"]["code"]
        return code


@dataclass
class InProcess:
    pki: KdsPKI
    keys: MasterKeySet
    app: KdsApp
    alice: KdsIdentity
    timestamps: tuple[int, ...]


@pytest.fixture(scope="module")
def in_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    pki = KdsPKI.create(tmp_path_factory.mktemp("asgi") / "certward-data")
    alice = pki.client_identity("urn:prjA#10s", "urn:prjB", stem="alice")
    stamps = tuple(
        publish_master_key(pki.context, created_by="test", clock_ms=lambda t=t: t)
        for t in (1_000, 2_000, 3_000)
    )
    keys = MasterKeySet(pki.context)
    keys.refresh()
    yield InProcess(pki, keys, KdsApp(keys=keys, servers=lambda: SERVERS), alice, stamps)
    pki.close()


def _tls_extension(identity: KdsIdentity | None) -> dict[str, Any]:
    if identity is None:
        return {}
    pem = identity.certificate.read_text().split("-----END CERTIFICATE-----")[0]
    pem += "-----END CERTIFICATE-----\n"
    der = ssl.PEM_cert_to_DER_cert(pem)
    return {
        "tls": {
            "client_cert_chain": [pem],
            "certward.client_fingerprint": hashlib.sha256(der).hexdigest(),
        }
    }


def _call(
    app: KdsApp,
    chunks: list[bytes],
    identity: KdsIdentity | None,
    *,
    method: str = "POST",
    path: str = "/",
    declared: int | None = None,
    endless: bool = False,
) -> tuple[Answer, int]:
    """Run one request through the app; the answer and how many body chunks it read."""
    headers = [(b"content-type", b"application/octet-stream")]
    if declared is not None:
        headers.append((b"content-length", str(declared).encode()))
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": headers,
        "client": ("192.0.2.7", 50000),
        "extensions": _tls_extension(identity),
    }
    read = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        read += 1
        if endless:
            return {"type": "http.request", "body": b"\0" * 1024, "more_body": True}
        body = chunks[read - 1] if read <= len(chunks) else b""
        return {"type": "http.request", "body": body, "more_body": read < len(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start, body = sent[0], sent[1]
    return Answer(start["status"], dict(start["headers"]), body["body"]), read


def test_the_app_answers_the_derived_key_of_the_current_master_key(in_process: InProcess) -> None:
    ident = KeyIdent(-1, 170_000, "urn:prjA")

    answer, _ = _call(in_process.app, [ident.encode()], in_process.alice)

    assert answer.status == 200
    assert answer.headers[b"content-type"] == b"application/octet-stream"
    response = KeyResponse.decode(answer.body)
    master = _masters(in_process.pki)[2_000]
    assert response.timestamp == 2_000  # the second-newest
    assert response.key == _expected(2_000, master, 170_000, "urn:prjA", in_process.alice)
    assert response.servers == SERVERS


def test_a_known_timestamp_gets_its_own_key_and_an_unknown_one_the_current(
    in_process: InProcess,
) -> None:
    own, _ = _call(in_process.app, [KeyIdent(1_000, 5, "urn:prjB").encode()], in_process.alice)
    unknown, _ = _call(in_process.app, [KeyIdent(1_500, 5, "urn:prjB").encode()], in_process.alice)

    assert KeyResponse.decode(own.body).timestamp == 1_000
    assert KeyResponse.decode(unknown.body).timestamp == 2_000


def test_a_body_split_into_chunks_is_put_together(in_process: InProcess) -> None:
    data = KeyIdent(-1, 1, "urn:prjA").encode()

    answer, read = _call(in_process.app, [data[:3], data[3:9], data[9:]], in_process.alice)

    assert answer.status == 200 and read == 3


def test_a_declared_oversized_body_is_refused_before_it_is_read(in_process: InProcess) -> None:
    answer, read = _call(in_process.app, [b""], in_process.alice, declared=4097)

    assert (answer.status, answer.error_code(), read) == (413, "input.too_large", 0)
    assert answer.headers[b"connection"] == b"close"


def test_an_endless_chunked_body_is_refused_once_it_passes_the_limit(
    in_process: InProcess,
) -> None:
    answer, read = _call(in_process.app, [], in_process.alice, endless=True)

    assert (answer.status, answer.error_code()) == (413, "input.too_large")
    assert read == 5  # 5 KiB read, not more


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/"), ("POST", "/keys"), ("PUT", "/"), ("DELETE", "/")]
)
def test_anything_but_post_slash_is_a_400(in_process: InProcess, method: str, path: str) -> None:
    answer, _ = _call(in_process.app, [b""], in_process.alice, method=method, path=path)

    assert (answer.status, answer.error_code()) == (400, "input.invalid")


def test_a_request_without_client_certificate_is_a_400(in_process: InProcess) -> None:
    answer, _ = _call(in_process.app, [KeyIdent(-1, 1, "urn:prjA").encode()], None)

    assert (answer.status, answer.error_code()) == (400, "auth.required")


def test_an_empty_master_key_set_is_a_503(
    in_process: InProcess, tmp_path_factory: pytest.TempPathFactory
) -> None:
    empty = KdsPKI.create(tmp_path_factory.mktemp("empty") / "certward-data")
    keys = MasterKeySet(empty.context)
    keys.refresh()
    app = KdsApp(keys=keys, servers=lambda: ())

    answer, _ = _call(app, [KeyIdent(-1, 1, "urn:prjA").encode()], in_process.alice)
    empty.close()

    assert (answer.status, answer.error_code()) == (503, "service.unavailable")


# -- a real node over mutual TLS -------------------------------------------------------------


@dataclass
class Live:
    pki: KdsPKI
    node: KdsNode
    alice: KdsIdentity
    no_dns: KdsIdentity
    no_uri: KdsIdentity


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("live")
    pki = KdsPKI.create(root / "certward-data")
    server = pki.server_identity()
    alice = pki.client_identity("urn:prjA#10s", "urn:prjB", stem="alice")
    no_dns = pki.client_identity("urn:prjA", stem="no-dns", dns_name=None)
    no_uri = pki.client_identity(stem="no-uri")
    with running_kds(pki, server, log=root / "kds.log") as node:
        yield Live(pki, node, alice, no_dns, no_uri)
    pki.close()


def test_a_key_request_over_mutual_tls_gets_the_limax_key(live: Live) -> None:
    response = live.node.request_key(KeyIdent(-1, 42, "urn:prjA"), live.alice)

    master = _masters(live.pki)[response.timestamp]
    assert response.key == _expected(response.timestamp, master, 42, "urn:prjA", live.alice)
    assert response.servers == ()  # the only node


def _keep_alive(node: KdsNode, identity: KdsIdentity) -> http.client.HTTPSConnection:
    return http.client.HTTPSConnection(
        node.host, node.port, context=node.ssl_context(identity), timeout=30
    )


def _exchange(
    connection: http.client.HTTPSConnection, body: bytes, *, method: str = "POST", path: str = "/"
) -> tuple[int, bytes]:
    connection.request(method, path, body=body, headers={"Content-Type": "text/plain"})
    response = connection.getresponse()
    return response.status, response.read()


def test_bad_input_gets_its_answer_and_the_server_keeps_serving(live: Live) -> None:
    good = KeyIdent(-1, 7, "urn:prjB").encode()
    connection = _keep_alive(live.node, live.alice)
    cases = [
        ("malformed ident", b"\x00\x01garbage", "POST", "/", 400, "kds.malformed_key_ident"),
        ("trailing bytes", good + b"\x00", "POST", "/", 400, "kds.malformed_key_ident"),
        ("group not in cert", KeyIdent(-1, 7, "urn:prjC").encode(), "POST", "/", 400,
         "kds.unsupported_uri"),
        ("GET", b"", "GET", "/", 400, "input.invalid"),
        ("other path", good, "POST", "/v1/keys", 400, "input.invalid"),
    ]  # fmt: skip
    try:
        for what, body, method, path, status, code in cases:
            got_status, got_body = _exchange(connection, body, method=method, path=path)
            assert (got_status, json.loads(got_body)["error"]["code"]) == (status, code), what
            # same keep-alive connection: still answered
            assert _exchange(connection, good)[0] == 200, f"after {what}"
    finally:
        connection.close()


def test_an_oversized_ident_is_refused_and_the_server_keeps_serving(live: Live) -> None:
    status, _, body = live.node.post(b"\x00" * 5000, live.alice)

    assert (status, json.loads(body)["error"]["code"]) == (413, "input.too_large")
    assert live.node.request_key(KeyIdent(-1, 1, "urn:prjA"), live.alice).key


@pytest.mark.parametrize(
    ("who", "code"),
    [
        ("no_dns", "kds.san_without_dns_name"),
        ("no_uri", "kds.san_without_uri"),
        (None, "auth.required"),
    ],
)
def test_a_client_certificate_that_is_not_a_kds_client_gets_a_400(
    live: Live, who: str | None, code: str
) -> None:
    identity = getattr(live, who) if who else None

    status, _, body = live.node.post(KeyIdent(-1, 1, "urn:prjA").encode(), identity)

    assert (status, json.loads(body)["error"]["code"]) == (400, code)
    assert live.node.request_key(KeyIdent(-1, 1, "urn:prjA"), live.alice).key


def test_an_unknown_timestamp_gets_the_current_key(live: Live) -> None:
    current = live.node.request_key(KeyIdent(-1, 9, "urn:prjA"), live.alice)

    stale = live.node.request_key(KeyIdent(12345, 9, "urn:prjA"), live.alice)

    assert (stale.timestamp, stale.key) == (current.timestamp, current.key)


def test_every_key_request_is_logged_without_the_key(live: Live) -> None:
    response = live.node.request_key(KeyIdent(-1, 777_001, "urn:prjB"), live.alice)

    def logged() -> dict[str, Any] | None:
        for line in live.node.output().splitlines():
            if line.startswith("{") and "777001" in line:
                event: dict[str, Any] = json.loads(line)
                return event
        return None

    event = poll_until(logged, within=10)
    assert event is not None, live.node.output()
    assert event["event"] == "kds.key_request"
    assert event["ident"] == "-1 777001 urn:prjB"
    assert event["subject"] == "CN=alice"
    assert event["peer"].startswith("127.0.0.1:")
    log = live.node.output()
    assert response.key.hex() not in log
    assert base64.b64encode(response.key).decode() not in log


def test_a_revoked_client_is_refused_at_the_handshake_without_restart(
    tmp_path: Path,
) -> None:
    pki = KdsPKI.create(tmp_path / "certward-data")
    server = pki.server_identity()
    alice = pki.client_identity("urn:prjA", stem="alice")
    bob = pki.client_identity("urn:prjA", stem="bob")
    with running_kds(pki, server, log=tmp_path / "kds.log") as node:
        assert node.request_key(KeyIdent(-1, 1, "urn:prjA"), alice).key

        revoke_certificate(pki.context, alice.serial, reason="keyCompromise")
        publish_crl(pki.context, "issuing")

        def refused_as_revoked() -> bool:
            # A refusal whose alert a reset overtook (plain EOF) is tried again, as
            # tests/server/test_live_revocation.py does: the alert must be seen.
            try:
                node.post(KeyIdent(-1, 1, "urn:prjA").encode(), alice)
            except (ssl.SSLError, ConnectionError) as exc:
                return "certificate revoked" in str(exc).lower().replace("_", " ")
            return False

        assert poll_until(refused_as_revoked, within=10), node.output()
        assert node.request_key(KeyIdent(-1, 1, "urn:prjA"), bob).key
    pki.close()
