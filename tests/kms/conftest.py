"""Fixtures of the KMS service tests: a data dir per backend and a trustme-like key maker.

RSA key generation takes up to seconds, so keys made through :class:`Keys` reuse one
pre-generated material per spec (made once per session); the tests of generation
itself call :func:`certward.kms.material.generate_material` directly.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from certward.ca.context import CAContext
from certward.datadir import initialise_data_dir
from certward.kms.keys import KeyInfo, LoadedKey, create_key, load_key
from certward.kms.material import NewMaterial, generate_material
from certward.kms.specs import KeyOrigin, KeySpec, KeyUsage

START = datetime(2030, 1, 1, tzinfo=UTC)
DEFAULT_USAGE = {
    KeySpec.AES_256: KeyUsage.ENCRYPT_DECRYPT,
    KeySpec.HMAC_256: KeyUsage.GENERATE_VERIFY_MAC,
    KeySpec.HMAC_512: KeyUsage.GENERATE_VERIFY_MAC,
}


@functools.cache
def material_for(spec: KeySpec) -> NewMaterial:
    """One generated material per spec for the whole session."""
    return generate_material(spec)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclasses.dataclass
class Keys:
    """Makes keys in one data dir (``ctx``'s clock is the test's :class:`Clock`)."""

    ctx: CAContext
    clock: Clock

    def create(self, spec: KeySpec, usage: KeyUsage | None = None, **options: Any) -> KeyInfo:
        """A key of ``spec`` (usage: SIGN_VERIFY unless the spec allows only another)."""
        origin = options.get("origin", KeyOrigin.CERTWARD)
        if origin is KeyOrigin.CERTWARD and "material" not in options:
            options["material"] = material_for(spec)
        return create_key(
            self.ctx,
            spec=spec,
            usage=usage or DEFAULT_USAGE.get(spec, KeyUsage.SIGN_VERIFY),
            **options,
        )

    def load(self, ref: str) -> LoadedKey:
        """The key as the operations take it, read now."""
        return load_key(self.ctx, ref)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def kms(ca_context: CAContext, clock: Clock) -> Keys:
    """A key maker on a fresh data dir, on SQLite and on PostgreSQL."""
    return Keys(dataclasses.replace(ca_context, clock=clock), clock)


@pytest.fixture(scope="module")
def shared_kms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keys]:
    """One SQLite data dir for a whole module, for tests that store nothing (or only keys
    they alone use): operations, validation. Tests that change stored state use ``kms``."""
    base = tmp_path_factory.mktemp("kms-shared")
    context = initialise_data_dir(base / "data", database=f"sqlite:///{base / 'certward.db'}")
    clock = Clock()
    yield Keys(dataclasses.replace(context, clock=clock), clock)
    context.database.dispose()
