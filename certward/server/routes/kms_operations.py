"""``/v1/kms`` operations: sign, verify, encrypt, decrypt, data keys, re-encrypt, MAC, batch.

These are the hot routes: :class:`~certward.server.lean_route.LeanRoute`s that the
app answers ahead of FastAPI's stack (:class:`~certward.server.lean_route.FastPath`),
from the key cache, on the event loop (see :mod:`certward.server.key_use`).
``{key_ref}`` is a key id, ``alias/<name>`` or ``alias:<name>``.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends

from certward.errors import CertwardError, InvalidInput, KmsInvalidCiphertext, PayloadTooLarge
from certward.kms import operations
from certward.kms.ciphertext import INVALID_CIPHERTEXT, parse_ciphertext
from certward.kms.keys import LoadedKey
from certward.server import kms_calls as calls
from certward.server.auth import Caller, blocking, caller
from certward.server.key_use import (
    audit_uses,
    b64,
    from_b64,
    key_for_use,
    require_use,
    use_key,
    use_row,
)
from certward.server.kms_batch import run_batch
from certward.server.kms_schemas import (
    BatchIn,
    BatchOut,
    DataKeyIn,
    DataKeyOut,
    DecryptIn,
    DecryptOut,
    EncryptIn,
    EncryptOut,
    KeyDecryptIn,
    MacIn,
    MacOut,
    RandomIn,
    RandomOut,
    ReEncryptIn,
    ReEncryptOut,
    SignIn,
    SignOut,
    VerifyIn,
    VerifyMacIn,
    VerifyMacOut,
    VerifyOut,
)
from certward.server.lean_route import LeanRoute

__all__ = ["router"]

router = APIRouter(prefix="/v1/kms", tags=["kms"], route_class=LeanRoute)
Who = Annotated[Caller, Depends(caller)]


def _limit(who: Caller) -> int:
    return who.runtime.ctx.settings.kms.max_message_bytes


# -- single operations -------------------------------------------------------------------


@router.post("/keys/{key_ref:path}/sign", response_model=SignOut)
async def sign(key_ref: str, body: SignIn, who: Who) -> SignOut:
    """Sign a message (or its digest) with the key's primary version."""
    result = await use_key(who, key_ref, "sign", partial(calls.sign, body=body, limit=_limit(who)))
    return SignOut(**calls.sign_fields(result), request_id=who.request_id)


@router.post("/keys/{key_ref:path}/verify", response_model=VerifyOut)
async def verify(key_ref: str, body: VerifyIn, who: Who) -> VerifyOut:
    """Check a signature; a wrong signature is ``value: false``, not an error."""
    result = await use_key(
        who, key_ref, "verify", partial(calls.verify, body=body, limit=_limit(who))
    )
    return VerifyOut(**calls.verify_fields(result), request_id=who.request_id)


@router.post("/keys/{key_ref:path}/encrypt", response_model=EncryptOut)
async def encrypt(key_ref: str, body: EncryptIn, who: Who) -> EncryptOut:
    """Encrypt into a ciphertext blob bound to the encryption context."""
    result = await use_key(
        who, key_ref, "encrypt", partial(calls.encrypt, body=body, limit=_limit(who))
    )
    return EncryptOut(**calls.encrypt_fields(result), request_id=who.request_id)


@router.post("/decrypt", response_model=DecryptOut)
async def decrypt(body: DecryptIn, who: Who) -> DecryptOut:
    """Decrypt a blob with the key (and version) it names."""
    require_use(who, "decrypt")
    ciphertext = from_b64(body.ciphertext, "ciphertext")
    ref = parse_ciphertext(ciphertext).key_id

    def work(key: LoadedKey) -> operations.Decrypted:
        if body.key is not None and body.key not in key.resources:
            raise InvalidInput(f"the ciphertext was made with key {key.key_id}, not {body.key}")
        return calls.decrypt_blob(key, ciphertext, body.context)

    result = await use_key(
        who, ref, "decrypt", work, not_found=KmsInvalidCiphertext(INVALID_CIPHERTEXT)
    )
    return DecryptOut(**calls.decrypt_fields(result), request_id=who.request_id)


@router.post("/keys/{key_ref:path}/decrypt", response_model=DecryptOut)
async def decrypt_with_key(key_ref: str, body: KeyDecryptIn, who: Who) -> DecryptOut:
    """Decrypt a blob of this key, or a bare RSAES-OAEP-SHA256 ciphertext made offline."""
    require_use(who, "decrypt")
    ciphertext = from_b64(body.ciphertext, "ciphertext")

    def work(key: LoadedKey) -> operations.Decrypted:
        if operations.is_raw_rsa_ciphertext(key, ciphertext):
            if body.context:
                raise InvalidInput("a bare RSA ciphertext has no encryption context")
            if body.algorithm not in (None, "RSAES_OAEP_SHA_256"):
                raise InvalidInput(f"{body.algorithm!r} does not fit a bare RSA ciphertext")
            return operations.decrypt_raw(key, ciphertext, key_version=body.key_version)
        blob = parse_ciphertext(ciphertext)
        if blob.key_id != key.key_id:
            raise InvalidInput(f"the ciphertext was made with key {blob.key_id}, not {key.key_id}")
        return operations.decrypt(key, blob, context=body.context)

    result = await use_key(who, key_ref, "decrypt", work)
    return DecryptOut(**calls.decrypt_fields(result), request_id=who.request_id)


