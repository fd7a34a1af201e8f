"""The KDS key formula, byte-compatible with Limax's ``MasterKeyContainer.Digester``.

::

    key = H( be64(ts) || master_key(ts) || utf8(f"{ts} {nonce} {group}") || DER(issuer) )

``ts`` is the timestamp of the master key the server used (it replaces the request's
timestamp before the text form is built) and ``issuer`` is the client certificate's
issuer Name, so clients of different CAs never share keys.
"""

from __future__ import annotations

import struct

from cryptography.hazmat.primitives import hashes

from certward.errors import ConfigError
from certward.kds.ident import KeyIdent

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALGORITHM",
    "MasterKeyDigester",
    "derive_key",
    "parse_algorithm",
]

ALGORITHMS = frozenset({"SHA-1", "SHA-256", "SHA-384", "SHA-512"})
"""The digest names a KDS accepts (Java ``MessageDigest`` spelling)."""

DEFAULT_ALGORITHM = "SHA-256"

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "SHA-1": hashes.SHA1,
    "SHA-256": hashes.SHA256,
    "SHA-384": hashes.SHA384,
    "SHA-512": hashes.SHA512,
}
_ALIASES = {"SHA": "SHA-1", "SHA1": "SHA-1", "SHA256": "SHA-256", "SHA384": "SHA-384"}
_ALIASES |= {"SHA512": "SHA-512"}
_BE64 = struct.Struct(">q")


def parse_algorithm(name: str) -> str:
    """The canonical name (``SHA-256``) of a digest given in any case, dash optional."""
    upper = name.strip().upper()
    canonical = _ALIASES.get(upper, upper)
    if canonical not in ALGORITHMS:
        choices = ", ".join(sorted(ALGORITHMS))
        raise ConfigError(f"unsupported KDS digest algorithm {name!r} (use one of {choices})")
    return canonical


class MasterKeyDigester:
    """The formula with ``be64(ts) || master_key`` hashed once, reused for every request.

    Holds the master key: never log or repr it (the repr shows the timestamp only).
    """

    __slots__ = ("_prefix", "algorithm", "timestamp")

    def __init__(
        self, *, timestamp: int, master_key: bytes, algorithm: str = DEFAULT_ALGORITHM
    ) -> None:
        self.timestamp = timestamp
        self.algorithm = parse_algorithm(algorithm)
        prefix = hashes.Hash(_HASHES[self.algorithm]())
        prefix.update(_BE64.pack(timestamp))
        prefix.update(master_key)
        self._prefix = prefix

    def derive(self, ident: KeyIdent, issuer_der: bytes) -> bytes:
        """The key for ``ident`` (its timestamp is replaced by this master key's)."""
        digest = self._prefix.copy()
        digest.update(ident.with_timestamp(self.timestamp).text().encode("utf-8"))
        digest.update(issuer_der)
        return digest.finalize()

    def __repr__(self) -> str:
        return f"MasterKeyDigester(timestamp={self.timestamp}, algorithm={self.algorithm!r})"


def derive_key(
    *,
    timestamp: int,
    master_key: bytes,
    ident: KeyIdent,
    issuer_der: bytes,
    algorithm: str = DEFAULT_ALGORITHM,
) -> bytes:
    """The key a KDS hands out for ``ident`` under the master key of ``timestamp``."""
    digester = MasterKeyDigester(timestamp=timestamp, master_key=master_key, algorithm=algorithm)
    return digester.derive(ident, issuer_der)
