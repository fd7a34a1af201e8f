"""Inventory figures: counts by state and the per-day expiry timeline, for all or some CAs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from certward.ca.inventory_stats import certificate_counts, expiry_timeline
from certward.ca.issue import issue_certificate
from certward.ca.revoke import revoke_certificate
from certward.errors import InvalidInput
from tests.support.pki import PKI


def _client(pki: PKI, name: str, days: int) -> str:
    issued = issue_certificate(
        pki.context, ca_name="issuing", profile="client", common_name=name, days=days
    )
    return issued.serial


def test_counts_split_the_inventory_into_valid_revoked_and_expired(pki: PKI) -> None:
    _client(pki, "kept", 30)
    revoke_certificate(pki.context, _client(pki, "gone", 30), reason="superseded")
    _client(pki, "short", 1)
    now = pki.context.clock()
    pki.context.clock = lambda: now + timedelta(days=2)  # "short" has expired by then

    counts = certificate_counts(pki.context, ca_names=["issuing"])

    assert (counts.valid, counts.revoked, counts.expired) == (1, 1, 1)
    assert counts.total == 3


def test_counts_of_every_ca_include_the_ca_certificates(pki: PKI) -> None:
    _client(pki, "one", 30)

    everything = certificate_counts(pki.context)
    of_root = certificate_counts(pki.context, ca_names=["root"])

    assert everything.valid == 3  # root, issuing, one
    assert of_root.valid == 2  # the root's own certificate and the issuing CA's


def test_the_timeline_puts_each_valid_certificate_on_the_day_it_expires(pki: PKI) -> None:
    soon = [_client(pki, f"soon-{i}", 5) for i in range(3)]
    _client(pki, "later", 40)
    revoke_certificate(pki.context, soon[0], reason="superseded")  # revoked: not counted
    _client(pki, "beyond", 200)  # outside the 90 days

    days = expiry_timeline(pki.context, days=90, ca_names=["issuing"])

    assert len(days) == 90
    assert sum(day.count for day in days) == 3
    busy = {index: day.count for index, day in enumerate(days) if day.count}
    assert busy == {4: 2, 39: 1}  # validity is back-dated a minute: the end falls a day early


def test_the_timeline_of_a_ca_without_certificates_is_empty(pki: PKI) -> None:
    _client(pki, "elsewhere", 5)

    days = expiry_timeline(pki.context, days=30, ca_names=["root"])

    assert [day.count for day in days] == [0] * 30


def test_the_timeline_length_is_bounded(pki: PKI) -> None:
    with pytest.raises(InvalidInput):
        expiry_timeline(pki.context, days=0)
    with pytest.raises(InvalidInput):
        expiry_timeline(pki.context, days=10_000)
