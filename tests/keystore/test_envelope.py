"""Envelope encryption: blob format, binding to the record id, tamper detection."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from certward.errors import DecryptionFailed
from certward.keystore.envelope import (
    BLOB_FORMAT,
    BLOB_OVERHEAD,
    open_envelope,
    parse_envelope,
    rewrap_envelope,
    seal_envelope,
)

MASTER = AESGCM(os.urandom(32))
OTHER_MASTER = AESGCM(os.urandom(32))
KEY_ID = 3
RECORD = "ca/issuing/key"
PLAINTEXT = b"-----BEGIN PRIVATE KEY----- not really -----END PRIVATE KEY-----"

record_ids = st.text(min_size=1, max_size=64)


def seal(plaintext: bytes = PLAINTEXT, *, record_id: str = RECORD) -> bytes:
    return seal_envelope(plaintext, record_id=record_id, master_key_id=KEY_ID, master=MASTER)


def open_blob(blob: bytes, *, record_id: str = RECORD, master: AESGCM = MASTER) -> bytes:
    envelope = parse_envelope(blob, record_id=record_id)
    return open_envelope(envelope, record_id=record_id, master=master)


def test_sealed_blob_opens_to_the_plaintext() -> None:
    assert open_blob(seal()) == PLAINTEXT


def test_empty_plaintext_round_trips() -> None:
    assert open_blob(seal(b"")) == b""


def test_blob_is_self_describing() -> None:
    blob = seal()

    envelope = parse_envelope(blob, record_id=RECORD)

    assert blob[0] == BLOB_FORMAT
    assert envelope.master_key_id == KEY_ID
    assert len(envelope.wrap_nonce) == 12
    assert len(envelope.wrapped_key) == 48
    assert len(envelope.nonce) == 12
    assert len(blob) == len(PLAINTEXT) + BLOB_OVERHEAD
    assert envelope.to_bytes() == blob


def test_sealing_twice_gives_different_blobs() -> None:
    assert seal() != seal()


def test_plaintext_does_not_appear_in_the_blob() -> None:
    assert PLAINTEXT[:16] not in seal()


def test_every_tampered_byte_fails_to_open() -> None:
    blob = seal()

    for index in range(len(blob)):
        tampered = blob[:index] + bytes([blob[index] ^ 0x80]) + blob[index + 1 :]
        with pytest.raises(DecryptionFailed):
            open_blob(tampered)


def test_every_truncation_fails_to_open() -> None:
    blob = seal()

    for length in range(len(blob)):
        with pytest.raises(DecryptionFailed):
            open_blob(blob[:length])


def test_appended_byte_fails_to_open() -> None:
    with pytest.raises(DecryptionFailed):
        open_blob(seal() + b"\0")


def test_blob_moved_to_another_record_fails_to_open() -> None:
    blob = seal(record_id="kms/key-1/v1")

    with pytest.raises(DecryptionFailed, match="kms/key-2/v1"):
        open_blob(blob, record_id="kms/key-2/v1")


def test_blob_under_another_master_key_fails_to_open() -> None:
    with pytest.raises(DecryptionFailed):
        open_blob(seal(), master=OTHER_MASTER)


def test_unknown_blob_format_is_named() -> None:
    blob = bytes([BLOB_FORMAT + 1]) + seal()[1:]

    with pytest.raises(DecryptionFailed, match="format 2"):
        open_blob(blob)


def test_truncated_blob_message_says_truncated() -> None:
    with pytest.raises(DecryptionFailed, match="truncated"):
        open_blob(b"\x01")


def test_failure_message_carries_no_plaintext_or_blob_bytes() -> None:
    blob = seal(record_id="a")

    with pytest.raises(DecryptionFailed) as caught:
        open_blob(blob, record_id="b")

    message = caught.value.message
    assert PLAINTEXT.decode() not in message
    assert blob.hex()[:16] not in message
    assert caught.value.__cause__ is None


def test_empty_record_id_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="record_id"):
        seal(record_id="")


def test_rewrap_changes_the_key_id_and_keeps_the_payload_bytes() -> None:
    blob = seal()

    rewrapped = rewrap_envelope(
        parse_envelope(blob, record_id=RECORD),
        record_id=RECORD,
        master=MASTER,
        new_master_key_id=KEY_ID + 1,
        new_master=OTHER_MASTER,
    )

    assert parse_envelope(rewrapped, record_id=RECORD).master_key_id == KEY_ID + 1
    assert rewrapped[-(len(PLAINTEXT) + 16 + 12) :] == blob[-(len(PLAINTEXT) + 16 + 12) :]
    assert open_blob(rewrapped, master=OTHER_MASTER) == PLAINTEXT
    with pytest.raises(DecryptionFailed):
        open_blob(rewrapped, master=MASTER)


def test_rewrap_with_wrong_record_id_fails() -> None:
    blob = seal(record_id="a")

    with pytest.raises(DecryptionFailed):
        rewrap_envelope(
            parse_envelope(blob, record_id="b"),
            record_id="b",
            master=MASTER,
            new_master_key_id=KEY_ID + 1,
            new_master=OTHER_MASTER,
        )


@given(plaintext=st.binary(max_size=2048), record_id=record_ids)
def test_any_plaintext_and_record_id_round_trip(plaintext: bytes, record_id: str) -> None:
    blob = seal(plaintext, record_id=record_id)

    assert open_blob(blob, record_id=record_id) == plaintext


@given(
    plaintext=st.binary(max_size=256),
    record_id=record_ids,
    position=st.integers(min_value=0),
    flip=st.integers(min_value=1, max_value=255),
)
def test_any_single_byte_mutation_never_opens(
    plaintext: bytes, record_id: str, position: int, flip: int
) -> None:
    blob = seal(plaintext, record_id=record_id)
    index = position % len(blob)
    mutated = blob[:index] + bytes([blob[index] ^ flip]) + blob[index + 1 :]

    with pytest.raises(DecryptionFailed):
        open_blob(mutated, record_id=record_id)


@given(
    plaintext=st.binary(max_size=256),
    record_id=record_ids,
    cut=st.integers(min_value=1),
    extra=st.binary(min_size=1, max_size=32),
)
def test_any_truncation_or_extension_never_opens(
    plaintext: bytes, record_id: str, cut: int, extra: bytes
) -> None:
    blob = seal(plaintext, record_id=record_id)

    with pytest.raises(DecryptionFailed):
        open_blob(blob[: -(cut % len(blob) or 1)], record_id=record_id)
    with pytest.raises(DecryptionFailed):
        open_blob(blob + extra, record_id=record_id)


@given(plaintext=st.binary(max_size=256), sealed_for=record_ids, opened_as=record_ids)
def test_any_other_record_id_never_opens(plaintext: bytes, sealed_for: str, opened_as: str) -> None:
    blob = seal(plaintext, record_id=sealed_for)

    if opened_as == sealed_for:
        assert open_blob(blob, record_id=opened_as) == plaintext
    else:
        with pytest.raises(DecryptionFailed):
            open_blob(blob, record_id=opened_as)


@given(garbage=st.binary(max_size=200), record_id=record_ids)
def test_arbitrary_bytes_never_open(garbage: bytes, record_id: str) -> None:
    with pytest.raises(DecryptionFailed):
        open_blob(garbage, record_id=record_id)
