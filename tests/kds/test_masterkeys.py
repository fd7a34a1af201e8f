"""The master key set: 64 random bytes per key, sealed, current = second-newest, expiry,
export and import (on SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from certward.access.audit import query_events
from certward.ca.context import CAContext
from certward.datadir import initialise_data_dir
from certward.errors import Conflict, MalformedData, ServiceUnavailable
from certward.kds.ident import KeyIdent
from certward.kds.masterkeys import (
    MasterKeySet,
    current_timestamp,
    expire_master_keys,
    export_master_keys,
    import_master_keys,
    list_master_keys,
    publish_master_key,
)
from certward.store.models import KdsMasterKeyRow

ISSUER_DER = b"\x30\x00"  # an empty Name: the formula only needs its bytes
DAY_MS = 86_400_000


def _clock(value: int):  # type: ignore[no-untyped-def]
    return lambda: value


def _exported(ctx: CAContext) -> dict[int, bytes]:
    document = json.loads(export_master_keys(ctx, principal="test"))
    return {entry["timestamp"]: base64.b64decode(entry["key"]) for entry in document}


def _expected_key(timestamp: int, master: bytes, ident: KeyIdent) -> bytes:
    text = f"{timestamp} {ident.nonce} {ident.group}".encode()
    return hashlib.sha256(struct.pack(">q", timestamp) + master + text + ISSUER_DER).digest()


@pytest.fixture
def other_context(tmp_path: Path) -> Iterator[CAContext]:
    """A second, unrelated installation (SQLite)."""
    context = initialise_data_dir(tmp_path / "other", database=None)
    yield context
    context.database.dispose()


def test_a_published_key_is_64_random_bytes_sealed_at_rest(ca_context: CAContext) -> None:
    first = publish_master_key(ca_context, created_by="node-a")
    second = publish_master_key(ca_context, created_by="node-a")

    keys = _exported(ca_context)
    assert sorted(keys) == [first, second]
    assert all(len(key) == 64 for key in keys.values())
    assert keys[first] != keys[second]
    with ca_context.database.read() as session:
        rows = session.scalars(select(KdsMasterKeyRow)).all()
    for row in rows:
        assert keys[row.timestamp] not in row.key_sealed
        assert row.created_by == "node-a"


def test_the_current_key_is_the_second_newest(ca_context: CAContext) -> None:
    stamps = [publish_master_key(ca_context, created_by="n", clock_ms=_clock(t)) for t in (1, 2, 3)]
    keys = MasterKeySet(ca_context)
    keys.refresh()

    assert keys.ring.timestamps == tuple(stamps)
    assert keys.ring.current is not None and keys.ring.current.timestamp == 2
    assert current_timestamp(stamps) == 2


def test_a_single_key_is_current_and_an_empty_set_has_none(ca_context: CAContext) -> None:
    keys = MasterKeySet(ca_context)
    keys.refresh()
    with pytest.raises(ServiceUnavailable):
        keys.ring.for_request(-1)

    only = publish_master_key(ca_context, created_by="n")
    keys.refresh()

    assert keys.ring.for_request(-1).timestamp == only


def test_a_request_gets_its_own_key_or_else_the_current_one(ca_context: CAContext) -> None:
    for t in (1000, 2000, 3000):
        publish_master_key(ca_context, created_by="n", clock_ms=_clock(t))
    keys = MasterKeySet(ca_context)
    keys.refresh()
    masters = _exported(ca_context)
    ident = KeyIdent(1000, 42, "urn:prjA")

    own = keys.ring.for_request(1000)
    unknown = keys.ring.for_request(999)
    current = keys.ring.for_request(-1)

    assert own.timestamp == 1000
    assert own.derive(ident, ISSUER_DER) == _expected_key(1000, masters[1000], ident)
    assert unknown.timestamp == current.timestamp == 2000
    assert unknown.derive(ident, ISSUER_DER) == _expected_key(2000, masters[2000], ident)


def test_a_new_key_comes_after_the_newest_even_when_the_clock_stepped_back(
    ca_context: CAContext,
) -> None:
    publish_master_key(ca_context, created_by="n", clock_ms=_clock(5000))

    later = publish_master_key(ca_context, created_by="n", clock_ms=_clock(4000))

    assert later == 5001


def test_keys_past_their_lifespan_are_deleted(ca_context: CAContext) -> None:
    now = 400 * DAY_MS
    old = publish_master_key(ca_context, created_by="n", clock_ms=_clock(now - 366 * DAY_MS))
    young = publish_master_key(ca_context, created_by="n", clock_ms=_clock(now - 364 * DAY_MS))

    gone = expire_master_keys(ca_context, lifespan_days=365, clock_ms=_clock(now))

    assert gone == [old]
    assert [info.timestamp for info in list_master_keys(ca_context)] == [young]


def test_the_opened_set_is_reloaded_only_when_the_table_changed(ca_context: CAContext) -> None:
    keys = MasterKeySet(ca_context)
    assert keys.refresh() is False  # still empty
    publish_master_key(ca_context, created_by="n")

    assert keys.refresh() is True
    before = keys.ring
    assert keys.refresh() is False
    assert keys.ring is before


def test_exported_keys_imported_elsewhere_derive_the_same_keys(
    ca_context: CAContext, other_context: CAContext
) -> None:
    for t in (10, 20):
        publish_master_key(ca_context, created_by="n", clock_ms=_clock(t))
    data = export_master_keys(ca_context, principal="local:alice")

    report = import_master_keys(other_context, data, principal="local:bob")

    assert report.added == (10, 20) and report.unchanged == ()
    here, there = MasterKeySet(ca_context), MasterKeySet(other_context)
    here.refresh()
    there.refresh()
    ident = KeyIdent(-1, 7, "urn:prjB")
    for t in (10, 20):
        assert here.ring.for_request(t).derive(ident, ISSUER_DER) == there.ring.for_request(
            t
        ).derive(ident, ISSUER_DER)


def test_importing_the_same_keys_again_changes_nothing(ca_context: CAContext) -> None:
    publish_master_key(ca_context, created_by="n", clock_ms=_clock(10))
    data = export_master_keys(ca_context, principal="test")

    report = import_master_keys(ca_context, data, principal="test")

    assert report.added == () and report.unchanged == (10,)


def test_a_timestamp_stored_with_other_bytes_is_a_conflict_and_nothing_is_added(
    ca_context: CAContext,
) -> None:
    publish_master_key(ca_context, created_by="n", clock_ms=_clock(10))
    other = base64.b64encode(bytes(64)).decode()
    document = [{"timestamp": 5, "key": other}, {"timestamp": 10, "key": other}]

    with pytest.raises(Conflict):
        import_master_keys(ca_context, json.dumps(document).encode(), principal="test")

    assert [info.timestamp for info in list_master_keys(ca_context)] == [10]


def test_a_file_naming_one_timestamp_twice_with_different_bytes_is_a_conflict(
    ca_context: CAContext,
) -> None:
    document = [
        {"timestamp": 5, "key": base64.b64encode(bytes(64)).decode()},
        {"timestamp": 5, "key": base64.b64encode(b"\x01" * 64).decode()},
    ]

    with pytest.raises(Conflict):
        import_master_keys(ca_context, json.dumps(document).encode(), principal="test")

    assert list_master_keys(ca_context) == []


@pytest.mark.parametrize(
    "document",
    [
        b"not json",
        b'{"timestamp": 1, "key": ""}',
        json.dumps([{"timestamp": 1, "key": base64.b64encode(bytes(63)).decode()}]).encode(),
        json.dumps([{"timestamp": "1", "key": base64.b64encode(bytes(64)).decode()}]).encode(),
        json.dumps([{"timestamp": True, "key": base64.b64encode(bytes(64)).decode()}]).encode(),
        json.dumps([{"timestamp": -1, "key": base64.b64encode(bytes(64)).decode()}]).encode(),
        json.dumps([{"timestamp": 1.5, "key": base64.b64encode(bytes(64)).decode()}]).encode(),
        json.dumps([{"timestamp": 1, "key": "***"}]).encode(),
        json.dumps([{"timestamp": 1}]).encode(),
        json.dumps([{"timestamp": 1, "key": "", "extra": 1}]).encode(),
    ],
    ids=[
        "not-json",
        "not-a-list",
        "63-bytes",
        "string-timestamp",
        "bool-timestamp",
        "negative",
        "float",
        "bad-base64",
        "no-key",
        "extra-field",
    ],
)
def test_an_invalid_import_file_is_refused(ca_context: CAContext, document: bytes) -> None:
    with pytest.raises(MalformedData):
        import_master_keys(ca_context, document, principal="test")

    assert list_master_keys(ca_context) == []


def test_export_import_and_publish_now_are_audited(ca_context: CAContext) -> None:
    publish_master_key(ca_context, created_by="local:alice", audit_principal="local:alice")
    data = export_master_keys(ca_context, principal="local:alice")
    import_master_keys(ca_context, data, principal="local:bob")
    with pytest.raises(MalformedData):
        import_master_keys(ca_context, b"[1]", principal="local:eve")

    events = {(e.action, e.principal, e.result) for e in query_events(ca_context).items}

    assert ("kds.publish_master_key", "local:alice", "ok") in events
    assert ("kds.export_master_keys", "local:alice", "ok") in events
    assert ("kds.import_master_keys", "local:bob", "ok") in events
    assert ("kds.import_master_keys", "local:eve", "input.malformed") in events
    secrets = [base64.b64encode(key).decode() for key in _exported(ca_context).values()]
    for event in query_events(ca_context).items:
        assert not any(secret in json.dumps(event.details) for secret in secrets)
