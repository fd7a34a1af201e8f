"""Back up a data dir while it is in use and restore it into a new one, on either backend."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from certward.access.audit import audit_row
from certward.backup import create_backup, restore_backup
from certward.ca.authority import list_cas
from certward.ca.context import CAContext
from certward.ca.crl import latest_crl, publish_crl
from certward.ca.inventory import list_certificates
from certward.ca.revoke import revoke_certificate
from certward.datadir import open_data_dir
from certward.errors import Conflict, MalformedData, PasswordError
from certward.store.models import AuditRow, is_search_index
from tests.support.pki import PKI
from tests.support.postgres import postgres_available, postgres_schema

PASSPHRASE = b"correct horse battery staple"


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return tmp_path / "backup.cwb"


@pytest.fixture
def populated(pki: PKI) -> PKI:
    """Certificates, one revoked, and a CRL that lists it."""
    for index in range(5):
        pki.issue_server(f"host{index}.example.com")
    victim = pki.issue_client("leaver")
    revoke_certificate(pki.context, victim.serial, reason="key_compromise")
    publish_crl(pki.context, "issuing")
    return pki


@pytest.fixture
def restored_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "restored"


def _state(ctx: CAContext) -> dict[str, object]:
    """What a restore must reproduce: CAs, inventory, revocations and the newest CRLs."""
    page = list_certificates(ctx, limit=1000)
    return {
        "cas": [(ca.name, ca.subject) for ca in list_cas(ctx)],
        "certificates": sorted((c.serial, c.status.value, c.revocation_reason) for c in page.items),
        "crls": {ca.name: latest_crl(ctx, ca.name).der for ca in list_cas(ctx)},
    }


def test_a_restored_data_dir_holds_the_same_cas_certificates_and_crls(
    populated: PKI, archive: Path, restored_dir: Path
) -> None:
    report = create_backup(populated.context, archive, PASSPHRASE)
    assert archive.stat().st_mode & 0o777 == 0o600
    assert report.tables["certificates"] == 8  # two CAs + six leaves

    restore_backup(archive, restored_dir, PASSPHRASE)

    restored = open_data_dir(restored_dir)
    try:
        assert _state(restored) == _state(populated.context)
        # The CA keys open under the restored master keys: the CA still signs.
        again = PKI(restored).issue_server("after-restore.example.com")
        assert again.certificate.issuer == populated.issue_server().certificate.issuer
        published = restored_dir / "published" / "issuing" / "crl.der"
        assert published.read_bytes() == latest_crl(restored, "issuing").der
    finally:
        restored.database.dispose()
    assert (restored_dir / "keys").stat().st_mode & 0o777 == 0o700
    assert (restored_dir / "keys" / "kmc.ks").stat().st_mode & 0o777 == 0o400


def test_the_search_index_is_left_out_of_the_backup_and_rebuilt_by_the_restore(
    populated: PKI, archive: Path, restored_dir: Path
) -> None:
    report = create_backup(populated.context, archive, PASSPHRASE)
    assert [name for name in report.tables if is_search_index(name)] == []

    restore_backup(archive, restored_dir, PASSPHRASE)

    restored = open_data_dir(restored_dir)
    try:
        found = list_certificates(restored, search="example.com").items
        expected = list_certificates(populated.context, search="example.com").items
        assert [c.serial for c in found] == [c.serial for c in expected]
        assert len(found) == 5
    finally:
        restored.database.dispose()


def test_the_backup_is_a_consistent_snapshot_while_a_writer_is_busy(
    populated: PKI, archive: Path, restored_dir: Path
) -> None:
    ctx = populated.context
    started, finish = threading.Event(), threading.Event()

    def slow_writer() -> None:
        with ctx.database.transaction() as session:
            table, row = audit_row(
                ctx,
                principal="writer",
                action="slow",
                target=None,
                result="ok",
                request_id=None,
                details=None,
            )
            session.execute(table.insert(), [row])
            session.flush()
            started.set()
            finish.wait(30)

    writer = threading.Thread(target=slow_writer)
    writer.start()
    try:
        assert started.wait(30)
        create_backup(ctx, archive, PASSPHRASE)  # does not wait for the writer
    finally:
        finish.set()
        writer.join()

    restore_backup(archive, restored_dir, PASSPHRASE)
    restored = open_data_dir(restored_dir)
    try:
        with restored.database.read() as session:
            uncommitted = session.scalar(
                select(func.count()).select_from(AuditRow).where(AuditRow.action == "slow")
            )
        assert uncommitted == 0
    finally:
        restored.database.dispose()
    with ctx.database.read() as session:
        assert session.scalar(select(func.count()).where(AuditRow.action == "slow")) == 1


@pytest.mark.pg
def test_a_backup_restores_into_postgresql(
    populated: PKI, archive: Path, restored_dir: Path
) -> None:
    if not postgres_available():
        pytest.skip("PostgreSQL at 127.0.0.1:5432 does not answer")
    create_backup(populated.context, archive, PASSPHRASE)
    with postgres_schema(f"cw_{uuid.uuid4().hex[:12]}") as url:
        restore_backup(archive, restored_dir, PASSPHRASE, database_url=url)
        restored = open_data_dir(restored_dir, database=url)
        try:
            assert _state(restored) == _state(populated.context)
            # Sequences moved past the loaded ids: new rows get fresh ones.
            PKI(restored).issue_server("pg.example.com")
            publish_crl(restored, "issuing")
        finally:
            restored.database.dispose()


def test_restore_refuses_a_data_dir_that_is_not_empty(
    populated: PKI, archive: Path, restored_dir: Path
) -> None:
    create_backup(populated.context, archive, PASSPHRASE)
    restored_dir.mkdir()
    keep = restored_dir / "notes.txt"
    keep.write_text("mine")
    with pytest.raises(Conflict, match="not empty"):
        restore_backup(archive, restored_dir, PASSPHRASE)
    assert keep.read_text() == "mine"


def test_restore_refuses_a_database_that_already_holds_certward(
    populated: PKI, archive: Path, restored_dir: Path, database_url: str
) -> None:
    create_backup(populated.context, archive, PASSPHRASE)
    with pytest.raises(Conflict, match="empty database"):
        restore_backup(archive, restored_dir, PASSPHRASE, database_url=database_url)
    assert not restored_dir.exists()  # nothing half-restored is left behind


def test_a_wrong_passphrase_restores_nothing(
    populated: PKI, archive: Path, restored_dir: Path
) -> None:
    create_backup(populated.context, archive, PASSPHRASE)
    with pytest.raises(PasswordError):
        restore_backup(archive, restored_dir, b"a different passphrase")
    assert not restored_dir.exists()


def test_a_damaged_archive_restores_nothing(
    populated: PKI, archive: Path, restored_dir: Path
) -> None:
    create_backup(populated.context, archive, PASSPHRASE)
    data = bytearray(archive.read_bytes())
    data[-20] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises((MalformedData, PasswordError)):
        restore_backup(archive, restored_dir, PASSPHRASE)
    assert not restored_dir.exists()
