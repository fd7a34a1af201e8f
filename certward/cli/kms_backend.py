"""Where the ``certward kms`` commands get their answers: the data dir's KMS, or a server's.

:class:`KmsBackend` is what the commands call; ``LocalBackend`` answers it with
:class:`LocalKms` (the services of ``certward.kms`` on the data dir),
``certward.cli.remote.RemoteBackend`` through the SDK's ``KmsClient``. Both return
the values of ``certward.kms`` (the SDK's results *are* those values), so every
command prints the same text and ``--json`` either way.

Local mode is the holder of the master key acting directly: it is not a principal,
so it needs no grant and its uses are not in the audit log (as for the CA commands).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from certward.access.audit import AuditPage
from certward.kms.access_points import AccessPoint
from certward.kms.aliases import Alias
from certward.kms.keys import KeyInfo, KeyPage
from certward.kms.operations import (
    DataKey,
    Decrypted,
    Encrypted,
    PublicKey,
    Signature,
    Verification,
)
from certward.kms.specs import KeyOrigin, KeySpec, KeyUsage

if TYPE_CHECKING:
    from certward.ca.context import CAContext
    from certward.client import AccessPointCredentials

__all__ = ["KmsBackend", "LocalKms"]


class KmsBackend(Protocol):
    """The KMS operations of the CLI, whatever answers them (``ref``: key id or alias)."""

    def kms_create_key(
        self,
        *,
        spec: KeySpec,
        usage: KeyUsage,
        description: str,
        tags: Mapping[str, str] | None,
        alias: str | None,
        rotation_period_days: int | None,
        origin: KeyOrigin,
    ) -> KeyInfo:
        """Create a key."""
        ...

    def kms_list_keys(self, *, limit: int, cursor: str | None) -> KeyPage:
        """A page of keys, newest first."""
        ...

    def kms_describe_key(self, ref: str) -> KeyInfo:
        """One key."""
        ...

    def kms_rotate_key(self, ref: str) -> KeyInfo:
        """A new primary version."""
        ...

    def kms_enable_key(self, ref: str) -> KeyInfo:
        """Enable a key."""
        ...

    def kms_disable_key(self, ref: str) -> KeyInfo:
        """Disable a key."""
        ...

    def kms_schedule_key_deletion(self, ref: str, *, pending_window_days: int | None) -> KeyInfo:
        """Schedule the deletion of a key."""
        ...

    def kms_cancel_key_deletion(self, ref: str) -> KeyInfo:
        """Cancel a scheduled deletion."""
        ...

    def kms_update_key_settings(
        self,
        ref: str,
        *,
        description: str | None,
        tags: Mapping[str, str] | None,
        rotation_period_days: int | None,
        min_decryption_version: int | None,
    ) -> KeyInfo:
        """Change the settings given (None: unchanged; rotation 0: off)."""
        ...

    def kms_create_alias(self, alias: str, ref: str) -> Alias:
        """Point an alias at a key."""
        ...

    def kms_delete_alias(self, alias: str) -> Alias:
        """Remove an alias."""
        ...

    def kms_key_usage(self, ref: str, *, limit: int, cursor: str | None) -> AuditPage:
        """The audit events of a key, newest first."""
        ...

    def kms_get_public_key(self, ref: str, *, version: int | None) -> PublicKey:
        """The public key of a version (default: primary)."""
        ...

    def kms_import_public_key(
        self, pem: bytes, *, usage: KeyUsage, alias: str | None, description: str
    ) -> KeyInfo:
        """A PUBLIC_ONLY key of a public key."""
        ...

    def kms_sign(
        self, ref: str, *, algorithm: str, message: bytes | None, digest: bytes | None
    ) -> Signature:
        """Sign a message or a digest."""
        ...

    def kms_verify(
        self,
        ref: str,
        *,
        algorithm: str,
        message: bytes | None,
        digest: bytes | None,
        signature: bytes,
        key_version: int | None,
    ) -> Verification:
        """Check a signature."""
        ...

    def kms_encrypt(
        self,
        ref: str,
        *,
        plaintext: bytes,
        context: Mapping[str, str] | None,
        algorithm: str | None,
    ) -> Encrypted:
        """Encrypt into a ciphertext blob."""
        ...

    def kms_decrypt(
        self, ciphertext: bytes, *, context: Mapping[str, str] | None, key: str | None
    ) -> Decrypted:
        """Decrypt a ciphertext blob (of ``key`` only, when given)."""
        ...

    def kms_generate_data_key(
        self,
        ref: str,
        *,
        key_spec: str | None,
        number_of_bytes: int | None,
        context: Mapping[str, str] | None,
        include_plaintext: bool,
    ) -> DataKey:
        """A data key, wrapped (and in clear when asked)."""
        ...

    def kms_generate_random(self, number_of_bytes: int) -> bytes:
        """Random bytes."""
        ...

    def kms_create_access_point(
        self,
        name: str,
        *,
        keys: Sequence[str],
        operations: Sequence[str],
        description: str | None,
        days: int | None,
    ) -> AccessPoint | AccessPointCredentials:
        """A principal limited to ``operations`` on ``keys``, and its credentials."""
        ...


class LocalKms:
    """:class:`KmsBackend` on the services of a local data dir (mixed into ``LocalBackend``)."""

    _context: Callable[[], CAContext]

    def kms_create_key(
        self,
        *,
        spec: KeySpec,
        usage: KeyUsage,
        description: str,
        tags: Mapping[str, str] | None,
        alias: str | None,
        rotation_period_days: int | None,
        origin: KeyOrigin,
    ) -> KeyInfo:
        """Create a key."""
        from certward.kms.keys import create_key

        return create_key(
            self._context(),
            spec=spec,
            usage=usage,
            origin=origin,
            description=description,
            tags=tags,
            alias=alias,
            rotation_period_days=rotation_period_days,
        )

    def kms_list_keys(self, *, limit: int, cursor: str | None) -> KeyPage:
        """A page of keys, newest first."""
        from certward.kms.keys import list_keys

        return list_keys(self._context(), limit=limit, cursor=cursor)

    def kms_describe_key(self, ref: str) -> KeyInfo:
        """One key."""
        from certward.kms.keys import describe_key

        return describe_key(self._context(), ref)

    def kms_rotate_key(self, ref: str) -> KeyInfo:
        """A new primary version."""
        from certward.kms.rotation import rotate_key

        return rotate_key(self._context(), ref)

    def kms_enable_key(self, ref: str) -> KeyInfo:
        """Enable a key."""
        from certward.kms.lifecycle import enable_key

        return enable_key(self._context(), ref)

    def kms_disable_key(self, ref: str) -> KeyInfo:
        """Disable a key."""
        from certward.kms.lifecycle import disable_key

        return disable_key(self._context(), ref)

    def kms_schedule_key_deletion(self, ref: str, *, pending_window_days: int | None) -> KeyInfo:
        """Schedule the deletion of a key."""
        from certward.kms.lifecycle import schedule_key_deletion

        return schedule_key_deletion(self._context(), ref, pending_window_days=pending_window_days)

    def kms_cancel_key_deletion(self, ref: str) -> KeyInfo:
        """Cancel a scheduled deletion."""
        from certward.kms.lifecycle import cancel_key_deletion

        return cancel_key_deletion(self._context(), ref)

    def kms_update_key_settings(
        self,
        ref: str,
        *,
        description: str | None,
        tags: Mapping[str, str] | None,
        rotation_period_days: int | None,
        min_decryption_version: int | None,
    ) -> KeyInfo:
        """Change the settings given (None: unchanged; rotation 0: off)."""
        from certward.kms.lifecycle import UNSET, update_key_settings

        return update_key_settings(
            self._context(),
            ref,
            description=UNSET if description is None else description,
            tags=UNSET if tags is None else tags,
            rotation_period_days=UNSET if rotation_period_days is None else rotation_period_days,
            min_decryption_version=(
                UNSET if min_decryption_version is None else min_decryption_version
            ),
        )

    def kms_create_alias(self, alias: str, ref: str) -> Alias:
        """Point an alias at a key."""
        from certward.kms.aliases import create_alias

        return create_alias(self._context(), alias, ref)

    def kms_delete_alias(self, alias: str) -> Alias:
        """Remove an alias."""
        from certward.kms.aliases import delete_alias

        return delete_alias(self._context(), alias)

    def kms_key_usage(self, ref: str, *, limit: int, cursor: str | None) -> AuditPage:
        """The audit events of a key (made through the API), newest first."""
        from certward.kms.keys import describe_key
        from certward.kms.usage import key_events

        ctx = self._context()
        return key_events(ctx, describe_key(ctx, ref).key_id, limit=limit, cursor=cursor)

    def kms_get_public_key(self, ref: str, *, version: int | None) -> PublicKey:
        """The public key of a version (default: primary)."""
        from certward.kms.keys import load_key
        from certward.kms.operations import get_public_key

        return get_public_key(load_key(self._context(), ref), key_version=version)

    def kms_import_public_key(
        self, pem: bytes, *, usage: KeyUsage, alias: str | None, description: str
    ) -> KeyInfo:
        """A PUBLIC_ONLY key of a public key."""
        from certward.kms.byok import import_public_key

        return import_public_key(
            self._context(), public_key_pem=pem, usage=usage, alias=alias, description=description
        )

    def _max_message_bytes(self) -> int:
        return self._context().settings.kms.max_message_bytes

    def kms_sign(
        self, ref: str, *, algorithm: str, message: bytes | None, digest: bytes | None
    ) -> Signature:
        """Sign a message or a digest."""
        from certward.kms.keys import load_key
        from certward.kms.operations import sign

        return sign(
            load_key(self._context(), ref),
            algorithm=algorithm,
            message=message,
            digest=digest,
            max_message_bytes=self._max_message_bytes(),
        )

    def kms_verify(
        self,
        ref: str,
        *,
        algorithm: str,
        message: bytes | None,
        digest: bytes | None,
        signature: bytes,
        key_version: int | None,
    ) -> Verification:
        """Check a signature."""
        from certward.kms.keys import load_key
        from certward.kms.operations import verify

        return verify(
            load_key(self._context(), ref),
            algorithm=algorithm,
            signature=signature,
            message=message,
            digest=digest,
            key_version=key_version,
            max_message_bytes=self._max_message_bytes(),
        )

    def kms_encrypt(
        self,
        ref: str,
        *,
        plaintext: bytes,
        context: Mapping[str, str] | None,
        algorithm: str | None,
    ) -> Encrypted:
        """Encrypt into a ciphertext blob."""
        from certward.kms.keys import load_key
        from certward.kms.operations import encrypt

        return encrypt(
            load_key(self._context(), ref),
            plaintext=plaintext,
            context=context,
            algorithm=algorithm,
            max_message_bytes=self._max_message_bytes(),
        )

    def kms_decrypt(
        self, ciphertext: bytes, *, context: Mapping[str, str] | None, key: str | None
    ) -> Decrypted:
        """Decrypt a ciphertext blob (of ``key`` only, when given)."""
        from certward.kms.ciphertext import parse_ciphertext
        from certward.kms.keys import load_key
        from certward.kms.operations import decrypt

        parsed = parse_ciphertext(ciphertext)
        ctx = self._context()
        if key is not None and load_key(ctx, key).key_id != parsed.key_id:
            from certward.errors import InvalidInput

            raise InvalidInput(f"the ciphertext was made with key {parsed.key_id}, not with {key}")
        return decrypt(load_key(ctx, parsed.key_id), parsed, context=context)

    def kms_generate_data_key(
        self,
        ref: str,
        *,
        key_spec: str | None,
        number_of_bytes: int | None,
        context: Mapping[str, str] | None,
        include_plaintext: bool,
    ) -> DataKey:
        """A data key, wrapped (and in clear when asked)."""
        from certward.kms.keys import load_key
        from certward.kms.operations import generate_data_key

        return generate_data_key(
            load_key(self._context(), ref),
            key_spec=key_spec,
            number_of_bytes=number_of_bytes,
            context=context,
            include_plaintext=include_plaintext,
        )

    def kms_generate_random(self, number_of_bytes: int) -> bytes:
        """Random bytes."""
        from certward.kms.operations import generate_random

        return generate_random(number_of_bytes)

    def kms_create_access_point(
        self,
        name: str,
        *,
        keys: Sequence[str],
        operations: Sequence[str],
        description: str | None,
        days: int | None,
    ) -> AccessPoint:
        """A principal limited to ``operations`` on ``keys``, and its credentials."""
        from certward.kms.access_points import create_access_point

        ctx = self._context()
        return create_access_point(
            ctx,
            name=name,
            key_refs=keys,
            operations=operations,
            ca_name=ctx.settings.service.issuing_ca,
            description=description or "",
            days=days,
        )
