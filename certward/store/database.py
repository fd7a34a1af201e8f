"""Engines, transactions and schema migrations for SQLite and PostgreSQL.

SQLite (the embedded default) runs in WAL mode with ``synchronous=FULL``: a
commit that returned is on disk. Write transactions start with ``BEGIN
IMMEDIATE`` so two writers never deadlock on a lock upgrade; they wait up to
the busy timeout instead. Before that, writers of one file take turns on a
lock file (:class:`WriterTurns`), which wakes the next writer as soon as the
last one is done: SQLite's own waiting is sleeping (1, 2, 5 … 100 ms), and two
worker processes writing at once would spend most of their time asleep.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from certward.errors import Conflict, SchemaMismatch, StorageError
from certward.files import SECRET_FILE_MODE

__all__ = ["Database", "WriterTurns", "sqlite_url"]

_MIGRATIONS = Path(__file__).parent / "migrations"
_BUSY_TIMEOUT_MS = 30_000


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of an SQLite file."""
    return f"sqlite:///{Path(path).resolve()}"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event below decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get("certward_write", True)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _sqlite_file(url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _writer_turns(url: str) -> WriterTurns | None:
    path = _sqlite_file(url)
    return WriterTurns(path) if path is not None and path.parent.is_dir() else None


def _private_sqlite_files(url: str) -> None:
    """Create the SQLite file 0600 before SQLite does (it would use 0644), and tighten old ones.

    SQLite gives its -wal and -shm files the mode of the database file, so they
    follow. A file of another user is left alone (SQLite reports what it can't open).
    """
    path = _sqlite_file(url)
    if path is None or not path.parent.is_dir():
        return
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET_FILE_MODE))
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            info = candidate.stat()
            if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) & 0o077:
                os.chmod(candidate, SECRET_FILE_MODE)


class WriterTurns:
    """Writers of one SQLite file, in every thread and process, take turns here.

    A thread lock orders the threads of a process, and an exclusive ``flock`` on
    ``<database>-writers.lock`` orders the processes (the kernel hands it to the
    next waiter at once, and drops it when its holder dies). A thread that already
    has its turn may nest (its inner transaction then meets SQLite's busy timeout,
    as without this lock).
    """

    def __init__(self, database_path: Path) -> None:
        self.path = database_path.with_name(database_path.name + "-writers.lock")
        self._threads = threading.Lock()
        self._local = threading.local()
        self._fd: int | None = None
        self._pid = 0

    def _file(self) -> int:
        # A forked child opens its own: an inherited descriptor shares the parent's lock.
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, SECRET_FILE_MODE)
            self._pid = os.getpid()
        return self._fd

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Hold this writer's turn for the block."""
        depth: int = getattr(self._local, "depth", 0)
        if depth == 0:
            if not self._threads.acquire(timeout=_BUSY_TIMEOUT_MS / 1000):
                raise StorageError("the database stayed locked by another writer")
            try:
                fcntl.flock(self._file(), fcntl.LOCK_EX)
            except OSError:
                self._threads.release()
                raise StorageError("cannot take the database writers' lock file") from None
        self._local.depth = depth + 1
        try:
            yield
        finally:
            self._local.depth = depth
            if depth == 0:
                fcntl.flock(self._file(), fcntl.LOCK_UN)
                self._threads.release()

    def close(self) -> None:
        """Close the lock file unless a writer holds it (a later turn opens it again)."""
        if self._fd is not None and self._threads.acquire(blocking=False):
            try:
                if self._pid == os.getpid():
                    os.close(self._fd)
                self._fd = None
            finally:
                self._threads.release()


