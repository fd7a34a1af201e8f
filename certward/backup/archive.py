"""An encrypted, compressed, streaming archive: the container of a certward backup.

File layout (integers big-endian)::

    magic        8   b"CWBACKUP"
    version      1   1
    header_len   4
    header           JSON: kdf parameters and salt, nonce prefix, chunk size, and
                     whatever the caller adds (schema revision, time, source)
    chunks           repeated: length 4, AES-256-GCM(ciphertext || tag)

The key comes from the passphrase through scrypt (n=2**15, r=8, p=1, random
16-byte salt). The payload is zlib-compressed, cut into chunks of at most
``chunk_size`` bytes and each chunk sealed with AES-256-GCM under the nonce
``prefix(7) || counter(4) || last(1)`` and the whole header as associated data
(the STREAM construction): a changed header, a reordered, dropped, duplicated or
truncated chunk, or a wrong passphrase all fail authentication. Nothing is
returned to the caller before its chunk has been authenticated.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from certward.errors import MalformedData, PasswordError

__all__ = [
    "MIN_PASSPHRASE_LENGTH",
    "ArchiveHeader",
    "check_passphrase",
    "read_archive",
    "read_header",
    "write_archive",
]

MAGIC = b"CWBACKUP"
FORMAT_VERSION = 1
MIN_PASSPHRASE_LENGTH = 12
MAX_PASSPHRASE_LENGTH = 1024
_CHUNK_SIZE = 1 << 20
_MAX_HEADER = 64 * 1024
_TAG = 16
_SCRYPT = {"n": 1 << 15, "r": 8, "p": 1}


@dataclass(frozen=True)
class ArchiveHeader:
    """The clear-text header of an archive (authenticated, not secret)."""

    raw: bytes
    fields: dict[str, Any]


def check_passphrase(passphrase: bytes) -> None:
    """PasswordError unless ``passphrase`` is long enough to protect a backup."""
    if len(passphrase) < MIN_PASSPHRASE_LENGTH:
        raise PasswordError(
            f"a backup passphrase needs at least {MIN_PASSPHRASE_LENGTH} characters"
        )
    if len(passphrase) > MAX_PASSPHRASE_LENGTH:
        raise PasswordError(f"a backup passphrase has at most {MAX_PASSPHRASE_LENGTH} characters")


def _derive(passphrase: bytes, salt: bytes, params: dict[str, Any]) -> AESGCM:
    kdf = Scrypt(salt=salt, length=32, n=int(params["n"]), r=int(params["r"]), p=int(params["p"]))
    return AESGCM(kdf.derive(passphrase))


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", counter, 1 if last else 0)


def _compressed(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """``pieces`` zlib-compressed, regrouped into chunks of about _CHUNK_SIZE bytes."""
    compressor = zlib.compressobj(level=6)
    buffer = bytearray()
    for piece in pieces:
        buffer += compressor.compress(piece)
        while len(buffer) >= _CHUNK_SIZE:
            yield bytes(buffer[:_CHUNK_SIZE])
            del buffer[:_CHUNK_SIZE]
    buffer += compressor.flush()
    while len(buffer) > _CHUNK_SIZE:
        yield bytes(buffer[:_CHUNK_SIZE])
        del buffer[:_CHUNK_SIZE]
    yield bytes(buffer)


def write_archive(
    handle: IO[bytes], passphrase: bytes, pieces: Iterable[bytes], *, fields: dict[str, Any]
) -> None:
    """Write ``pieces`` (the payload, in order) encrypted under ``passphrase`` to ``handle``."""
    check_passphrase(passphrase)
    salt = os.urandom(16)
    prefix = os.urandom(7)
    header = json.dumps(
        {
            **fields,
            "kdf": {"name": "scrypt", **_SCRYPT, "salt": base64.b64encode(salt).decode()},
            "cipher": "AES-256-GCM-STREAM",
            "nonce_prefix": base64.b64encode(prefix).decode(),
            "chunk_size": _CHUNK_SIZE,
        },
        sort_keys=True,
    ).encode()
    aead = _derive(passphrase, salt, _SCRYPT)
    handle.write(MAGIC + struct.pack(">BI", FORMAT_VERSION, len(header)) + header)
    chunks = _compressed(pieces)
    current = next(chunks)
    counter = 0
    for following in chunks:
        _write_chunk(handle, aead.encrypt(_nonce(prefix, counter, False), current, header))
        current, counter = following, counter + 1
    _write_chunk(handle, aead.encrypt(_nonce(prefix, counter, True), current, header))


def _write_chunk(handle: IO[bytes], sealed: bytes) -> None:
    handle.write(struct.pack(">I", len(sealed)) + sealed)


def _read_exact(handle: IO[bytes], size: int, what: str) -> bytes:
    data = handle.read(size)
    if len(data) != size:
        raise MalformedData(f"the backup archive is truncated (in the {what})")
    return data


def read_header(handle: IO[bytes]) -> ArchiveHeader:
    """The header of the archive open in ``handle`` (positioned at its start)."""
    start = handle.read(len(MAGIC) + 5)
    if len(start) != len(MAGIC) + 5 or not start.startswith(MAGIC):
        raise MalformedData("not a certward backup archive")
    version, header_len = struct.unpack(">BI", start[len(MAGIC) :])
    if version != FORMAT_VERSION:
        raise MalformedData(f"backup archive format {version} is not supported by this certward")
    if header_len > _MAX_HEADER:
        raise MalformedData("the backup archive header is too large")
    raw = _read_exact(handle, header_len, "header")
    try:
        fields = json.loads(raw)
        if not isinstance(fields, dict):
            raise ValueError
    except ValueError:
        raise MalformedData("the backup archive header is not valid JSON") from None
    return ArchiveHeader(raw=raw, fields=fields)


def read_archive(handle: IO[bytes], passphrase: bytes) -> tuple[ArchiveHeader, Iterator[bytes]]:
    """The header and the authenticated, decompressed payload of an archive.

    The payload iterator raises PasswordError when the passphrase is wrong (the
    first chunk does not open) and MalformedData when the archive was changed or
    cut short; it yields nothing unauthenticated.
    """
    header = read_header(handle)
    try:
        kdf = header.fields["kdf"]
        salt = base64.b64decode(kdf["salt"], validate=True)
        prefix = base64.b64decode(header.fields["nonce_prefix"], validate=True)
        aead = _derive(passphrase, salt, kdf)
    except (KeyError, TypeError, ValueError):
        raise MalformedData("the backup archive header lacks its key parameters") from None
    if len(prefix) != 7:
        raise MalformedData("the backup archive header has a bad nonce prefix")
    return header, _payload(handle, aead, prefix, header.raw)


def _payload(handle: IO[bytes], aead: AESGCM, prefix: bytes, header: bytes) -> Iterator[bytes]:
    decompressor = zlib.decompressobj()
    counter = 0
    while True:
        length_bytes = handle.read(4)
        if len(length_bytes) != 4:
            raise MalformedData("the backup archive is truncated (its last part is missing)")
        (length,) = struct.unpack(">I", length_bytes)
        if not _TAG <= length <= _CHUNK_SIZE + _TAG:
            raise MalformedData("the backup archive is damaged (bad chunk length)")
        sealed = _read_exact(handle, length, "data")
        last = _at_end(handle)
        try:
            chunk = aead.decrypt(_nonce(prefix, counter, last), sealed, header)
        except InvalidTag:
            if counter == 0:
                raise PasswordError(
                    "the backup archive does not open: wrong passphrase or a damaged file"
                ) from None
            raise MalformedData("the backup archive is damaged or was changed") from None
        try:
            yield decompressor.decompress(chunk)
            if last:
                yield decompressor.flush()
        except zlib.error:
            raise MalformedData("the backup archive payload does not decompress") from None
        if last:
            return
        counter += 1


def _at_end(handle: IO[bytes]) -> bool:
    position = handle.tell()
    more = handle.read(1)
    handle.seek(position)
    return not more
