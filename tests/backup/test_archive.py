"""The encrypted backup container: what goes in comes out, and any change is refused."""

from __future__ import annotations

import io
import json
import os
import struct

import pytest

from certward.backup.archive import (
    MAGIC,
    MIN_PASSPHRASE_LENGTH,
    read_archive,
    read_header,
    write_archive,
)
from certward.errors import MalformedData, PasswordError

PASSPHRASE = b"correct horse battery staple"
# Random bytes do not compress: 2.5 MiB of them spread over three chunks.
PAYLOAD = [os.urandom(512 * 1024) for _ in range(5)]


def _archive(pieces: list[bytes] = PAYLOAD, *, passphrase: bytes = PASSPHRASE) -> bytes:
    out = io.BytesIO()
    write_archive(out, passphrase, pieces, fields={"schema_revision": "0003"})
    return out.getvalue()


def _read(data: bytes, passphrase: bytes = PASSPHRASE) -> bytes:
    _, payload = read_archive(io.BytesIO(data), passphrase)
    return b"".join(payload)


def _chunks(data: bytes) -> tuple[bytes, list[bytes]]:
    """The archive split into its header part and its length-prefixed chunks."""
    (header_len,) = struct.unpack(">I", data[len(MAGIC) + 1 : len(MAGIC) + 5])
    start = len(MAGIC) + 5 + header_len
    head, rest, chunks = data[:start], data[start:], []
    while rest:
        (length,) = struct.unpack(">I", rest[:4])
        chunks.append(rest[: 4 + length])
        rest = rest[4 + length :]
    return head, chunks


def test_the_payload_comes_back_byte_for_byte_across_several_chunks() -> None:
    data = _archive()
    assert len(_chunks(data)[1]) >= 3
    assert _read(data) == b"".join(PAYLOAD)


def test_an_empty_payload_round_trips() -> None:
    assert _read(_archive([])) == b""


def test_the_header_is_readable_without_the_passphrase_and_holds_no_secret() -> None:
    header = read_header(io.BytesIO(_archive([b"secret material"])))
    assert header.fields["schema_revision"] == "0003"
    assert header.fields["kdf"]["name"] == "scrypt"
    assert b"secret material" not in header.raw


def test_a_wrong_passphrase_is_refused_before_any_byte_is_returned() -> None:
    with pytest.raises(PasswordError, match="wrong passphrase"):
        _read(_archive(), b"not the passphrase at all")


def test_a_short_passphrase_is_refused_when_writing() -> None:
    with pytest.raises(PasswordError, match=str(MIN_PASSPHRASE_LENGTH)):
        _archive(passphrase=b"short")


@pytest.mark.parametrize("where", [0, 1, -1])
def test_one_changed_byte_in_any_chunk_is_refused(where: int) -> None:
    head, chunks = _chunks(_archive())
    damaged = bytearray(chunks[where])
    damaged[len(damaged) // 2] ^= 0x01
    chunks[where] = bytes(damaged)
    with pytest.raises((MalformedData, PasswordError)):
        _read(head + b"".join(chunks))


def test_a_changed_header_is_refused() -> None:
    data = _archive()
    header = read_header(io.BytesIO(data))
    fields = json.loads(header.raw)
    fields["schema_revision"] = "0001"
    forged = json.dumps(fields, sort_keys=True).encode()
    rebuilt = (
        MAGIC
        + struct.pack(">BI", 1, len(forged))
        + forged
        + data[len(MAGIC) + 5 + len(header.raw) :]
    )
    with pytest.raises(PasswordError):
        _read(rebuilt)


def test_a_dropped_last_chunk_is_refused() -> None:
    head, chunks = _chunks(_archive())
    with pytest.raises(MalformedData):
        _read(head + b"".join(chunks[:-1]))


def test_reordered_chunks_are_refused() -> None:
    head, chunks = _chunks(_archive())
    chunks[0], chunks[1] = chunks[1], chunks[0]
    with pytest.raises((MalformedData, PasswordError)):
        _read(head + b"".join(chunks))


def test_a_truncated_chunk_is_refused() -> None:
    data = _archive()
    with pytest.raises(MalformedData, match="truncated"):
        _read(data[:-10])


def test_something_else_is_not_an_archive() -> None:
    with pytest.raises(MalformedData, match="not a certward backup"):
        _read(b"-----BEGIN CERTIFICATE-----\n")
