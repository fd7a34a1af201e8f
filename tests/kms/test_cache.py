"""The key cache: keys served without a database read while fresh, changes seen in time."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from certward.errors import KmsKeyNotFound
from certward.kms import cache as cache_module
from certward.kms.cache import KeyCache
from certward.kms.lifecycle import disable_key, purge_deleted_keys, schedule_key_deletion
from certward.kms.rotation import rotate_key
from certward.kms.specs import KeySpec, KeyState
from tests.kms.conftest import Keys


def test_a_cached_key_is_served_by_id_and_alias_after_one_read(kms: Keys) -> None:
    key = kms.create(KeySpec.EC_P256, alias="alias/cached")
    cache = KeyCache(kms.ctx, ttl=60)

    assert cache.cached("alias/cached") is None
    loaded = cache.load("alias/cached")

    assert cache.cached("alias/cached") is loaded
    assert cache.cached(key.key_id) is loaded
    assert cache.get(key.key_id) is loaded


def test_a_change_by_this_process_is_seen_at_once_after_forget(kms: Keys) -> None:
    key = kms.create(KeySpec.EC_P256)
    cache = KeyCache(kms.ctx, ttl=60)
    cache.load(key.key_id)

    disable_key(kms.ctx, key.key_id)
    stale = cache.get(key.key_id)
    cache.forget()

    assert stale.state is KeyState.ENABLED  # the cache trusts its entry until told
    assert cache.cached(key.key_id) is None
    assert cache.get(key.key_id).state is KeyState.DISABLED


def test_a_change_by_another_process_is_seen_within_the_ttl(kms: Keys) -> None:
    key = kms.create(KeySpec.EC_P256)
    cache = KeyCache(kms.ctx, ttl=0.05)
    cache.load(key.key_id)

    rotate_key(kms.ctx, key.key_id)
    time.sleep(0.06)

    assert cache.cached(key.key_id) is None
    assert cache.get(key.key_id).primary_version == 2


def test_opened_material_outlives_state_refreshes(kms: Keys) -> None:
    key = kms.create(KeySpec.EC_P256)
    cache = KeyCache(kms.ctx, ttl=60)
    first = cache.load(key.key_id).material(1)

    cache.forget()

    assert cache.get(key.key_id).material(1) is first


def test_a_purged_key_leaves_the_cache_with_its_material(kms: Keys) -> None:
    key = kms.create(KeySpec.EC_P256)
    cache = KeyCache(kms.ctx, ttl=60)
    opened = cache.load(key.key_id).material(1)
    schedule_key_deletion(kms.ctx, key.key_id, pending_window_days=7)
    kms.clock.advance(days=7)
    purge_deleted_keys(kms.ctx)

    cache.forget(key.key_id)

    with pytest.raises(KmsKeyNotFound):
        cache.get(key.key_id)
    assert opened.private_key is not None
    assert not cache.materials.holds(f"{key.key_id}/1")


def test_requests_that_miss_together_share_one_read(
    kms: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = kms.create(KeySpec.EC_P256)
    cache = KeyCache(kms.ctx, ttl=60)
    reads: list[str] = []
    real_load_key = cache_module.load_key

    def counting_load_key(*args: object, **kwargs: object) -> object:
        reads.append(str(args[1]))
        return real_load_key(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(cache_module, "load_key", counting_load_key)
    with ThreadPoolExecutor(max_workers=8) as pool:
        loaded = list(pool.map(lambda _: cache.load(key.key_id), range(8)))

    assert reads == [key.key_id]  # the others waited for the first read and took its key
    assert all(found is loaded[0] for found in loaded)
