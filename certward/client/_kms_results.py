"""What ``KmsClient`` returns: frozen values with bytes already decoded and the request id.

The same rule as ``_results.py``: the top-level result of every call has ``request_id``
(the ``X-Request-ID`` of the exchange, which the server stores in the key's audit
events). Binary fields (signatures, ciphertexts, plaintexts, MACs) are ``bytes``,
never base64 text; secret ones (plaintexts, data keys, random bytes, passwords) are
kept out of ``repr``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from certward.client._kms_access import AccessPointFiles, client_key_document, write_access_point
from certward.client._results import PrincipalInfo, _Answered
from certward.client._tls import StrPath
from certward.errors import CertwardError, MalformedData
from certward.kms.aliases import Alias
from certward.kms.byok import ImportParameters
from certward.kms.keys import KeyInfo, KeyPage
from certward.kms.operations import (
    DataKey,
    Decrypted,
    Encrypted,
    Mac,
    MacCheck,
    PublicKey,
    ReEncrypted,
    Signature,
    Verification,
)

__all__ = [
    "AccessPointCredentials",
    "BatchOutcome",
    "BatchResult",
    "BatchValue",
    "RandomBytes",
    "RemoteAlias",
    "RemoteDataKey",
    "RemoteDecrypted",
    "RemoteEncrypted",
    "RemoteImportParameters",
    "RemoteKeyInfo",
    "RemoteKeyPage",
    "RemoteMac",
    "RemoteMacCheck",
    "RemotePublicKey",
    "RemoteReEncrypted",
    "RemoteSignature",
    "RemoteVerification",
]

V = TypeVar("V")


@dataclass(frozen=True)
class RemoteKeyInfo(KeyInfo, _Answered):
    """A :class:`~certward.kms.keys.KeyInfo` answered by one call (create, describe, rotate, …)."""


@dataclass(frozen=True)
class RemoteKeyPage(KeyPage, _Answered):
    """A :class:`~certward.kms.keys.KeyPage`; pass ``next_cursor`` to ``list_keys`` for more."""

    def __iter__(self) -> Iterator[KeyInfo]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class RemoteAlias(Alias, _Answered):
    """An :class:`~certward.kms.aliases.Alias` (``alias/<name>`` and the key it names)."""


@dataclass(frozen=True)
class RemoteSignature(Signature, _Answered):
    """A :class:`~certward.kms.operations.Signature` (DER for ECDSA, raw for RSA and Ed25519,
    as ``openssl dgst`` writes one)."""


@dataclass(frozen=True)
class RemoteVerification(Verification, _Answered):
    """Whether a signature holds: a wrong one is ``value=False`` (and falsy), not an error."""

    def __bool__(self) -> bool:
        return self.value


@dataclass(frozen=True)
class RemoteEncrypted(Encrypted, _Answered):
    """A ciphertext: the self-describing blob (key id, version, nonce and tag inside)."""


@dataclass(frozen=True)
class RemoteDecrypted(Decrypted, _Answered):
    """A plaintext and the key version that opened it."""


@dataclass(frozen=True)
class RemoteDataKey(DataKey, _Answered):
    """A fresh data key: wrapped under the KMS key, and in clear unless it was not asked for."""


@dataclass(frozen=True)
class RemoteReEncrypted(ReEncrypted, _Answered):
    """A ciphertext moved to another key (or the newest version) without leaving the server."""


@dataclass(frozen=True)
class RemoteMac(Mac, _Answered):
    """An HMAC tag."""


@dataclass(frozen=True)
class RemoteMacCheck(MacCheck, _Answered):
    """Whether an HMAC holds: ``value`` (and truthiness)."""

    def __bool__(self) -> bool:
        return self.value


@dataclass(frozen=True)
class RemotePublicKey(PublicKey, _Answered):
    """The public key (PEM, SubjectPublicKeyInfo) of one version of an asymmetric key."""

    @property
    def public_key(self) -> PublicKeyTypes:
        """The key as a cryptography object (to verify or encrypt offline)."""
        try:
            return load_pem_public_key(self.public_key_pem)
        except ValueError:
            raise MalformedData(f"the public key of {self.key_id} does not parse") from None


@dataclass(frozen=True)
class RandomBytes(_Answered):
    """Bytes from the server's CSPRNG."""

    random: bytes = field(repr=False)


BatchValue = RemoteSignature | RemoteVerification | RemoteEncrypted | RemoteDecrypted


@dataclass(frozen=True)
class BatchOutcome(Generic[V]):
    """One item of a batch: its result (``ok``) or the error it met."""

    ok: bool
    value: V | None
    error: CertwardError | None

    def unwrap(self) -> V:
        """The result; the item's error raised when it failed."""
        if self.error is not None:
            raise self.error
        assert self.value is not None
        return self.value


@dataclass(frozen=True)
class BatchResult(_Answered):
    """The outcomes of a batch, in the order of its items (one failing item fails only itself)."""

    results: tuple[BatchOutcome[BatchValue], ...]

    def __iter__(self) -> Iterator[BatchOutcome[BatchValue]]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)


@dataclass(frozen=True)
class RemoteImportParameters(ImportParameters, _Answered):
    """A one-time import token and the public key to wrap material with, until ``expires_at``.

    Wrap the material with :func:`certward.client.wrap_key_material` (or openssl) and
    pass the result with the token to ``import_key_material``.
    """

    import_token: str = field(repr=False)  # a one-time credential: kept out of logs


@dataclass(frozen=True)
class AccessPointCredentials(_Answered):
    """A new application access point: its principal and its only credentials.

    ``pkcs12`` is the password-protected client credential (key, certificate, chain),
    ``password`` opens it, ``ca_pem`` verifies the server. :meth:`write` puts the three
    files that ``KmsClient(endpoint, client_key_file=, password=, ca=)`` reads.
    """

    principal: PrincipalInfo
    name: str
    pkcs12: bytes = field(repr=False)
    password: str = field(repr=False)
    ca_pem: bytes

    @property
    def client_key_json(self) -> bytes:
        """The content of ``clientKey_<name>.json``."""
        return client_key_document(self.name, self.pkcs12)

    def write(self, directory: StrPath) -> AccessPointFiles:
        """Write ``clientKey_<name>.json``, ``clientKey_<name>.password`` (0600), ``ca.pem``.

        The directory is created 0700 if absent (an existing one must be private).
        """
        return write_access_point(
            directory,
            name=self.name,
            pkcs12=self.pkcs12,
            password=self.password,
            ca_pem=self.ca_pem,
        )
