"""The three files of an application access point, and the TLS identity they make.

``clientKey_<name>.json`` holds ``{"KeyId": "<name>", "PrivateKeyData": "<base64
PKCS#12>"}`` (the PKCS#12 is protected by the password), ``clientKey_<name>.password``
holds that password, ``ca.pem`` the CA that verifies the server: the layout of a
cloud KMS's application access point, so code written for one reads ours.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import ssl
from dataclasses import dataclass
from pathlib import Path

from certward.client._tls import StrPath, context_from_pkcs12
from certward.errors import InvalidInput, MalformedData
from certward.files import PUBLIC_FILE_MODE, SECRET_FILE_MODE, ensure_private_dir, write_atomic

__all__ = [
    "AccessPointFiles",
    "access_point_context",
    "access_point_files",
    "client_key_document",
    "read_client_key_file",
    "read_password_file",
    "write_access_point",
]

# A name becomes part of file names: no separators, no leading dot.
_FILE_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class AccessPointFiles:
    """Where an access point's files are (or go)."""

    client_key_file: Path
    password_file: Path
    ca_file: Path

    def all(self) -> tuple[Path, Path, Path]:
        """The three paths."""
        return (self.client_key_file, self.password_file, self.ca_file)


def access_point_files(directory: StrPath, name: str) -> AccessPointFiles:
    """The paths of access point ``name``'s files in ``directory``."""
    if not _FILE_SAFE_NAME.match(name):
        raise InvalidInput(
            f"access point name {name!r} cannot name a file: use letters, digits, '.', '_', '-'"
        )
    root = Path(directory)
    return AccessPointFiles(
        client_key_file=root / f"clientKey_{name}.json",
        password_file=root / f"clientKey_{name}.password",
        ca_file=root / "ca.pem",
    )


def client_key_document(name: str, pkcs12: bytes) -> bytes:
    """The content of ``clientKey_<name>.json``."""
    document = {"KeyId": name, "PrivateKeyData": base64.b64encode(pkcs12).decode("ascii")}
    return (json.dumps(document, indent=2) + "\n").encode()


def read_client_key_file(path: StrPath) -> tuple[str, bytes]:
    """The name and the (still password-protected) PKCS#12 of a client key file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read the client key file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise MalformedData(f"the client key file {path} is not JSON") from None
    try:
        document = json.loads(text)
        name, data = document["KeyId"], document["PrivateKeyData"]
        if not isinstance(name, str) or not isinstance(data, str):
            raise TypeError
        return name, base64.b64decode(data, validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise MalformedData(
            f"the client key file {path} is not a JSON object with KeyId and base64 PrivateKeyData"
        ) from None


def read_password_file(path: StrPath) -> bytes:
    """A password from a file: its bytes without one trailing newline."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read the password file {path}: {exc.strerror}") from None
    for ending in (b"\r\n", b"\n"):
        if data.endswith(ending):
            data = data[: -len(ending)]
            break
    if not data:
        raise InvalidInput(f"the password file {path} is empty")
    return data


def access_point_context(
    client_key_file: StrPath, password: str | bytes, *, ca: StrPath | None
) -> ssl.SSLContext:
    """The TLS context of an access point: its PKCS#12 identity, trusting ``ca``.

    ca: the CA PEM file; default: the root certificate inside the PKCS#12.
    """
    _, pkcs12 = read_client_key_file(client_key_file)
    secret = password.encode() if isinstance(password, str) else password
    return context_from_pkcs12(pkcs12, secret, ca=ca)


def write_access_point(
    directory: StrPath, *, name: str, pkcs12: bytes, password: str, ca_pem: bytes
) -> AccessPointFiles:
    """Write the three files into ``directory`` (created 0700; the secrets 0600)."""
    files = access_point_files(directory, name)
    ensure_private_dir(Path(directory))
    write_atomic(files.client_key_file, client_key_document(name, pkcs12), mode=SECRET_FILE_MODE)
    write_atomic(files.password_file, password.encode(), mode=SECRET_FILE_MODE)
    write_atomic(files.ca_file, ca_pem, mode=PUBLIC_FILE_MODE)
    return files
