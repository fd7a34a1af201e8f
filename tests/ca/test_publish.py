"""``published/`` follows the database: repaired after a crash, caught up on other nodes' CRLs."""

from __future__ import annotations

from certward.ca.crl import issue_crl_in_session, latest_crl, publish_crl
from certward.ca.publish import republish_all
from tests.support.pki import PKI


def test_files_in_step_are_left_alone(pki: PKI) -> None:
    assert pki.context.published_dir is not None
    crl_file = pki.context.published_dir / "issuing" / "crl.der"
    before = crl_file.stat().st_mtime_ns
    assert republish_all(pki.context) == []
    assert crl_file.stat().st_mtime_ns == before


def test_a_crl_newer_in_the_database_than_on_disk_is_written_out(pki: PKI) -> None:
    ctx = pki.context
    assert ctx.published_dir is not None
    stale = (ctx.published_dir / "issuing" / "crl.der").read_bytes()
    # A CRL committed by another node (or just before a crash): a row, no file.
    with ctx.database.transaction() as session:
        issue_crl_in_session(ctx, session, ctx.ca_row(session, "issuing"))
    assert (ctx.published_dir / "issuing" / "crl.der").read_bytes() == stale

    assert republish_all(ctx) == ["issuing"]
    newest = latest_crl(ctx, "issuing")
    assert (ctx.published_dir / "issuing" / "crl.der").read_bytes() == newest.der
    assert (ctx.published_dir / "issuing" / "crl.pem").read_bytes() == newest.pem


def test_missing_files_of_a_ca_are_recreated(pki: PKI) -> None:
    ctx = pki.context
    assert ctx.published_dir is not None
    publish_crl(ctx, "root")
    for name in ("ca.crt", "chain.pem", "crl.der", "crl.pem"):
        (ctx.published_dir / "root" / name).unlink()
    assert republish_all(ctx) == ["root"]
    assert sorted(p.name for p in (ctx.published_dir / "root").iterdir()) == [
        "ca.crt",
        "chain.pem",
        "crl.der",
        "crl.pem",
    ]
