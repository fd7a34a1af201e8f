"""Bring your own key: import key material wrapped for certward, or a public key alone.

The importer asks for import parameters: a fresh RSA wrapping key pair, whose
public half it gets (with a one-time token valid ``[kms].import_token_minutes``)
and whose private half stays sealed in the database. It wraps its material with
that public key, as the cloud KMSs do:

- ``RSAES_OAEP_SHA_256``: OAEP-SHA256 of the material itself (small keys only);
- ``RSA_AES_KEY_WRAP_SHA_256``: OAEP-SHA256 of an ephemeral AES-256 key, followed
  by the material wrapped under it with AES key wrap with padding (RFC 5649).

Material is raw bytes for AES and HMAC keys, PKCS#8 DER for private keys. Each
import adds a version and makes it primary; the token is then deleted.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives import hashes, keywrap, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from certward.ca.context import CAContext
from certward.ca.group_commit import TableRow
from certward.errors import KmsImportInvalid, KmsInvalidState
from certward.kms.keys import KeyInfo, add_version, change_key, create_key, describe_key
from certward.kms.material import NewMaterial, imported_material, spec_of_public_key
from certward.kms.records import import_token_record_id
from certward.kms.specs import KeyOrigin, KeySpec, KeyState, KeyUsage, parse_choice
from certward.store.models import KmsImportTokenRow, KmsKeyRow

__all__ = [
    "ImportParameters",
    "WrappingAlgorithm",
    "WrappingSpec",
    "get_import_parameters",
    "import_key_material",
    "import_public_key",
    "purge_expired_import_tokens",
]


class WrappingAlgorithm(enum.StrEnum):
    RSAES_OAEP_SHA_256 = "RSAES_OAEP_SHA_256"
    RSA_AES_KEY_WRAP_SHA_256 = "RSA_AES_KEY_WRAP_SHA_256"


class WrappingSpec(enum.StrEnum):
    RSA_3072 = "RSA_3072"
    RSA_4096 = "RSA_4096"


_WRAPPING_BITS = {WrappingSpec.RSA_3072: 3072, WrappingSpec.RSA_4096: 4096}
_NO_SUCH_IMPORT = "the import token is unknown, used or expired; get new import parameters"
_UNWRAP_FAILED = (
    "the key material could not be unwrapped with this token's wrapping key and algorithm"
)
_MAX_PUBLIC_KEY_PEM = 16_384


@dataclass(frozen=True)
class ImportParameters:
    """What an importer needs: the wrapping public key and the token naming it."""

    key_id: str
    import_token: str
    public_key_pem: bytes
    wrapping_algorithm: WrappingAlgorithm
    wrapping_spec: WrappingSpec
    expires_at: datetime


def _oaep() -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def _check_importable(key_id: str, origin: str, state: str) -> None:
    if origin != KeyOrigin.EXTERNAL:
        raise KmsInvalidState(
            f"key {key_id} has origin {origin}; only a key created with origin EXTERNAL "
            "takes imported material"
        )
    if state == KeyState.PENDING_DELETION:
        raise KmsInvalidState(f"key {key_id} is pending deletion; cancel the deletion first")


def get_import_parameters(
    ctx: CAContext,
    ref: str,
    *,
    wrapping_algorithm: str,
    wrapping_spec: str = WrappingSpec.RSA_3072.value,
    extra_rows: Sequence[TableRow] = (),
) -> ImportParameters:
    """A wrapping key pair and token for one import into ``ref`` (slow: RSA key generation)."""
    algorithm = parse_choice(WrappingAlgorithm, wrapping_algorithm, what="wrapping algorithm")
    spec = parse_choice(WrappingSpec, wrapping_spec, what="wrapping spec")
    current = describe_key(ctx, ref)
    _check_importable(current.key_id, current.origin, current.state)
    wrapping_key = rsa.generate_private_key(public_exponent=65537, key_size=_WRAPPING_BITS[spec])
    token = secrets.token_urlsafe(32)
    expires_at = ctx.clock() + timedelta(minutes=ctx.settings.kms.import_token_minutes)
    private_der = wrapping_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = wrapping_key.public_key()

    def store(session: Session, row: KmsKeyRow) -> None:
        _check_importable(row.key_id, row.origin, row.state)
        session.add(
            KmsImportTokenRow(
                token=token,
                key_id=row.id,
                wrapping_spec=spec.value,
                wrapping_algorithm=algorithm.value,
                wrapping_key_sealed=ctx.keystore.seal(
                    private_der, record_id=import_token_record_id(token)
                ),
                public_der=public.public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                ),
                expires_at=expires_at,
                used_at=None,
            )
        )

    change_key(ctx, current.key_id, store, extra_rows=extra_rows)
    return ImportParameters(
        key_id=current.key_id,
        import_token=token,
        public_key_pem=public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        wrapping_algorithm=algorithm,
        wrapping_spec=spec,
        expires_at=expires_at,
    )


def _unwrap(wrapping_key: rsa.RSAPrivateKey, algorithm: WrappingAlgorithm, data: bytes) -> bytes:
    size = wrapping_key.key_size // 8
    try:
        if algorithm is WrappingAlgorithm.RSAES_OAEP_SHA_256:
            return wrapping_key.decrypt(data, _oaep())
        if len(data) <= size:
            raise KmsImportInvalid(_UNWRAP_FAILED)
        aes_key = wrapping_key.decrypt(data[:size], _oaep())
        if len(aes_key) != 32:
            raise KmsImportInvalid(_UNWRAP_FAILED)
        return keywrap.aes_key_unwrap_with_padding(aes_key, data[size:])
    except (ValueError, keywrap.InvalidUnwrap):
        raise KmsImportInvalid(_UNWRAP_FAILED) from None


def import_key_material(
    ctx: CAContext,
    ref: str,
    *,
    import_token: str,
    encrypted_key_material: bytes,
    extra_rows: Sequence[TableRow] = (),
) -> KeyInfo:
    """Unwrap material with the token's key, check it fits the key's spec, add it as primary.

    The key becomes Enabled and the token is used up. A refused import changes nothing
    (the token stays valid until it expires).
    """

    def load(session: Session, row: KmsKeyRow) -> None:
        _check_importable(row.key_id, row.origin, row.state)
        token = session.scalar(
            select(KmsImportTokenRow).where(
                KmsImportTokenRow.token == import_token, KmsImportTokenRow.key_id == row.id
            )
        )
        if token is None or token.expires_at <= ctx.clock():
            raise KmsImportInvalid(_NO_SUCH_IMPORT)
        opened = ctx.keystore.open(
            token.wrapping_key_sealed, record_id=import_token_record_id(token.token)
        )
        wrapping_key = serialization.load_der_private_key(opened, password=None)
        assert isinstance(wrapping_key, rsa.RSAPrivateKey)
        algorithm = WrappingAlgorithm(token.wrapping_algorithm)
        material = imported_material(
            KeySpec(row.spec), _unwrap(wrapping_key, algorithm, encrypted_key_material)
        )
        add_version(ctx, session, row, material)
        row.state = KeyState.ENABLED.value
        session.delete(token)

    return change_key(ctx, ref, load, extra_rows=extra_rows)


def import_public_key(
    ctx: CAContext,
    *,
    public_key_pem: bytes,
    usage: KeyUsage = KeyUsage.SIGN_VERIFY,
    alias: str | None = None,
    description: str = "",
    key_id: str | None = None,
    created_by: str | None = None,
    extra_rows: Sequence[TableRow] = (),
) -> KeyInfo:
    """A PUBLIC_ONLY key holding an outside public key: it verifies (or encrypts) only."""
    if len(public_key_pem) > _MAX_PUBLIC_KEY_PEM:
        raise KmsImportInvalid("the public key PEM is too large")
    try:
        public = serialization.load_pem_public_key(public_key_pem)
    except (ValueError, TypeError):
        raise KmsImportInvalid("the public key is not a PEM SubjectPublicKeyInfo") from None
    spec = spec_of_public_key(public)
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return create_key(
        ctx,
        spec=spec,
        usage=usage,
        origin=KeyOrigin.PUBLIC_ONLY,
        description=description,
        alias=alias,
        key_id=key_id,
        created_by=created_by,
        material=NewMaterial(secret=None, public_der=der),
        extra_rows=extra_rows,
    )


def purge_expired_import_tokens(ctx: CAContext) -> int:
    """Delete import tokens (and their wrapping keys) past their expiry; how many."""
    with ctx.database.transaction() as session:
        result = session.execute(
            delete(KmsImportTokenRow).where(KmsImportTokenRow.expires_at <= ctx.clock())
        )
        return int(getattr(result, "rowcount", 0) or 0)
