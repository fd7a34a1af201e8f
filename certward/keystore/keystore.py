"""The keystore: master keys from ``keys/`` plus envelope encryption of every secret at rest.

Typical use::

    keystore = Keystore.load(data_dir / "keys", create=not database_has_sealed_data)
    blob = keystore.seal(private_key_der, record_id="ca/issuing/key")
    assert keystore.open(blob, record_id="ca/issuing/key") == private_key_der

Master key rotation is crash-safe when done in this order:

1. :meth:`Keystore.add_master_key` writes a new primary key into both files
   (standby first, then primary), keeping the old keys. A crash here: both
   files are readable and the higher generation wins; old blobs still open
   with the old keys, new blobs with the new one.
2. Re-wrap every sealed record with :meth:`Keystore.rewrap` and store the
   results in **one** database transaction (and record the new
   :attr:`Keystore.fingerprint` in it). A crash here rolls the transaction
   back: the records still name the old key, which is still in the files.
3. :meth:`Keystore.retire_master_keys` with ``keep=[keystore.primary_key_id]``
   drops the old keys from the files. Only after step 2 has committed: a blob
   still under a dropped key would never open again.

Every process that seals with this ``keys/`` directory must reload the
keystore after step 1 and before step 2 starts; otherwise it keeps sealing
under the old key, which step 3 then removes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import structlog
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from certward.errors import DecryptionFailed
from certward.keystore.envelope import (
    open_envelope,
    parse_envelope,
    rewrap_envelope,
    seal_envelope,
    unwrap_data_key,
)
from certward.keystore.master_key_file import (
    MasterKeySet,
    load_master_keys,
    update_master_keys,
)

__all__ = ["Keystore"]

_log = structlog.get_logger()
_DERIVE_LABEL = b"certward keystore derived secret\x00"


@dataclass(frozen=True, slots=True)
class _KeyRing:
    """Everything ``seal``/``open`` need, swapped as one object so a rotation is never half seen."""

    key_set: MasterKeySet
    ciphers: Mapping[int, AESGCM]
    primary_id: int
    primary: AESGCM

    @classmethod
    def of(cls, key_set: MasterKeySet) -> _KeyRing:
        # AESGCM objects are built once per key: building one per seal costs
        # about as much as the encryption itself.
        ciphers = {key.key_id: AESGCM(key.secret) for key in key_set.keys}
        return cls(
            key_set=key_set,
            ciphers=MappingProxyType(ciphers),
            primary_id=key_set.primary_id,
            primary=ciphers[key_set.primary_id],
        )


class Keystore:
    """The master keys of one ``keys/`` directory and the seal/open operations under them.

    Safe to share between threads: each operation reads one immutable key ring.
    """

    def __init__(self, keys_dir: Path, key_set: MasterKeySet) -> None:
        """Wrap an already loaded key set; use :meth:`load` instead."""
        self._keys_dir = Path(keys_dir)
        self._ring = _KeyRing.of(key_set)
        self._rotation_lock = threading.Lock()

    @classmethod
    def load(cls, keys_dir: Path, *, create: bool) -> Keystore:
        """Load the master keys of ``keys_dir``, repairing one damaged file from its twin.

        Args:
            keys_dir: the ``keys/`` directory (created 0700 when absent, refused when wider).
            create: whether new keys may be generated when both files are absent. Pass
                ``False`` as soon as any sealed data exists: both files missing then
                raises :class:`~certward.errors.KeystoreMissing` instead.
        """
        return cls(keys_dir, load_master_keys(Path(keys_dir), create=create))

    def __repr__(self) -> str:
        return (
            f"Keystore(keys_dir={str(self._keys_dir)!r}, key_ids={self.key_ids!r}, "
            f"fingerprint={self.fingerprint!r})"
        )

    @property
    def keys_dir(self) -> Path:
        """The directory holding ``kmc.ks`` and ``StandbyKsf.ks``."""
        return self._keys_dir

    @property
    def key_ids(self) -> tuple[int, ...]:
        """Ids of every master key held, ascending."""
        return self._ring.key_set.key_ids

    @property
    def primary_key_id(self) -> int:
        """Id of the master key new seals use."""
        return self._ring.primary_id

    @property
    def fingerprint(self) -> str:
        """Non-secret identifier of the primary master key (16 hex digits).

        Record it next to sealed data to tell "wrong keystore" from "damaged
        data". It changes with :meth:`add_master_key`.
        """
        return self._ring.key_set.primary.fingerprint

    @property
    def fingerprints(self) -> Mapping[int, str]:
        """Fingerprint of every master key held, by id."""
        return {key.key_id: key.fingerprint for key in self._ring.key_set.keys}

    def seal(self, plaintext: bytes, *, record_id: str) -> bytes:
        """Encrypt ``plaintext`` for storage under ``record_id`` with the primary master key."""
        ring = self._ring
        return seal_envelope(
            plaintext, record_id=record_id, master_key_id=ring.primary_id, master=ring.primary
        )

    def open(self, blob: bytes, *, record_id: str) -> bytes:
        """Decrypt a blob made by :meth:`seal` for the same ``record_id``.

        Raises :class:`~certward.errors.DecryptionFailed` when the blob is
        truncated, altered, sealed for another record or under a master key
        this keystore does not hold.
        """
        ring = self._ring
        envelope = parse_envelope(blob, record_id=record_id)
        return open_envelope(
            envelope,
            record_id=record_id,
            master=self._cipher(ring, envelope.master_key_id, record_id),
        )

    def rewrap(self, blob: bytes, *, record_id: str) -> bytes:
        """The blob with its data key wrapped by the primary master key; payload unchanged.

        A blob already under the primary key is checked and returned as is, so
        a re-wrap pass can be repeated and can skip writing unchanged records.
        """
        ring = self._ring
        envelope = parse_envelope(blob, record_id=record_id)
        current = self._cipher(ring, envelope.master_key_id, record_id)
        if envelope.master_key_id == ring.primary_id:
            unwrap_data_key(envelope, record_id=record_id, master=current)
            return blob
        return rewrap_envelope(
            envelope,
            record_id=record_id,
            master=current,
            new_master_key_id=ring.primary_id,
            new_master=ring.primary,
        )

    def derive_secret(self, purpose: str, *, key_id: int | None = None) -> bytes:
        """A 32-byte secret for ``purpose``, derived (HKDF-SHA256) from a master key.

        Every process holding the same master keys derives the same secret, so the
        nodes of a cluster agree on it without sharing any state; different purposes
        give unrelated secrets, and the master key itself is never used directly.

        Args:
            purpose: what the secret is for (e.g. ``"console.csrf"``); part of the HKDF info.
            key_id: the master key to derive from (default: the primary one);
                :class:`~certward.errors.DecryptionFailed` when this keystore does not hold it.
        """
        key_set = self._ring.key_set
        wanted = key_set.primary_id if key_id is None else key_id
        master = next((key for key in key_set.keys if key.key_id == wanted), None)
        if master is None:
            raise DecryptionFailed(f"master key {wanted} is not held by this keystore")
        hkdf = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=None,
            info=_DERIVE_LABEL + purpose.encode(),
        )
        return hkdf.derive(master.secret)

    def add_master_key(self) -> int:
        """Generate a new master key, make it primary, keep the old ones; return its id.

        Both files are rewritten (standby, then primary). Old blobs keep opening;
        see the module docstring for the full rotation sequence.
        """
        with self._rotation_lock:
            key_set = update_master_keys(self._keys_dir, lambda current: current.with_new_key())
            self._ring = _KeyRing.of(key_set)
        _log.info(
            "keystore.master_key_added",
            key_id=key_set.primary_id,
            key_ids=list(key_set.key_ids),
            generation=key_set.generation,
        )
        return key_set.primary_id

    def retire_master_keys(self, keep: Iterable[int]) -> None:
        """Drop every master key not in ``keep`` from both files.

        Call it only once every record has been re-wrapped (and committed):
        blobs under a dropped key never open again. ``keep`` must contain the
        primary key; :class:`~certward.errors.InvalidInput` otherwise.
        """
        kept = frozenset(keep)
        retired: list[int] = []

        def drop_others(current: MasterKeySet) -> MasterKeySet:
            retained = current.retaining(kept)
            retired.extend(sorted(set(current.key_ids).difference(retained.key_ids)))
            return retained

        with self._rotation_lock:
            key_set = update_master_keys(self._keys_dir, drop_others)
            self._ring = _KeyRing.of(key_set)
        _log.info(
            "keystore.master_keys_retired",
            retired=retired,
            key_ids=list(key_set.key_ids),
            generation=key_set.generation,
        )

    def reload(self) -> None:
        """Re-read the master key files (after another process rotated keys)."""
        with self._rotation_lock:
            self._ring = _KeyRing.of(load_master_keys(self._keys_dir, create=False))

    @staticmethod
    def _cipher(ring: _KeyRing, master_key_id: int, record_id: str) -> AESGCM:
        cipher = ring.ciphers.get(master_key_id)
        if cipher is None:
            raise DecryptionFailed(
                f"sealed data of record {record_id!r} is wrapped by master key "
                f"{master_key_id}, which this keystore does not hold (retired, or another keystore)"
            )
        return cipher
