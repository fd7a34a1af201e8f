"""``KmsClient``: the key management service of a certward server, for applications.

An application access point (``certward kms create-access-point NAME --key K --allow
sign,verify --out DIR``) hands an application three files; the client reads exactly
those::

    from certward.client import KmsClient

    client = KmsClient("https://kms.example:8443",
                       client_key_file="DIR/clientKey_app.json",
                       password=open("DIR/clientKey_app.password").read(),
                       ca="DIR/ca.pem")
    signed = client.sign(key_id="alias/release", message=data, algorithm="RSA_PSS_SHA_256")
    print(signed.signature, signed.key_version, signed.request_id)
    assert client.verify(key_id="alias/release", message=data,
                         signature=signed.signature, algorithm="RSA_PSS_SHA_256").value

It is a :class:`~certward.client.Client` (same transport, retries, errors), so it also
takes ``cert=``/``key=``/``ca=`` files or ``KmsClient.from_bundle(p12, password, url=)``.
Every result is a frozen value with bytes already decoded and ``request_id``; every
failure is the :mod:`certward.errors` class of its code (``KmsKeyNotFound``,
``AccessDenied``, ``KmsVersionRetired``, ...) with ``request_id`` set.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence

from certward.client import _kms_calls as calls
from certward.client._base import DEFAULT_RETRIES, DEFAULT_TIMEOUT
from certward.client._client import Client
from certward.client._kms_access import access_point_context, read_password_file
from certward.client._kms_batch import BatchItem
from certward.client._kms_results import (
    AccessPointCredentials,
    BatchResult,
    RandomBytes,
    RemoteAlias,
    RemoteDataKey,
    RemoteDecrypted,
    RemoteEncrypted,
    RemoteImportParameters,
    RemoteKeyInfo,
    RemoteKeyPage,
    RemoteMac,
    RemoteMacCheck,
    RemotePublicKey,
    RemoteReEncrypted,
    RemoteSignature,
    RemoteVerification,
)
from certward.client._results import RemoteAuditPage
from certward.client._tls import StrPath
from certward.errors import InvalidInput

__all__ = ["KmsClient"]


def _endpoint_urls(endpoint: str | Sequence[str]) -> list[str]:
    # A cloud KMS SDK takes a bare host name; ours is HTTPS only, so the scheme may be left out.
    given = endpoint.split(",") if isinstance(endpoint, str) else list(endpoint)
    urls = [item.strip() for item in given if item.strip()]
    return [url if "://" in url else f"https://{url}" for url in urls]


class KmsClient(Client):
    """The KMS of a certward server (see the module docstring).

    endpoint: ``https://host:port`` (or ``host:port``); several (a sequence, or commas)
        for a cluster, tried in turn.
    client_key_file: an access point's ``clientKey_<name>.json``; with ``password``
        (the text of ``clientKey_<name>.password``) or ``password_file``.
    ca: the CA PEM that verifies the server (an access point's ``ca.pem``); with a
        client key file it defaults to the root certificate inside the credential.
    cert, key, ssl_context, timeout, retries: as for :class:`~certward.client.Client`.
    """

    def __init__(
        self,
        endpoint: str | Sequence[str],
        *,
        client_key_file: StrPath | None = None,
        password: str | bytes | None = None,
        password_file: StrPath | None = None,
        ca: StrPath | None = None,
        cert: StrPath | None = None,
        key: StrPath | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
    ) -> None:
        if client_key_file is None:
            if password is not None or password_file is not None:
                raise InvalidInput("password= and password_file= go with client_key_file=")
        else:
            if cert is not None or key is not None or ssl_context is not None:
                raise InvalidInput("give client_key_file= or cert=/key=/ssl_context=, not both")
            if password_file is not None:
                if password is not None:
                    raise InvalidInput("give password= or password_file=, not both")
                password = read_password_file(password_file)
            if password is None:
                raise InvalidInput("client_key_file= needs password= (or password_file=)")
            ssl_context = access_point_context(client_key_file, password, ca=ca)
            ca = None
        super().__init__(
            _endpoint_urls(endpoint),
            cert=cert,
            key=key,
            ca=ca,
            ssl_context=ssl_context,
            timeout=timeout,
            retries=retries,
        )

    def __enter__(self) -> KmsClient:
        return self

    # -- keys -------------------------------------------------------------------------

    def create_key(
        self,
        *,
        spec: str,
        usage: str,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        alias: str | None = None,
        rotation_period_days: int | None = None,
        origin: str | None = None,
    ) -> RemoteKeyInfo:
        """Create a key (``kms.manage``).

        spec: AES_256, RSA_2048/3072/4096, EC_P256/P384/SECP256K1, ED25519, HMAC_256/512.
        usage: ENCRYPT_DECRYPT, SIGN_VERIFY or GENERATE_VERIFY_MAC.
        alias: ``alias/<name>`` to point at the new key.
        rotation_period_days: rotate automatically this often.
        origin: ``EXTERNAL`` for a key whose material will be imported (PendingImport).
        """
        return self._send(
            calls.create_key(
                spec=spec,
                usage=usage,
                description=description,
                tags=tags,
                alias=alias,
                rotation_period_days=rotation_period_days,
                origin=origin,
            )
        )

    def list_keys(self, *, limit: int = 100, cursor: str | None = None) -> RemoteKeyPage:
        """A page of keys; pass ``next_cursor`` for the next page."""
        return self._send(calls.list_keys(limit=limit, cursor=cursor))

    def describe_key(self, key_id: str) -> RemoteKeyInfo:
        """One key by id or alias: state, versions, settings (never its material)."""
        return self._send(calls.describe_key(key_id))

    def rotate_key(self, key_id: str) -> RemoteKeyInfo:
        """Make a new primary version; older versions still verify and decrypt."""
        return self._send(calls.rotate_key(key_id))

    def enable_key(self, key_id: str) -> RemoteKeyInfo:
        """Enable a disabled key."""
        return self._send(calls.enable_key(key_id))

    def disable_key(self, key_id: str) -> RemoteKeyInfo:
        """Disable a key: every operation with it is refused until it is enabled again."""
        return self._send(calls.disable_key(key_id))

    def schedule_key_deletion(
        self, key_id: str, *, pending_window_days: int | None = None
    ) -> RemoteKeyInfo:
        """Delete the key after 7..30 days (default 30) unless cancelled; unusable meanwhile."""
        return self._send(
            calls.schedule_key_deletion(key_id, pending_window_days=pending_window_days)
        )

    def cancel_key_deletion(self, key_id: str) -> RemoteKeyInfo:
        """Cancel a scheduled deletion; the key comes back Disabled."""
        return self._send(calls.cancel_key_deletion(key_id))

    def update_key_settings(
        self,
        key_id: str,
        *,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        rotation_period_days: int | None = None,
        min_decryption_version: int | None = None,
    ) -> RemoteKeyInfo:
        """Change the settings given; those left None stay as they are.

        tags: the new tags (they replace the old ones).
        rotation_period_days: rotate automatically this often; 0 turns it off.
        min_decryption_version: versions below it no longer decrypt or verify.
        """
        return self._send(
            calls.update_key_settings(
                key_id,
                description=description,
                tags=tags,
                rotation_period_days=rotation_period_days,
                min_decryption_version=min_decryption_version,
            )
        )

    def create_alias(self, alias: str, key_id: str) -> RemoteAlias:
        """Point ``alias/<name>`` at a key."""
        return self._send(calls.create_alias(alias, key_id))

    def delete_alias(self, alias: str) -> RemoteAlias:
        """Remove an alias (``alias/<name>`` or ``<name>``); the key stays."""
        return self._send(calls.delete_alias(alias))

    def key_usage(
        self, key_id: str, *, limit: int = 100, cursor: str | None = None
    ) -> RemoteAuditPage:
        """The audit events of one key (who used which version for what), newest first."""
        return self._send(calls.key_usage(key_id, limit=limit, cursor=cursor))

    # -- cryptographic operations -----------------------------------------------------------

    def sign(
        self,
        key_id: str,
        *,
        algorithm: str,
        message: bytes | str | None = None,
        digest: bytes | None = None,
    ) -> RemoteSignature:
        """Sign ``message`` (a str is sent as UTF-8) or a pre-computed ``digest``.

        algorithm: RSA_PSS_SHA_256/384, RSA_PKCS1_SHA_256/384, ECDSA_SHA_256/384, ED25519.
        Messages larger than the server's ``[kms].max_message_bytes`` need digest mode.
        """
        return self._send(calls.sign(key_id, message=message, digest=digest, algorithm=algorithm))

    def verify(
        self,
        key_id: str,
        *,
        signature: bytes,
        algorithm: str,
        message: bytes | str | None = None,
        digest: bytes | None = None,
        key_version: int | None = None,
    ) -> RemoteVerification:
        """Check a signature: ``.value`` is False for a wrong one (not an error).

        key_version: the version that signed (default: the primary).
        """
        return self._send(
            calls.verify(
                key_id,
                message=message,
                digest=digest,
                signature=signature,
                algorithm=algorithm,
                key_version=key_version,
            )
        )

    def encrypt(
        self,
        key_id: str,
        *,
        plaintext: bytes | str,
        context: Mapping[str, str] | None = None,
        algorithm: str | None = None,
    ) -> RemoteEncrypted:
        """Encrypt under the key's primary version; ``context`` is bound as associated data.

        algorithm: AES_256_GCM (AES keys) or RSAES_OAEP_SHA_256 (RSA keys), the defaults.
        """
        return self._send(
            calls.encrypt(key_id, plaintext=plaintext, context=context, algorithm=algorithm)
        )

    def decrypt(
        self,
        ciphertext: bytes,
        *,
        context: Mapping[str, str] | None = None,
        key_id: str | None = None,
        algorithm: str | None = None,
        key_version: int | None = None,
    ) -> RemoteDecrypted:
        """Decrypt a blob from ``encrypt`` (it names its key and version).

        key_id: refuse a blob of any other key.
        algorithm, key_version: for raw RSAES_OAEP_SHA_256 ciphertext made offline with
            the public key (then ``key_id`` is required).
        """
        return self._send(
            calls.decrypt(
                ciphertext,
                context=context,
                key_id=key_id,
                algorithm=algorithm,
                key_version=key_version,
            )
        )

    def generate_data_key(
        self,
        key_id: str,
        *,
        key_spec: str | None = None,
        number_of_bytes: int | None = None,
        context: Mapping[str, str] | None = None,
        include_plaintext: bool = True,
    ) -> RemoteDataKey:
        """A fresh data key (AES_256 by default), wrapped under ``key_id`` and in clear.

        include_plaintext: False for the wrapped form only (decrypt it when needed).
        """
        return self._send(
            calls.generate_data_key(
                key_id,
                key_spec=key_spec,
                number_of_bytes=number_of_bytes,
                context=context,
                include_plaintext=include_plaintext,
            )
        )

    def re_encrypt(
        self,
        ciphertext: bytes,
        *,
        destination_key_id: str,
        source_context: Mapping[str, str] | None = None,
        destination_context: Mapping[str, str] | None = None,
    ) -> RemoteReEncrypted:
        """Move a ciphertext to another key (or its own newest version) inside the server."""
        return self._send(
            calls.re_encrypt(
                ciphertext,
                destination_key_id=destination_key_id,
                source_context=source_context,
                destination_context=destination_context,
            )
        )

    def generate_mac(self, key_id: str, *, message: bytes | str, algorithm: str) -> RemoteMac:
        """An HMAC of ``message`` (algorithm: HMAC_SHA_256 or HMAC_SHA_512)."""
        return self._send(calls.generate_mac(key_id, message=message, algorithm=algorithm))

    def verify_mac(
        self,
        key_id: str,
        *,
        message: bytes | str,
        mac: bytes,
        algorithm: str,
        key_version: int | None = None,
    ) -> RemoteMacCheck:
        """Check an HMAC: ``.value`` is False for a wrong one."""
        return self._send(
            calls.verify_mac(
                key_id, message=message, mac=mac, algorithm=algorithm, key_version=key_version
            )
        )

    def get_public_key(self, key_id: str, *, version: int | None = None) -> RemotePublicKey:
        """The public key (PEM) of an asymmetric key's primary version, or of ``version``."""
        return self._send(calls.get_public_key(key_id, version=version))

    def generate_random(self, number_of_bytes: int) -> RandomBytes:
        """1..1024 random bytes from the server."""
        return self._send(calls.generate_random(number_of_bytes))

    def batch(self, items: Sequence[BatchItem]) -> BatchResult:
        """Many sign/verify/encrypt/decrypt items in one request; one outcome per item."""
        return self._send(calls.batch(items))

    # -- bring your own key -------------------------------------------------------------------

    def get_parameters_for_import(
        self,
        key_id: str,
        *,
        wrapping_algorithm: str = "RSA_AES_KEY_WRAP_SHA_256",
        wrapping_spec: str | None = None,
    ) -> RemoteImportParameters:
        """A one-time import token and the public key to wrap material with (EXTERNAL keys)."""
        return self._send(
            calls.get_parameters_for_import(
                key_id, wrapping_algorithm=wrapping_algorithm, wrapping_spec=wrapping_spec
            )
        )

    def import_key_material(
        self, key_id: str, *, import_token: str, encrypted_key_material: bytes
    ) -> RemoteKeyInfo:
        """Import wrapped material as the key's new primary version (state becomes Enabled)."""
        return self._send(
            calls.import_key_material(
                key_id, import_token=import_token, encrypted_key_material=encrypted_key_material
            )
        )

    def import_public_key(
        self,
        public_key_pem: bytes | str,
        *,
        usage: str = "SIGN_VERIFY",
        alias: str | None = None,
        description: str | None = None,
    ) -> RemoteKeyInfo:
        """A verify-only (or encrypt-only) key from a public key alone (origin PUBLIC_ONLY)."""
        return self._send(
            calls.import_public_key(
                public_key_pem, usage=usage, alias=alias, description=description
            )
        )

    # -- access points -------------------------------------------------------------------------

    def create_access_point(
        self,
        name: str,
        *,
        keys: Sequence[str],
        operations: Sequence[str],
        description: str | None = None,
        days: int | None = None,
    ) -> AccessPointCredentials:
        """A principal allowed ``operations`` on ``keys`` only, and its credentials (admin).

        operations: sign, verify, encrypt, decrypt, generate_data_key, re_encrypt,
            generate_mac, verify_mac, get_public_key, describe.
        The answer is the only time the password exists: ``.write(directory)`` keeps it.
        """
        return self._send(
            calls.create_access_point(
                name, keys=keys, operations=operations, description=description, days=days
            )
        )