class Database:
    """One database (SQLite file or PostgreSQL), its engine and its units of work."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._turns: WriterTurns | None = None
        try:
            if self.is_sqlite:
                _private_sqlite_files(url)
                self._turns = _writer_turns(url)
                self.engine = create_engine(url, echo=echo, connect_args={"timeout": 30})
                _configure_sqlite(self.engine)
            else:
                self.engine = create_engine(url, echo=echo, pool_pre_ping=True)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise StorageError(
                f"cannot use database {self.safe_url}: {type(exc).__name__}"
            ) from None
        self._reader = self.engine.execution_options(certward_write=False)

    @functools.cached_property
    def safe_url(self) -> str:
        """The URL without a password, for messages and logs (worked out once)."""
        from sqlalchemy.engine import make_url

        try:
            return make_url(self.url).render_as_string(hide_password=True)
        except Exception:
            return self.url.split(":", 1)[0] + "://…"

    @contextlib.contextmanager
    def writer_turn(self) -> Iterator[None]:
        """Around a write transaction made outside :meth:`transaction` (SQLite: take turns)."""
        if self._turns is None:
            yield
        else:
            with self._turns.turn():
                yield

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write unit of work: commits when the block ends, rolls back on any error."""
        with self.writer_turn():
            session = Session(self.engine, expire_on_commit=False)
            try:
                with _storage_errors(self.safe_url):
                    yield session
                    session.commit()
            finally:
                session.close()

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only unit of work (a plain BEGIN on SQLite, so writers are not held up)."""
        session = Session(self._reader, expire_on_commit=False)
        try:
            with _storage_errors(self.safe_url):
                # No rollback here: it would expire the rows the caller still reads;
                # close() ends the (read-only) transaction all the same.
                yield session
        finally:
            session.close()

    # -- schema ----------------------------------------------------------------

    def _alembic_config(self, connection: Connection | None) -> Any:
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        config.attributes["connection"] = connection
        return config

    def schema_revisions(self) -> tuple[str | None, str]:
        """(current revision of the database, newest revision this code knows)."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        with _storage_errors(self.safe_url), self._reader.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
            head = ScriptDirectory.from_config(self._alembic_config(connection)).get_current_head()
        assert head is not None
        return current, head

    def migrate(self) -> None:
        """Bring the schema to the newest revision (idempotent)."""
        from alembic import command

        current, head = self.schema_revisions()
        if current == head:
            return
        self._refuse_unknown(current)
        with _storage_errors(self.safe_url), self.engine.begin() as connection:
            command.upgrade(self._alembic_config(connection), "head")

    def upgrade(self, connection: Connection, revision: str) -> None:
        """Run the migrations up to ``revision`` in ``connection``'s transaction."""
        from alembic import command

        command.upgrade(self._alembic_config(connection), revision)

    def knows_revision(self, revision: str) -> bool:
        """True when ``revision`` is one of this code's migrations."""
        from alembic.script import ScriptDirectory

        config = self._alembic_config(None)
        return revision in {
            script.revision for script in ScriptDirectory.from_config(config).walk_revisions()
        }

    def check_schema(self) -> None:
        """Refuse a database whose schema is older or newer than this code."""
        current, head = self.schema_revisions()
        if current == head:
            return
        self._refuse_unknown(current)
        raise SchemaMismatch(
            f"database schema is at revision {current or 'none'}, this certward needs {head}; "
            "run: certward migrate"
        )

    def _refuse_unknown(self, current: str | None) -> None:
        if current is not None and not self.knows_revision(current):
            raise SchemaMismatch(
                f"database schema revision {current} is newer than this certward understands; "
                "upgrade certward"
            )

    def ping(self) -> None:
        """Raise StorageError unless the database answers."""
        with _storage_errors(self.safe_url), self._reader.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        """Close every pooled connection (and the writers' lock file)."""
        self.engine.dispose()
        if self._turns is not None:
            self._turns.close()


@contextlib.contextmanager
def _storage_errors(safe_url: str) -> Iterator[None]:
    try:
        yield
    except IntegrityError:
        # Constraint names and values can say more than a user should see; keep it generic.
        raise Conflict("the change conflicts with data already stored") from None
    except OperationalError as exc:
        # Driver messages can include the URL; keep only the first line of the cause.
        reason = str(exc.orig).splitlines()[0] if exc.orig is not None else type(exc).__name__
        raise StorageError(f"database {safe_url} is unavailable: {reason}") from None
