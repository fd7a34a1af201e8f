"""The client's TLS context: the trust anchor that verifies the server, the identity it shows.

Python's ``ssl`` loads a certificate and key only from files. For a PKCS#12 bundle
the key is therefore written, *encrypted* under a random password that never
leaves memory, into a fresh 0700 directory (file 0600), loaded, and the
directory is removed before the context is returned: no clear key ever reaches
a disk, and nothing of it outlives the call.
"""

from __future__ import annotations

import os
import secrets
import ssl
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from cryptography import x509

from certward.crypto.formats import chain_pem, load_pkcs12
from certward.crypto.keys import SigningKey, private_key_to_pkcs8
from certward.errors import InvalidInput, MalformedData, PasswordError

__all__ = ["StrPath", "context_from_files", "context_from_pkcs12", "load_identity_from_memory"]

StrPath = str | os.PathLike[str]


def _trusting(*, ca_file: StrPath | None = None, ca_pem: str | None = None) -> ssl.SSLContext:
    # Only the given anchor is trusted: with cafile/cadata the system store is not loaded.
    try:
        context = ssl.create_default_context(
            cafile=os.fspath(ca_file) if ca_file is not None else None, cadata=ca_pem
        )
    except OSError as exc:
        raise InvalidInput(f"cannot read the CA file {ca_file}: {exc.strerror}") from None
    except ssl.SSLError:
        raise MalformedData(f"the CA file {ca_file} holds no usable certificate") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _refuse_prompt() -> NoReturn:
    # Without this, OpenSSL would prompt on the terminal for an encrypted key's password.
    raise PasswordError("the client key is encrypted; decrypt it or use Client.from_bundle")


def _load_identity(
    context: ssl.SSLContext, cert: StrPath, key: StrPath, password: bytes | None = None
) -> None:
    try:
        if password is None:
            context.load_cert_chain(os.fspath(cert), os.fspath(key), password=_refuse_prompt)
        else:
            context.load_cert_chain(os.fspath(cert), os.fspath(key), password=password)
    except OSError as exc:
        if isinstance(exc, ssl.SSLError):
            what = "do not match" if exc.reason == "KEY_VALUES_MISMATCH" else "could not be loaded"
            raise MalformedData(f"client certificate {cert} and key {key} {what}") from None
        raise InvalidInput(f"cannot read {exc.filename or cert}: {exc.strerror}") from None


def context_from_files(*, ca: StrPath, cert: StrPath | None, key: StrPath | None) -> ssl.SSLContext:
    """Trust ``ca``; present ``cert`` (a PEM chain, leaf first) with ``key`` when given."""
    if (cert is None) != (key is None):
        raise InvalidInput("give both a client certificate and its key, or neither")
    context = _trusting(ca_file=ca)
    if cert is not None and key is not None:
        _load_identity(context, cert, key)
    return context


def _private_file(directory: Path, name: str, data: bytes) -> Path:
    path = directory / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return path


def load_identity_from_memory(
    context: ssl.SSLContext, chain: Sequence[x509.Certificate], key: SigningKey
) -> None:
    """Make ``context`` present ``chain`` (leaf first) and ``key``, held in memory only.

    ``ssl`` loads an identity only from files: the key goes there encrypted under a
    password that never leaves memory, in a private directory removed before returning.
    """
    transient = secrets.token_urlsafe(32).encode()
    with tempfile.TemporaryDirectory(prefix="certward-identity-") as directory:
        chain_file = _private_file(Path(directory), "chain.pem", chain_pem(chain))
        key_file = _private_file(
            Path(directory), "key.pem", private_key_to_pkcs8(key, password=transient)
        )
        try:
            context.load_cert_chain(chain_file, key_file, password=transient)
        except ssl.SSLError:
            raise MalformedData("the client certificate and key do not match") from None


def _is_root(certificate: x509.Certificate) -> bool:
    return certificate.issuer == certificate.subject


def context_from_pkcs12(
    data: bytes, password: bytes, *, ca: StrPath | None = None
) -> ssl.SSLContext:
    """Present the key and certificate of a PKCS#12 bundle.

    ca: the trust anchor for the server; default: the root certificate in the bundle.
    """
    key, certificate, extra = load_pkcs12(data, password=password)
    if key is None or certificate is None:
        raise MalformedData("the PKCS#12 bundle holds no private key and certificate")
    roots = [cert for cert in extra if _is_root(cert)]
    if ca is not None:
        context = _trusting(ca_file=ca)
    elif roots:
        context = _trusting(ca_pem=chain_pem(roots).decode())
    else:
        raise InvalidInput("the PKCS#12 bundle holds no root certificate: pass ca=")
    # The server has the root; it needs the leaf and the intermediates.
    presented = [certificate, *(cert for cert in extra if not _is_root(cert))]
    load_identity_from_memory(context, presented, key)
    return context
