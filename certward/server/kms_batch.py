"""Batches of sign / verify / encrypt / decrypt items: each item on its own, one audit commit.

Every item is parsed, authorised and run on its own; a bad item answers its own
error and the others go on. Authorisation is decided once per (key, operation) of
a batch. The audit trail has one row per (key, version, operation, result) of the
batch with the number of items it stands for, stored in one commit before the answer
leaves: a 1000-item batch is a handful of rows, not a thousand inserts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, ValidationError

from certward.errors import CertwardError, InvalidInput, KmsInvalidCiphertext
from certward.kms.ciphertext import INVALID_CIPHERTEXT, parse_ciphertext
from certward.kms.keys import LoadedKey
from certward.kms.operations import runs_long
from certward.server import kms_calls as calls
from certward.server.auth import Caller, blocking
from certward.server.key_use import audit_uses, from_b64, key_for_use, use_row
from certward.server.kms_schemas import DecryptIn, EncryptIn, SignIn, VerifyIn
from certward.server.lean_route import validation_message

__all__ = ["run_batch"]

# Batches with more items than this run in a worker thread: the loop keeps serving.
_ON_LOOP = 8


class _SignItem(SignIn):
    operation: Literal["sign"]
    key: str = Field(max_length=256)


class _VerifyItem(VerifyIn):
    operation: Literal["verify"]
    key: str = Field(max_length=256)


class _EncryptItem(EncryptIn):
    operation: Literal["encrypt"]
    key: str = Field(max_length=256)


class _DecryptItem(DecryptIn):
    operation: Literal["decrypt"]


_Item = _SignItem | _VerifyItem | _EncryptItem | _DecryptItem
_ITEM: TypeAdapter[_Item] = TypeAdapter(Annotated[_Item, Field(discriminator="operation")])
# All items in one call (a third cheaper); when any is invalid, each is checked on its own.
_ITEMS: TypeAdapter[list[_Item]] = TypeAdapter(
    list[Annotated[_Item, Field(discriminator="operation")]]
)
Work = Callable[[LoadedKey], dict[str, Any]]
# (key id or the ref asked for, key version, operation, "ok" or an error code)
_Outcome = tuple[str, int | None, str, str]


def _parsed(items: Sequence[dict[str, Any]]) -> list[_Item | InvalidInput]:
    """Each item as its model, or the InvalidInput saying what is wrong with it."""
    try:
        return list(_ITEMS.validate_python(items))
    except ValidationError:
        pass
    parsed: list[_Item | InvalidInput] = []
    for index, raw in enumerate(items):
        try:
            parsed.append(_ITEM.validate_python(raw))
        except ValidationError as exc:
            parsed.append(InvalidInput(f"items.{index}: {validation_message(exc)}"))
    return parsed


def _error(exc: CertwardError) -> dict[str, Any]:
    return {"ok": False, "error": exc.to_dict()}


def _ref(item: _Item) -> str:
    if isinstance(item, _DecryptItem):
        return parse_ciphertext(from_b64(item.ciphertext, "ciphertext")).key_id
    return item.key


def _work(item: _Item, limit: int) -> Work:
    """The item's operation: key → its result fields (raises CertwardError)."""
    if isinstance(item, _SignItem):
        return lambda key: calls.sign_fields(calls.sign(key, item, limit))
    if isinstance(item, _VerifyItem):
        return lambda key: calls.verify_fields(calls.verify(key, item, limit))
    if isinstance(item, _EncryptItem):
        return lambda key: calls.encrypt_fields(calls.encrypt(key, item, limit))

    def decrypt(key: LoadedKey) -> dict[str, Any]:
        if item.key is not None and item.key not in key.resources:
            raise InvalidInput(f"the ciphertext was made with key {key.key_id}, not {item.key}")
        blob = from_b64(item.ciphertext, "ciphertext")
        return calls.decrypt_fields(calls.decrypt_blob(key, blob, item.context))

    return decrypt


async def run_batch(who: Caller, items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The result of each item, in order: ``{"ok": true, ...}`` or ``{"ok": false, "error"}``."""
    limit = who.runtime.ctx.settings.kms.max_message_bytes
    results: list[dict[str, Any]] = [{} for _ in items]
    outcomes: Counter[_Outcome] = Counter()
    decided: dict[tuple[str, str], LoadedKey | CertwardError] = {}
    ready: list[tuple[int, str, LoadedKey, Work]] = []
    for index, item in enumerate(_parsed(items)):
        if isinstance(item, InvalidInput):
            results[index] = _error(item)
            continue
        try:
            ref = _ref(item)
        except CertwardError as exc:
            results[index] = _error(exc)  # names no key: nothing to audit against
            continue
        key = decided.get((ref, item.operation))
        if key is None:
            missing = (
                KmsInvalidCiphertext(INVALID_CIPHERTEXT) if item.operation == "decrypt" else None
            )
            try:
                key = await key_for_use(who, ref, item.operation, not_found=missing)
            except CertwardError as exc:
                key = exc
            decided[(ref, item.operation)] = key
        if isinstance(key, CertwardError):
            results[index] = _error(key)
            outcomes[(ref, None, item.operation, key.code)] += 1
            continue
        ready.append((index, item.operation, key, _work(item, limit)))

    def run() -> None:
        for index, operation, key, work in ready:
            try:
                fields = work(key)
            except CertwardError as exc:
                results[index] = _error(exc)
                outcomes[(key.key_id, None, operation, exc.code)] += 1
                continue
            results[index] = {"ok": True, **fields}
            outcomes[(key.key_id, fields["key_version"], operation, "ok")] += 1

    if len(ready) > _ON_LOOP or any(runs_long(key, op) for _, op, key, _ in ready):
        await blocking(run)
    else:
        run()
    await audit_uses(
        who,
        [
            use_row(who, key_id, operation, version=version, error=result, count=count)
            for (key_id, version, operation, result), count in outcomes.items()
        ],
    )
    return results
