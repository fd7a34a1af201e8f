"""The JSON shapes of the KMS API (see docs/kms.md). Binary values are standard base64."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from certward.kms.specs import KeySpec, KeyUsage
from certward.server.schemas import AuditEventOut, PrincipalOut

_CONTEXT = Field(
    default=None,
    description="encryption context: string pairs bound to the ciphertext (needed to decrypt)",
)
_B64 = "base64"


class _In(BaseModel):
    # Unknown fields are an error, not silently dropped: a typo must not change meaning.
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    request_id: str | None


# -- keys ---------------------------------------------------------------------------


class KeyCreateIn(_In):
    spec: KeySpec
    usage: KeyUsage
    description: str = Field(default="", max_length=1000)
    tags: dict[str, str] = Field(default_factory=dict)
    alias: str | None = Field(default=None, max_length=256, examples=["alias/signing"])
    rotation_period_days: int | None = Field(default=None, ge=0, le=3650)
    origin: Literal["CERTWARD", "EXTERNAL"] = "CERTWARD"


class KeyVersionOut(BaseModel):
    version: int
    created_at: datetime


class KeyInfoOut(BaseModel):
    key_id: str
    aliases: list[str]
    spec: str
    usage: str
    origin: str
    state: str
    description: str
    tags: dict[str, str]
    primary_version: int | None
    versions: list[KeyVersionOut]
    min_decryption_version: int | None
    rotation_period_days: int | None
    next_rotation_at: datetime | None
    deletion_date: datetime | None
    created_at: datetime


class KeyOut(KeyInfoOut, _Out):
    pass


class KeyPageOut(_Out):
    items: list[KeyInfoOut]
    next_cursor: str | None


class ScheduleDeletionIn(_In):
    pending_window_days: int | None = Field(
        default=None, description="7-30; default [kms].default_deletion_days"
    )


class KeySettingsIn(_In):
    description: str | None = Field(default=None, max_length=1000)
    tags: dict[str, str] | None = None
    rotation_period_days: int | None = Field(
        default=None, ge=0, le=3650, description="null or 0: no automatic rotation"
    )
    min_decryption_version: int | None = Field(default=None, ge=1)


class AliasIn(_In):
    alias: str = Field(max_length=256, examples=["alias/signing"])
    key: str = Field(max_length=256, description="key id or alias")


class AliasOut(_Out):
    alias: str
    key_id: str


class KeyEventsOut(_Out):
    items: list[AuditEventOut]
    next_cursor: str | None


# -- operations -----------------------------------------------------------------------


class SignIn(_In):
    message: str | None = Field(default=None, description=f"{_B64}; or give digest")
    digest: str | None = Field(default=None, description=f"{_B64} hash of the message")
    algorithm: str = Field(examples=["RSA_PSS_SHA_256", "ECDSA_SHA_256"])


class SignOut(_Out):
    key_id: str
    key_version: int
    algorithm: str
    signature: str = Field(description=f"{_B64}; DER for ECDSA")


class VerifyIn(SignIn):
    signature: str = Field(description=_B64)
    key_version: int | None = Field(default=None, ge=1, description="default: primary")


class VerifyOut(_Out):
    key_id: str
    key_version: int
    algorithm: str
    value: bool


class EncryptIn(_In):
    plaintext: str = Field(description=_B64)
    context: dict[str, str] | None = _CONTEXT
    algorithm: str | None = Field(default=None, examples=["AES_256_GCM", "RSAES_OAEP_SHA_256"])


class EncryptOut(_Out):
    key_id: str
    key_version: int
    algorithm: str
    ciphertext: str = Field(description=f"{_B64} ciphertext blob")


class DecryptIn(_In):
    ciphertext: str = Field(description=f"{_B64} ciphertext blob")
    context: dict[str, str] | None = _CONTEXT
    key: str | None = Field(default=None, description="if given, it must be the blob's key")


class KeyDecryptIn(_In):
    ciphertext: str = Field(description=f"{_B64}: a blob, or a bare RSAES-OAEP ciphertext")
    context: dict[str, str] | None = _CONTEXT
    algorithm: str | None = Field(default=None, examples=["RSAES_OAEP_SHA_256"])
    key_version: int | None = Field(default=None, ge=1, description="bare RSA ciphertexts")


class DecryptOut(_Out):
    key_id: str
    key_version: int
    algorithm: str
    plaintext: str = Field(description=_B64)


class DataKeyIn(_In):
    key_spec: str | None = Field(default=None, examples=["AES_256", "AES_128"])
    number_of_bytes: int | None = Field(default=None, ge=1, le=1024)
    context: dict[str, str] | None = _CONTEXT
    include_plaintext: bool = True


class DataKeyOut(_Out):
    key_id: str
    key_version: int
    ciphertext: str = Field(description=f"{_B64} ciphertext blob of the data key")
    plaintext: str | None = Field(default=None, description=f"{_B64}; absent if not asked for")


class ReEncryptIn(_In):
    ciphertext: str = Field(description=f"{_B64} ciphertext blob")
    source_context: dict[str, str] | None = None
    destination_key: str = Field(max_length=256)
    destination_context: dict[str, str] | None = None


class ReEncryptOut(_Out):
    source_key_id: str
    source_key_version: int
    key_id: str
    key_version: int
    ciphertext: str


class MacIn(_In):
    message: str = Field(description=_B64)
    algorithm: str = Field(examples=["HMAC_SHA_256"])


class MacOut(_Out):
    key_id: str
    key_version: int
    algorithm: str
    mac: str


class VerifyMacIn(MacIn):
    mac: str = Field(description=_B64)
    key_version: int | None = Field(default=None, ge=1)


class VerifyMacOut(_Out):
    key_id: str
    key_version: int
    algorithm: str
    value: bool


class PublicKeyOut(_Out):
    key_id: str
    key_version: int
    spec: str
    public_key_pem: str


class RandomIn(_In):
    number_of_bytes: int = Field(ge=1, le=1024)


class RandomOut(_Out):
    random: str


class BatchIn(_In):
    items: list[dict[str, Any]] = Field(
        min_length=1,
        description=(
            "at most [kms].max_batch_items items, each {operation: sign|verify|encrypt|decrypt, "
            "key, ...the fields of that operation}"
        ),
    )


class BatchOut(_Out):
    results: list[dict[str, Any]] = Field(
        description="per item: {ok: true, ...result} or {ok: false, error: {code, message}}"
    )


# -- bring your own key -------------------------------------------------------------------


class ImportParametersIn(_In):
    wrapping_algorithm: str = Field(examples=["RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_256"])
    wrapping_spec: str = Field(default="RSA_3072", examples=["RSA_3072", "RSA_4096"])


class ImportParametersOut(_Out):
    key_id: str
    import_token: str
    public_key_pem: str
    wrapping_algorithm: str
    wrapping_spec: str
    expires_at: datetime


class ImportIn(_In):
    import_token: str = Field(max_length=64)
    encrypted_key_material: str = Field(description=_B64)


class ImportPublicIn(_In):
    public_key_pem: str = Field(max_length=16384)
    usage: KeyUsage = KeyUsage.SIGN_VERIFY
    alias: str | None = Field(default=None, max_length=256)
    description: str = Field(default="", max_length=1000)


# -- access points ---------------------------------------------------------------------


class AccessPointIn(_In):
    name: str = Field(max_length=64)
    keys: list[str] = Field(min_length=1, max_length=100, description="key ids or aliases")
    operations: list[str] = Field(min_length=1, max_length=20, examples=[["sign", "verify"]])
    description: str = Field(default="", max_length=500)
    days: int | None = Field(default=None, ge=1, le=3650)


class ClientKeyOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    key_id: str = Field(alias="KeyId")
    private_key_data: str = Field(alias="PrivateKeyData", description="base64 PKCS#12")


class AccessPointOut(_Out):
    principal: PrincipalOut
    client_key: ClientKeyOut
    password: str
    ca_pem: str
