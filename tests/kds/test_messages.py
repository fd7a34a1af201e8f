"""Signing and encrypting messages with KDS keys, ident carried along, against a real node."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from certward.errors import MalformedData, MalformedKeyIdent, UnsupportedURI
from certward.kds.client import KeyAllocator, KeyDesc
from certward.kds.codec import OctetsWriter
from certward.kds.ident import KeyIdent
from certward.kds.messages import ENCRYPTED, SIGNED, decrypt, encrypt, ident_of, sign, verify
from tests.kds.kds_service import KdsIdentity, KdsPKI, running_kds

MESSAGE = b"transfer 10 credits from A to B"


@dataclass
class Parties:
    sender: KeyAllocator  # alice: urn:prjA, urn:prjB
    receiver: KeyAllocator  # bob: urn:prjA
    outsider: KeyAllocator  # dave: urn:prjC


def _allocator(identity: KdsIdentity, pki: KdsPKI, port: int) -> KeyAllocator:
    allocator = KeyAllocator(identity.certificate, identity.key, pki.trust_file)
    allocator.set_host(f"127.0.0.1:{port}")
    return allocator


@pytest.fixture(scope="module")
def parties(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Parties]:
    base = tmp_path_factory.mktemp("kds-messages")
    pki = KdsPKI.create(base / "certward-data")
    alice = pki.client_identity("urn:prjA", "urn:prjB", stem="alice")
    bob = pki.client_identity("urn:prjA", stem="bob")
    dave = pki.client_identity("urn:prjC", stem="dave")
    with running_kds(pki, pki.server_identity(), log=base / "kds.log") as node:
        allocators = [_allocator(who, pki, node.port) for who in (alice, bob, dave)]
        yield Parties(*allocators)
        for allocator in allocators:
            allocator.close()
    pki.close()


def _subkey(key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key)


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


# -- encryption ----------------------------------------------------------------------------


def test_receiver_decrypts_what_the_sender_encrypted(parties: Parties) -> None:
    desc = parties.sender.create_key_desc("urn:prjA")

    envelope = encrypt(desc, MESSAGE, associated_data=b"order 42")

    assert decrypt(parties.receiver, envelope, associated_data=b"order 42") == MESSAGE


def test_encrypted_envelope_is_format_ident_nonce_ciphertext(parties: Parties) -> None:
    desc = parties.sender.create_key_desc("urn:prjA")

    envelope = encrypt(desc, MESSAGE)

    header = bytes([ENCRYPTED]) + OctetsWriter().octets(desc.ident).getvalue()
    assert envelope.startswith(header)
    assert ident_of(envelope) == desc.ident
    nonce, sealed = envelope[len(header) : len(header) + 12], envelope[len(header) + 12 :]
    assert len(sealed) == len(MESSAGE) + 16
    # Independently: AES-256-GCM under HKDF-SHA256(key, info "certward-kds-aead"), header as AAD.
    aead = AESGCM(_subkey(desc.key, b"certward-kds-aead"))
    assert aead.decrypt(nonce, sealed, header) == MESSAGE


def test_each_encryption_takes_a_fresh_nonce(parties: Parties) -> None:
    desc = parties.sender.create_key_desc("urn:prjA")
    assert encrypt(desc, MESSAGE) != encrypt(desc, MESSAGE)


@pytest.mark.parametrize("where", ["ciphertext", "nonce", "tag"])
def test_altered_ciphertext_does_not_decrypt(parties: Parties, where: str) -> None:
    desc = parties.sender.create_key_desc("urn:prjA")
    envelope = encrypt(desc, MESSAGE)
    index = {"ciphertext": -20, "nonce": len(envelope) - len(MESSAGE) - 16 - 1, "tag": -1}[where]

    with pytest.raises(MalformedData, match="does not verify"):
        decrypt(parties.receiver, _flip(envelope, index))


def test_other_associated_data_does_not_decrypt(parties: Parties) -> None:
    envelope = encrypt(parties.sender.create_key_desc("urn:prjA"), MESSAGE, associated_data=b"a")
    with pytest.raises(MalformedData, match="does not verify"):
        decrypt(parties.receiver, envelope, associated_data=b"b")


def test_an_ident_swapped_for_another_nonce_does_not_decrypt(parties: Parties) -> None:
    desc = parties.sender.create_key_desc("urn:prjA")
    ident = KeyIdent.decode(desc.ident)
    forged_ident = KeyIdent(ident.timestamp, ident.nonce + 1, ident.group).encode()
    forged = encrypt(KeyDesc(forged_ident, desc.key), MESSAGE)  # same bytes, other ident

    with pytest.raises(MalformedData, match="does not verify"):
        decrypt(parties.receiver, forged)


def test_receiver_outside_the_group_gets_unsupported_uri(parties: Parties) -> None:
    envelope = encrypt(parties.sender.create_key_desc("urn:prjA"), MESSAGE)
    with pytest.raises(UnsupportedURI):
        decrypt(parties.outsider, envelope)


@pytest.mark.parametrize(
    "envelope",
    [b"", b"\x07" + bytes(40), b"\x01", b"\x01\x05abc", b"\x01\x00" + bytes(27)],
    ids=["empty", "unknown-format", "no-ident", "short-ident", "short-body"],
)
def test_malformed_encrypted_envelope_is_refused(parties: Parties, envelope: bytes) -> None:
    with pytest.raises(MalformedData):
        decrypt(parties.receiver, envelope)


def test_garbage_ident_in_the_envelope_is_malformed_key_ident(parties: Parties) -> None:
    envelope = bytes([ENCRYPTED]) + OctetsWriter().octets(b"\x00\x01").getvalue() + bytes(40)
    with pytest.raises(MalformedKeyIdent):
        decrypt(parties.receiver, envelope)


# -- signatures ----------------------------------------------------------------------------


def test_receiver_verifies_what_the_sender_signed(parties: Parties) -> None:
    signed = sign(parties.sender.create_key_desc("urn:prjA"), MESSAGE)
    assert verify(parties.receiver, signed) == MESSAGE


def test_signed_envelope_is_format_ident_message_tag(parties: Parties) -> None:
    desc = parties.sender.create_key_desc("urn:prjA")

    signed = sign(desc, MESSAGE)

    body = bytes([SIGNED]) + OctetsWriter().octets(desc.ident).octets(MESSAGE).getvalue()
    assert signed[:-32] == body
    assert ident_of(signed) == desc.ident
    expected = hmac.new(_subkey(desc.key, b"certward-kds-mac"), body, hashlib.sha256).digest()
    assert signed[-32:] == expected


@pytest.mark.parametrize(
    ("index", "error"),
    [
        (-1, MalformedData),  # the tag
        (-33, MalformedData),  # the message
        (1, MalformedData),  # the ident's length: the rest no longer lines up
        (10, MalformedData),  # the ident's nonce: another key, the tag fails
        (20, UnsupportedURI),  # the ident's group: "vrn:prjA"
    ],
    ids=["tag", "message", "ident-length", "ident-nonce", "ident-group"],
)
def test_altered_signed_message_is_refused(
    parties: Parties, index: int, error: type[Exception]
) -> None:
    signed = sign(parties.sender.create_key_desc("urn:prjA"), MESSAGE)

    with pytest.raises(error):
        verify(parties.receiver, _flip(signed, index))


def test_signed_message_with_an_extra_byte_is_refused(parties: Parties) -> None:
    signed = sign(parties.sender.create_key_desc("urn:prjA"), MESSAGE)
    with pytest.raises(MalformedData, match="32-byte tag"):
        verify(parties.receiver, signed + b"\x00")


def test_an_encrypted_envelope_is_not_taken_for_a_signed_one(parties: Parties) -> None:
    envelope = encrypt(parties.sender.create_key_desc("urn:prjA"), MESSAGE)
    with pytest.raises(MalformedData, match="not a signed"):
        verify(parties.receiver, envelope)