@router.post(
    "/keys/{key_ref:path}/generate-data-key",
    response_model=DataKeyOut,
    response_model_exclude_none=True,
)
async def generate_data_key(key_ref: str, body: DataKeyIn, who: Who) -> DataKeyOut:
    """A fresh data key, wrapped under the key (and in clear unless not asked for)."""
    result = await use_key(
        who,
        key_ref,
        "generate_data_key",
        lambda key: operations.generate_data_key(
            key,
            key_spec=body.key_spec,
            number_of_bytes=body.number_of_bytes,
            context=body.context,
            include_plaintext=body.include_plaintext,
        ),
    )
    return DataKeyOut(
        key_id=result.key_id,
        key_version=result.key_version,
        ciphertext=b64(result.ciphertext),
        plaintext=b64(result.plaintext) if result.plaintext is not None else None,
        request_id=who.request_id,
    )


@router.post("/re-encrypt", response_model=ReEncryptOut)
async def re_encrypt(body: ReEncryptIn, who: Who) -> ReEncryptOut:
    """Move a blob to another key (or the newest version); the plaintext stays in the server."""
    require_use(who, "re_encrypt")
    blob = parse_ciphertext(from_b64(body.ciphertext, "ciphertext"))
    rows = []
    source_id, destination_id = blob.key_id, body.destination_key
    try:
        source = await key_for_use(
            who, blob.key_id, "re_encrypt", not_found=KmsInvalidCiphertext(INVALID_CIPHERTEXT)
        )
        source_id = source.key_id
        destination = await key_for_use(who, body.destination_key, "re_encrypt")
        destination_id = destination.key_id
        work = partial(
            operations.re_encrypt,
            source,
            blob,
            destination,
            source_context=body.source_context,
            destination_context=body.destination_context,
        )
        slow = operations.runs_long(source, "re_encrypt")
        result = await blocking(work) if slow else work()
    except CertwardError as exc:
        rows = [use_row(who, source_id, "re_encrypt", error=exc)]
        if destination_id != source_id:
            rows.append(use_row(who, destination_id, "re_encrypt", error=exc))
        await audit_uses(who, rows)
        raise
    rows = [use_row(who, source_id, "re_encrypt", version=result.source_key_version)]
    rows.append(use_row(who, destination_id, "re_encrypt", version=result.key_version))
    await audit_uses(who, rows)
    return ReEncryptOut(
        source_key_id=result.source_key_id,
        source_key_version=result.source_key_version,
        key_id=result.key_id,
        key_version=result.key_version,
        ciphertext=b64(result.ciphertext),
        request_id=who.request_id,
    )


@router.post("/keys/{key_ref:path}/generate-mac", response_model=MacOut)
async def generate_mac(key_ref: str, body: MacIn, who: Who) -> MacOut:
    """The HMAC of a message under the key's primary version."""
    result = await use_key(
        who,
        key_ref,
        "generate_mac",
        lambda key: operations.generate_mac(
            key,
            message=from_b64(body.message, "message"),
            algorithm=body.algorithm,
            max_message_bytes=_limit(who),
        ),
    )
    return MacOut(
        key_id=result.key_id,
        key_version=result.key_version,
        algorithm=result.algorithm.value,
        mac=b64(result.mac),
        request_id=who.request_id,
    )


@router.post("/keys/{key_ref:path}/verify-mac", response_model=VerifyMacOut)
async def verify_mac(key_ref: str, body: VerifyMacIn, who: Who) -> VerifyMacOut:
    """Whether a MAC holds; a wrong one is ``value: false``."""
    result = await use_key(
        who,
        key_ref,
        "verify_mac",
        lambda key: operations.verify_mac(
            key,
            message=from_b64(body.message, "message"),
            mac=from_b64(body.mac, "mac"),
            algorithm=body.algorithm,
            key_version=body.key_version,
            max_message_bytes=_limit(who),
        ),
    )
    return VerifyMacOut(
        key_id=result.key_id,
        key_version=result.key_version,
        algorithm=result.algorithm.value,
        value=result.value,
        request_id=who.request_id,
    )


@router.post("/random", response_model=RandomOut)
async def random(body: RandomIn, who: Who) -> RandomOut:
    """Random bytes from the server's CSPRNG (any authenticated principal)."""
    return RandomOut(
        random=b64(operations.generate_random(body.number_of_bytes)), request_id=who.request_id
    )


@router.post("/batch", response_model=BatchOut)
async def batch(body: BatchIn, who: Who) -> BatchOut:
    """Many sign / verify / encrypt / decrypt items, each authorised and answered on its own."""
    require_use(who)
    most = who.runtime.ctx.settings.kms.max_batch_items
    if len(body.items) > most:
        raise PayloadTooLarge(
            f"a batch holds at most {most} items ([kms].max_batch_items), not {len(body.items)}"
        )
    # Made by run_batch (dicts of plain values): no need to validate them again.
    return BatchOut.model_construct(
        results=await run_batch(who, body.items), request_id=who.request_id
    )
