"""What the ``certward kms`` commands do with files: read inputs, write outputs, verify offline.

Inputs and outputs are binary-safe; ``-`` means stdin / stdout. Signing hashes the
file here and sends only its digest (any file size, the same signature as
``openssl dgst -sign``), except for Ed25519, which signs the message itself.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from certward.errors import Conflict, InvalidInput, MalformedData
from certward.kms.specs import SigningAlgorithm, parse_choice

__all__ = [
    "STDIO",
    "file_digest",
    "parse_context",
    "read_input",
    "refuse_existing",
    "signing_algorithm",
    "signing_hash",
    "verify_offline",
    "write_output",
]

STDIO = Path("-")
_CHUNK = 1 << 20
_HASHES: dict[str, type[hashes.SHA256 | hashes.SHA384]] = {
    "SHA_256": hashes.SHA256,
    "SHA_384": hashes.SHA384,
}


def parse_context(pairs: Sequence[str] | None) -> dict[str, str] | None:
    """``--context k=v`` options as an encryption context (None when there are none)."""
    if not pairs:
        return None
    context: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise InvalidInput(f"--context {pair!r} is not NAME=VALUE")
        if name in context:
            raise InvalidInput(f"--context names {name!r} twice")
        context[name] = value
    return context


def read_input(path: Path, what: str) -> bytes:
    """The bytes of ``path`` (stdin for ``-``)."""
    if path == STDIO:
        return sys.stdin.buffer.read()
    try:
        return path.read_bytes()
    except IsADirectoryError:
        raise InvalidInput(f"{what} {path} is a directory, not a file") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {what} {path}: {exc.strerror}") from None


def refuse_existing(path: Path, *, force: bool) -> None:
    """Refuse an output file that exists (unless ``force``) or cannot be written."""
    if path == STDIO:
        return
    if path.is_dir():
        raise InvalidInput(f"{path} is a directory, not a file")
    if not path.parent.is_dir():
        raise InvalidInput(f"cannot write {path}: {path.parent} is not a directory")
    if path.exists() and not force:
        raise Conflict(f"{path} already exists; use --force to overwrite")


def write_output(path: Path, data: bytes, *, mode: int) -> None:
    """Write ``data`` to ``path`` atomically with ``mode`` (stdout for ``-``, raw bytes)."""
    from certward.files import write_atomic

    if path == STDIO:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    write_atomic(path, data, mode=mode)


def signing_algorithm(name: str) -> SigningAlgorithm:
    """``--algorithm`` checked to be a KMS signing algorithm."""
    return parse_choice(SigningAlgorithm, name, what="signing algorithm")


def signing_hash(algorithm: SigningAlgorithm) -> hashes.SHA256 | hashes.SHA384 | None:
    """The hash an algorithm signs with (None: Ed25519 signs the message itself)."""
    for suffix, kind in _HASHES.items():
        if algorithm.value.endswith(suffix):
            return kind()
    return None


def file_digest(path: Path, algorithm: hashes.SHA256 | hashes.SHA384) -> bytes:
    """The digest of a file, read in chunks (any size)."""
    digest = hashes.Hash(algorithm)
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    except IsADirectoryError:
        raise InvalidInput(f"{path} is a directory, not a file") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    return digest.finalize()


def verify_offline(
    public_key_pem: bytes, algorithm: SigningAlgorithm, *, path: Path, signature: bytes
) -> bool:
    """Whether ``signature`` over the file holds for the public key, with no server at all.

    The key must be one the KMS could hold and the algorithm one it signs with (the
    same rules as on the server); the signature is checked with pyca/cryptography.
    """
    from certward.kms.material import spec_of_public_key
    from certward.kms.specs import signing_scheme

    try:
        key = load_pem_public_key(public_key_pem)
    except ValueError:
        raise MalformedData("the --public-key file is not a PEM public key") from None
    _, scheme = signing_scheme(spec_of_public_key(key), algorithm.value)
    try:
        if scheme.hash is None:
            assert isinstance(key, ed25519.Ed25519PublicKey)
            key.verify(signature, read_input(path, "file"))
            return True
        prehashed = Prehashed(scheme.hash)
        digest = file_digest(path, scheme.hash)
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, digest, ec.ECDSA(prehashed))
            return True
        assert isinstance(key, rsa.RSAPublicKey)
        chosen: padding.AsymmetricPadding = (
            # Salt as long as the digest, as the KMS signs (openssl: rsa_pss_saltlen:32).
            padding.PSS(mgf=padding.MGF1(scheme.hash), salt_length=scheme.hash.digest_size)
            if scheme.family == "pss"
            else padding.PKCS1v15()
        )
        key.verify(signature, digest, chosen, prehashed)
        return True
    except (InvalidSignature, ValueError):  # ValueError: not even a signature's shape
        return False
