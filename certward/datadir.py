"""A certward data directory: its layout, and opening everything in it.

    certward-data/            0700
      certward.toml           config (no secrets in clear)
      certward.db             SQLite, WAL (unless --database points elsewhere)
      keys/kmc.ks             master key file       0400
      keys/StandbyKsf.ks      standby master key    0400
      published/<ca>/         ca.crt, chain.pem, crl.pem, crl.der

The database records the fingerprint of the master key that sealed its
secrets, so a data dir whose key files are gone, or belong to another
installation, is refused with a clear message instead of being given new keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from certward.ca.context import CAContext
from certward.ca.profiles import ProfileRegistry
from certward.config import CONFIG_FILE_NAME, Settings, load_settings
from certward.errors import KeystoreMismatch, NotFound
from certward.files import ensure_private_dir, write_atomic
from certward.keystore import Keystore
from certward.store.database import Database
from certward.store.models import MetaValue

__all__ = ["DataDir", "initialise_data_dir", "open_data_dir"]

_FINGERPRINT_KEY = "keystore_fingerprint"

_DEFAULT_CONFIG = """\
# certward configuration. Environment variables CERTWARD_<NAME> and command-line
# flags override these values. Never put secrets here.

# database = "postgresql+psycopg://user@127.0.0.1:5432/certward"
# crl_days = 7
# root_ca_days = 3650
# intermediate_ca_days = 1825
# log_level = "warning"

# A profile of your own, narrowing a built-in one:
# [profiles.web]
# base = "server"
# allowed_key_types = ["ec-p256", "ec-p384"]
# max_days = 90
# allowed_san_patterns = ["DNS:*.example.com", "IP:10.0.0.0/8"]
"""


@dataclass(frozen=True)
class DataDir:
    """The paths of one data directory."""

    root: Path

    @property
    def config_file(self) -> Path:
        return self.root / CONFIG_FILE_NAME

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    @property
    def published_dir(self) -> Path:
        return self.root / "published"


def _context(
    layout: DataDir,
    settings: Settings,
    database: Database,
    keystore: Keystore,
    profiles: ProfileRegistry,
) -> CAContext:
    return CAContext(
        database=database,
        keystore=keystore,
        settings=settings,
        profiles=profiles,
        published_dir=layout.published_dir,
    )


def _recorded_fingerprint(database: Database) -> str | None:
    with database.read() as session:
        return session.scalar(select(MetaValue.value).where(MetaValue.key == _FINGERPRINT_KEY))


def _check_keystore(database: Database, keystore: Keystore, recorded: str) -> None:
    if recorded not in keystore.fingerprints.values():
        raise KeystoreMismatch(
            f"the master key in {keystore.keys_dir} does not belong to this database "
            f"(expected fingerprint {recorded}); restore the keys/ directory of this installation"
        )


def _open(layout: DataDir, settings: Settings, *, migrate: bool) -> CAContext:
    # A bad profile is a config error found before any database or key is created.
    profiles = ProfileRegistry(settings.profiles)
    database = Database(settings.database_url(layout.root))
    try:
        if migrate:
            database.migrate()
        else:
            database.check_schema()
        recorded = _recorded_fingerprint(database)
        keystore = Keystore.load(layout.keys_dir, create=recorded is None)
        if recorded is None:
            with database.transaction() as session:
                session.add(MetaValue(key=_FINGERPRINT_KEY, value=keystore.fingerprint))
        else:
            _check_keystore(database, keystore, recorded)
    except BaseException:
        database.dispose()  # a refused data dir keeps no pooled connections
        raise
    return _context(layout, settings, database, keystore, profiles)


def initialise_data_dir(path: Path, **overrides: Any) -> CAContext:
    """Create (or check) a data dir: directories, config, schema and master keys. Idempotent."""
    layout = DataDir(Path(path))
    ensure_private_dir(layout.root)
    if not layout.config_file.exists():
        write_atomic(layout.config_file, _DEFAULT_CONFIG.encode(), mode=0o600)
    settings = load_settings(layout.root, **overrides)
    layout.published_dir.mkdir(mode=0o755, exist_ok=True)
    return _open(layout, settings, migrate=True)


def open_data_dir(path: Path, **overrides: Any) -> CAContext:
    """Open an initialised data dir; refuse a missing one, an old schema or a foreign keystore."""
    layout = DataDir(Path(path))
    if not layout.root.is_dir() or not layout.config_file.exists():
        raise NotFound(
            f"{layout.root} is not an initialised certward data dir; "
            f"run: certward --data-dir {layout.root} init"
        )
    ensure_private_dir(layout.root)
    return _open(layout, load_settings(layout.root, **overrides), migrate=False)
