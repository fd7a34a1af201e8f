"""``service_status``: the operator's first look, read from the database."""

from __future__ import annotations

from datetime import timedelta

from certward.ca.revoke import revoke_certificate
from certward.nodes import register_node
from certward.status import service_status
from tests.support.pki import PKI


def test_counts_crl_ages_and_nodes(pki: PKI) -> None:
    ctx = pki.context
    pki.issue_server("a.example.com")
    pki.issue_server("b.example.com")
    gone = pki.issue_client("leaver")
    revoke_certificate(ctx, gone.serial, reason="superseded")
    register_node(ctx, node_id="n1:1:8443", url="https://n1:8443")

    report = service_status(ctx)

    assert report.certificates == {"valid": 2, "revoked": 1, "expired": 0}
    assert report.expiring_within_30_days == 0
    assert [ca.name for ca in report.cas] == ["root", "issuing"]
    assert all(not ca.crl_overdue for ca in report.cas)
    assert [(n.node_id, n.live) for n in report.nodes] == [("n1:1:8443", True)]
    assert report.keystore_fingerprint == ctx.keystore.fingerprint
    assert report.kds.master_keys == 0 and report.kds.publisher is None


def test_expiring_and_expired_certificates_and_overdue_crls_follow_the_clock(pki: PKI) -> None:
    ctx = pki.context
    pki.issue_server("soon.example.com")  # server profile default: 365 days
    real_clock = ctx.clock
    ctx.clock = lambda: real_clock() + timedelta(days=350)
    try:
        report = service_status(ctx)
        assert report.expiring_within_30_days == 1
        assert all(ca.crl_overdue for ca in report.cas)  # CRLs last crl_days (7)
    finally:
        ctx.clock = real_clock
    ctx.clock = lambda: real_clock() + timedelta(days=400)
    try:
        assert service_status(ctx).certificates["expired"] == 1
    finally:
        ctx.clock = real_clock
