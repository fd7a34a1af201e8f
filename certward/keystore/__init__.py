"""The root of trust on disk: master key files and envelope encryption of secrets at rest.

``Keystore.load(keys_dir, create=...)`` reads ``keys/kmc.ks`` and its twin
``keys/StandbyKsf.ks`` (repairing one from the other), then ``seal``/``open``
encrypt every private key and secret with a per-record data key (AES-256-GCM)
bound to the record id.
"""

from certward.keystore.envelope import BLOB_FORMAT, BLOB_OVERHEAD
from certward.keystore.keystore import Keystore
from certward.keystore.master_key_file import (
    PRIMARY_FILE_NAME,
    STANDBY_FILE_NAME,
    MasterKey,
    MasterKeySet,
)

__all__ = [
    "BLOB_FORMAT",
    "BLOB_OVERHEAD",
    "PRIMARY_FILE_NAME",
    "STANDBY_FILE_NAME",
    "Keystore",
    "MasterKey",
    "MasterKeySet",
]
