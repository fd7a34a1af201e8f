"""KeyAllocator against real ``certward kds serve`` processes: keys, refusals, cache, failover."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from certward.ca.authority import ca_chain, create_ca
from certward.ca.issue import issue_certificate
from certward.crypto.formats import certificate_pem, chain_pem
from certward.crypto.keys import private_key_to_pkcs8
from certward.errors import (
    InvalidInput,
    KeyException,
    KeyExceptionType,
    MalformedKeyIdent,
    PasswordError,
    ServerRekeyed,
    ServiceUnavailable,
    SubjectAltNameWithoutDNSName,
    SubjectAltNameWithoutURI,
    UnsupportedURI,
)
from certward.kds.client import DEFAULT_PORT, KeyAllocator, KeyDesc
from certward.kds.derive import derive_key
from certward.kds.ident import KeyIdent
from certward.kds.masterkeys import export_master_keys, import_master_keys
from tests.kds.kds_service import (
    KdsIdentity,
    KdsNode,
    KdsPKI,
    free_port,
    running_kds,
)

DAY_MS = 86_400_000


def _issue_elsewhere(pki: KdsPKI, ca_name: str, stem: str, sans: list[str]) -> KdsIdentity:
    """A kds-client certificate from another CA of the data dir."""
    issued = issue_certificate(
        pki.context, ca_name=ca_name, profile="kds-client", common_name=stem, sans=sans
    )
    assert issued.private_key is not None
    certificate = pki.directory / f"{stem}.crt"
    key = pki.directory / f"{stem}.key"
    certificate.write_bytes(chain_pem(issued.full_chain))
    key.write_bytes(private_key_to_pkcs8(issued.private_key))
    return KdsIdentity(stem, certificate, key, issued.serial, issued.certificate)


@dataclass
class Network:
    """One KDS node and the identities the tests use; ``connect`` makes closed-after allocators."""

    pki: KdsPKI
    node: KdsNode
    trusts: Path
    alice: KdsIdentity  # urn:prjA#10s, urn:prjB
    bob: KdsIdentity  # urn:prjA
    carol: KdsIdentity  # urn:prjA, like bob, but from another CA
    dave: KdsIdentity  # urn:prjC only

    def connect(self, identity: KdsIdentity, *hosts: str, **options: object) -> KeyAllocator:
        allocator = KeyAllocator(identity.certificate, identity.key, self.pki.trust_file, **options)  # type: ignore[arg-type]
        allocator.set_host(", ".join(hosts or (f"127.0.0.1:{self.node.port}",)))
        _opened.append(allocator)
        return allocator


_opened: list[KeyAllocator] = []


@pytest.fixture(autouse=True)
def _close_allocators() -> Iterator[None]:
    yield
    while _opened:
        _opened.pop().close()


@pytest.fixture(scope="module")
def kds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    base = tmp_path_factory.mktemp("kds-client")
    pki = KdsPKI.create(base / "certward-data")
    create_ca(pki.context, name="other-root", subject="/CN=Other Root CA/O=elsewhere")
    create_ca(
        pki.context, name="other-issuing", subject="/CN=Test Issuing CA/O=elsewhere",
        parent="other-root",
    )  # fmt: skip
    trusts = base / "trusts"
    trusts.mkdir()
    (trusts / "root.pem").write_bytes(pki.trust_file.read_bytes())
    # The node checks CRLs along the whole chain and takes them only from CAs it trusts, so
    # the foreign intermediate is in the trust set too (its CRL then comes from the data dir).
    (trusts / "other.pem").write_bytes(chain_pem(ca_chain(pki.context, "other-issuing")))
    alice = pki.client_identity("urn:prjA#10s", "urn:prjB", stem="alice")
    bob = pki.client_identity("urn:prjA", stem="bob")
    carol_sans = [f"DNS:{pki.kds_name}", "URI:urn:prjA"]
    carol = _issue_elsewhere(pki, "other-issuing", "carol", carol_sans)
    dave = pki.client_identity("urn:prjC", stem="dave")
    server = pki.server_identity()
    with running_kds(pki, server, log=base / "kds.log", trusts=trusts) as node:
        yield Network(pki, node, trusts, alice, bob, carol, dave)
    pki.close()


def _master_keys(pki: KdsPKI) -> dict[int, bytes]:
    document = json.loads(export_master_keys(pki.context, principal="test:kds-client"))
    return {entry["timestamp"]: base64.b64decode(entry["key"]) for entry in document}


# -- keys ----------------------------------------------------------------------------------


def test_two_clients_of_one_ca_and_group_get_the_same_key(kds: Network) -> None:
    sent = kds.connect(kds.alice).create_key_desc("urn:prjA")

    received = kds.connect(kds.bob).create_key_desc(sent.ident)

    assert received == KeyDesc(sent.ident, sent.key)
    assert len(sent.key) == 32  # SHA-256


def test_key_is_the_limax_formula_over_the_servers_master_key(kds: Network) -> None:
    before_ms = time.time_ns() // 1_000_000
    sent = kds.connect(kds.alice).create_key_desc("urn:prjA#ignored")
    after_ms = time.time_ns() // 1_000_000

    ident = KeyIdent.decode(sent.ident)
    master_keys = _master_keys(kds.pki)
    assert ident.timestamp in master_keys
    assert ident.group == "urn:prjA"
    assert before_ms // 10_000 <= ident.nonce <= after_ms // 10_000  # precision 10s
    assert sent.key == derive_key(
        timestamp=ident.timestamp,
        master_key=master_keys[ident.timestamp],
        ident=ident,
        issuer_der=kds.alice.cert.issuer.public_bytes(),
    )


def test_group_without_precision_uses_the_default_hour(kds: Network) -> None:
    before_ms = time.time_ns() // 1_000_000
    ident = KeyIdent.decode(kds.connect(kds.alice).create_key_desc("urn:prjB").ident)
    after_ms = time.time_ns() // 1_000_000

    assert before_ms // 3_600_000 <= ident.nonce <= after_ms // 3_600_000


def test_client_of_another_ca_with_the_same_kds_name_and_group_gets_another_key(
    kds: Network,
) -> None:
    sent = kds.connect(kds.alice).create_key_desc("urn:prjA")

    theirs = kds.connect(kds.carol).create_key_desc(sent.ident)

    assert theirs.ident == sent.ident
    assert theirs.key != sent.key
    assert kds.connect(kds.bob).create_key_desc(sent.ident).key == sent.key


def test_client_without_the_group_gets_unsupported_uri(kds: Network) -> None:
    sent = kds.connect(kds.alice).create_key_desc("urn:prjA")
    dave = kds.connect(kds.dave)

    with pytest.raises(UnsupportedURI) as as_receiver:
        dave.create_key_desc(sent.ident)
    with pytest.raises(UnsupportedURI) as as_sender:
        dave.create_key_desc("urn:prjA")

    assert as_receiver.value.type is KeyExceptionType.UnsupportedURI
    assert as_sender.value.type is KeyExceptionType.UnsupportedURI
    assert "urn:prjA" in str(as_sender.value)


@pytest.mark.parametrize(
    "ident",
    [b"", b"\x00" * 16, KeyIdent(1, 2, "urn:prjA").encode() + b"\x00"],
    ids=["empty", "truncated", "trailing"],
)
def test_undecodable_ident_is_malformed_key_ident(kds: Network, ident: bytes) -> None:
    with pytest.raises(MalformedKeyIdent) as raised:
        kds.connect(kds.bob).create_key_desc(ident)
    assert raised.value.type is KeyExceptionType.MalformedKeyIdent


def test_concurrent_callers_share_one_allocator(kds: Network) -> None:
    sent = kds.connect(kds.alice).create_key_desc("urn:prjA")
    timestamp = KeyIdent.decode(sent.ident).timestamp
    receiver = kds.connect(kds.bob)
    results: dict[int, bytes] = {}
    errors: list[BaseException] = []

    def fetch(nonce: int) -> None:
        try:
            ident = KeyIdent(timestamp, nonce, "urn:prjA").encode()
            results[nonce] = receiver.create_key_desc(ident).key
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=fetch, args=(nonce,)) for nonce in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    master_key = _master_keys(kds.pki)[timestamp]
    issuer = kds.bob.cert.issuer.public_bytes()
    assert results == {
        nonce: derive_key(
            timestamp=timestamp,
            master_key=master_key,
            ident=KeyIdent(timestamp, nonce, "urn:prjA"),
            issuer_der=issuer,
        )
        for nonce in range(40)
    }


# -- cache ---------------------------------------------------------------------------------


def test_cached_keys_are_served_without_asking_a_server(kds: Network) -> None:
    sender = kds.connect(kds.alice)
    sent = sender.create_key_desc("urn:prjB")  # precision 1 h: the nonce will not move

    sender.set_host(f"127.0.0.1:{free_port()}")  # nothing listens there

    assert sender.create_key_desc("urn:prjB") == sent  # timestamp -1: the newest seen
    assert sender.create_key_desc(sent.ident) == sent  # its own ident, as a receiver


def test_cache_forgets_the_oldest_entry_first(kds: Network) -> None:
    sent = kds.connect(kds.alice).create_key_desc("urn:prjA")
    timestamp = KeyIdent.decode(sent.ident).timestamp
    receiver = kds.connect(kds.bob, cache_capacity=2)
    first, second, third = (KeyIdent(timestamp, n, "urn:prjA").encode() for n in (101, 102, 103))
    keys = [receiver.create_key_desc(ident).key for ident in (first, second, third)]

    receiver.set_host(f"127.0.0.1:{free_port()}")

    assert receiver.create_key_desc(third).key == keys[2]
    assert receiver.create_key_desc(second).key == keys[1]
    with pytest.raises(ServiceUnavailable):
        receiver.create_key_desc(first)


# -- servers -------------------------------------------------------------------------------


def test_no_server_answering_is_service_unavailable_not_a_key_exception(kds: Network) -> None:
    dead = free_port()
    allocator = kds.connect(kds.alice, f"127.0.0.1:{dead}", timeout=2.0)

    with pytest.raises(ServiceUnavailable) as raised:
        allocator.create_key_desc("urn:prjA")

    assert not isinstance(raised.value, KeyException)
    assert f"127.0.0.1:{dead}" in str(raised.value)


def test_a_down_host_is_skipped_for_the_next_one(kds: Network) -> None:
    dead = f"127.0.0.1:{free_port()}"
    live = f"127.0.0.1:{kds.node.port}"
    allocator = kds.connect(kds.alice, dead, live)

    sent = allocator.create_key_desc("urn:prjA")

    assert kds.connect(kds.bob, live).create_key_desc(sent.ident).key == sent.key
    assert allocator.get_host() == f"{dead}, {live}"


def test_wrong_kds_name_on_the_server_certificate_is_refused(kds: Network, tmp_path: Path) -> None:
    impostor = kds.pki.server_identity("impostor", kds_name="other.example.org")
    with running_kds(kds.pki, impostor, log=tmp_path / "impostor.log", trusts=kds.trusts) as node:
        allocator = kds.connect(kds.alice, f"127.0.0.1:{node.port}")

        with pytest.raises(ServiceUnavailable) as raised:
            allocator.create_key_desc("urn:prjA")
        allocator.close()

    assert "'other.example.org'" in str(raised.value)
    assert f"KDSName '{kds.pki.kds_name}'" in str(raised.value)
    assert "kds.key_request" not in node.output()  # nothing was asked of it


def test_server_whose_certificate_does_not_chain_to_the_trust_is_refused(
    kds: Network, tmp_path: Path
) -> None:
    other_root = tmp_path / "other-root.pem"
    other_root.write_bytes(certificate_pem(ca_chain(kds.pki.context, "other-root")[0]))
    allocator = KeyAllocator(kds.carol.certificate, kds.carol.key, other_root)
    allocator.set_host(f"127.0.0.1:{kds.node.port}")
    _opened.append(allocator)

    with pytest.raises(ServiceUnavailable, match="certificate is not trusted"):
        allocator.create_key_desc("urn:prjA")


def test_server_that_does_not_trust_the_clients_ca_refuses_the_handshake(
    kds: Network, tmp_path: Path
) -> None:
    server = kds.pki.server_identity("strict")
    with running_kds(kds.pki, server, log=tmp_path / "strict.log") as node:  # root CA only
        allocator = kds.connect(kds.carol, f"127.0.0.1:{node.port}")

        with pytest.raises(ServiceUnavailable, match=r"refused|closed|reset"):
            allocator.create_key_desc("urn:prjA")
        allocator.close()


def test_clients_fail_over_to_a_random_server_the_answers_named(
    kds: Network, tmp_path: Path
) -> None:
    # Node B on 127.0.0.2 listens on the port of node A on 127.0.0.1: a raw address in
    # A's answers, on the port of the server that named it, is B.
    port = free_port()
    server = kds.pki.server_identity("pair")
    start = running_kds(
        kds.pki, server, log=tmp_path / "b.log", trusts=kds.trusts, host="127.0.0.2", port=port
    )
    with start as node_b:
        with running_kds(
            kds.pki, server, log=tmp_path / "a.log", trusts=kds.trusts, port=port
        ) as node_a:
            sender = kds.connect(kds.alice, f"127.0.0.1:{node_a.port}")
            receiver = kds.connect(kds.bob, f"127.0.0.1:{node_a.port}")  # only told about A
            sent = sender.create_key_desc("urn:prjA")
            receiver.create_key_desc("urn:prjA")  # an answer from A names B
            sender.close()  # no kept-alive connection holds up A's shutdown
            receiver.close()
        received = receiver.create_key_desc(sent.ident)  # A is gone
        receiver.close()

    assert received == sent
    asked_b = [line for line in node_b.output().splitlines() if "kds.key_request" in line]
    assert len(asked_b) == 1
    assert "CN=bob" in asked_b[0]
    assert KeyIdent.decode(sent.ident).text() in asked_b[0]


# -- master keys that are gone -------------------------------------------------------------


def test_receiver_gets_server_rekeyed_after_the_master_key_expired(tmp_path: Path) -> None:
    pki = KdsPKI.create(tmp_path / "certward-data")
    now = time.time_ns() // 1_000_000
    old, new = now - DAY_MS * 3 // 2, now - DAY_MS // 2
    keys = [
        {"timestamp": stamp, "key": base64.b64encode(bytes([n]) * 64).decode()}
        for n, stamp in ((1, old), (2, new))
    ]
    import_master_keys(pki.context, json.dumps(keys).encode(), principal="test:kds-client")
    server = pki.server_identity()
    sender_identity = pki.client_identity("urn:prjA", stem="sender")
    receiver_identity = pki.client_identity("urn:prjA", stem="receiver")
    sender = KeyAllocator(sender_identity.certificate, sender_identity.key, pki.trust_file)
    receiver = KeyAllocator(receiver_identity.certificate, receiver_identity.key, pki.trust_file)
    _opened.extend((sender, receiver))
    with running_kds(pki, server, log=tmp_path / "before.log") as node:
        sender.set_host(f"127.0.0.1:{node.port}")
        sent = sender.create_key_desc("urn:prjA")
        sender.close()
    assert KeyIdent.decode(sent.ident).timestamp == old  # the current key: second-newest

    # The node comes back with a one-day lifespan: the key of ``old`` expires at once.
    lifespan = ["--key-lifespan", "1"]
    with running_kds(pki, server, log=tmp_path / "after.log", args=lifespan) as node:
        receiver.set_host(f"127.0.0.1:{node.port}")
        with pytest.raises(ServerRekeyed) as raised:
            receiver.create_key_desc(sent.ident)
        resent = receiver.create_key_desc("urn:prjA")
        receiver.close()

    assert raised.value.type is KeyExceptionType.ServerRekeyed
    assert KeyIdent.decode(resent.ident).timestamp == new
    pki.close()


# -- the allocator itself ------------------------------------------------------------------


def test_dns_name_and_uris_come_from_the_certificate(kds: Network) -> None:
    allocator = kds.connect(kds.alice)

    assert allocator.get_dns_name() == kds.pki.kds_name
    assert allocator.get_uris() == {"urn:prjA": 10_000, "urn:prjB": 3_600_000}


def test_default_host_is_the_kds_name_on_port_443(kds: Network) -> None:
    allocator = KeyAllocator(kds.alice.certificate, kds.alice.key, kds.pki.trust_file)

    assert allocator.get_host() == kds.pki.kds_name
    assert DEFAULT_PORT == 443


def test_certificate_without_san_dns_name_is_refused(kds: Network) -> None:
    identity = kds.pki.client_identity("urn:prjA", stem="no-dns", dns_name=None)

    with pytest.raises(SubjectAltNameWithoutDNSName) as raised:
        KeyAllocator(identity.certificate, identity.key, kds.pki.trust_file)
    assert raised.value.type is KeyExceptionType.SubjectAltNameWithoutDNSName


def test_certificate_without_san_uri_is_refused(kds: Network) -> None:
    identity = kds.pki.client_identity(stem="no-uri")

    with pytest.raises(SubjectAltNameWithoutURI) as raised:
        KeyAllocator(identity.certificate, identity.key, kds.pki.trust_file)
    assert raised.value.type is KeyExceptionType.SubjectAltNameWithoutURI


def test_pem_bytes_and_an_encrypted_key_work_like_files(kds: Network) -> None:
    key = serialization.load_pem_private_key(kds.bob.key.read_bytes(), password=None)
    encrypted = private_key_to_pkcs8(key, password=b"kds-test-password")  # type: ignore[arg-type]
    allocator = KeyAllocator(
        kds.bob.certificate.read_bytes(),
        encrypted,
        kds.pki.trust_file.read_bytes(),
        password="kds-test-password",
    )
    allocator.set_host(f"127.0.0.1:{kds.node.port}")
    _opened.append(allocator)
    sent = kds.connect(kds.alice).create_key_desc("urn:prjA")

    assert allocator.create_key_desc(sent.ident).key == sent.key
    with pytest.raises(PasswordError):
        KeyAllocator(kds.bob.certificate, encrypted, kds.pki.trust_file)


@pytest.mark.parametrize(
    "hosts", ["", " , ", "host:0", "host:99999", "host:https", "[::1]x", ":8444"]
)
def test_set_host_refuses_what_is_no_host(kds: Network, hosts: str) -> None:
    allocator = kds.connect(kds.alice)
    with pytest.raises(InvalidInput):
        allocator.set_host(hosts)


def test_set_host_takes_names_ports_and_ipv6(kds: Network) -> None:
    allocator = kds.connect(kds.alice)

    allocator.set_host("kds1.example.org, kds2.example.org:8444, [::1]:9, ::1")

    assert allocator.get_host() == "kds1.example.org, kds2.example.org:8444, [::1]:9, ::1"


def test_key_desc_repr_hides_the_key() -> None:
    desc = KeyDesc(b"ident", b"\x13" * 32)
    assert "\\x13" not in repr(desc)
    assert "ident" in repr(desc)
