"""The background CRL publisher: requests served by one thread, coalesced, never lost."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from certward.ca.crl import PublishedCRL, latest_crl
from certward.ca.crl_publisher import CRLPublisher
from certward.ca.revoke import revoke_certificate
from certward.crypto.formats import load_crl
from tests.support.pki import PKI

WAIT = 60.0  # generous: the machine may be busy; a met ticket returns at once


@pytest.fixture
def published() -> list[PublishedCRL]:
    return []


@pytest.fixture
def publisher(pki: PKI, published: list[PublishedCRL]) -> Iterator[CRLPublisher]:
    running = CRLPublisher(pki.context, on_published=published.append)
    running.start()
    yield running
    running.stop()


def _listed(pki: PKI, serial: str) -> bool:
    crl = load_crl(latest_crl(pki.context, "issuing").der)
    return crl.get_revoked_certificate_by_serial_number(int(serial, 16)) is not None


def test_a_request_after_a_revocation_is_met_by_a_crl_listing_it(
    pki: PKI, publisher: CRLPublisher, published: list[PublishedCRL]
) -> None:
    victim = pki.issue_client("victim")
    revoke_certificate(pki.context, victim.serial)

    number = publisher.wait(publisher.request("issuing"), timeout=WAIT)

    assert number == latest_crl(pki.context, "issuing").number
    assert _listed(pki, victim.serial)
    assert [crl.number for crl in published] == [number]


def test_requests_made_while_a_crl_is_built_are_served_by_one_more_crl(pki: PKI) -> None:
    gate = threading.Event()
    first_stored = threading.Event()
    published: list[PublishedCRL] = []

    def hold_the_first(crl: PublishedCRL) -> None:
        published.append(crl)
        first_stored.set()
        gate.wait(WAIT)  # the thread is busy with this CRL until the gate opens

    publisher = CRLPublisher(pki.context, on_published=hold_the_first)
    publisher.start()
    try:
        victims = [pki.issue_client(f"burst-{i}") for i in range(8)]
        revoke_certificate(pki.context, victims[0].serial)
        first = publisher.request("issuing")
        assert first_stored.wait(WAIT)
        tickets = []
        for victim in victims[1:]:
            revoke_certificate(pki.context, victim.serial)
            tickets.append(publisher.request("issuing"))
        gate.set()

        numbers = [publisher.wait(ticket, timeout=WAIT) for ticket in [first, *tickets]]
    finally:
        gate.set()
        publisher.stop()

    # Eight requests, two CRLs: the seven made during the first share the second.
    assert [crl.number for crl in published] == [numbers[0], numbers[0] + 1]
    assert numbers[1:] == [numbers[0] + 1] * 7
    assert all(_listed(pki, victim.serial) for victim in victims)


def test_a_request_with_nothing_new_publishes_nothing(
    pki: PKI, publisher: CRLPublisher, published: list[PublishedCRL]
) -> None:
    newest = latest_crl(pki.context, "issuing").number

    assert publisher.wait(publisher.request("issuing"), timeout=WAIT) == newest
    assert published == []


def test_revocations_recorded_without_a_request_are_found_and_published(
    pki: PKI, publisher: CRLPublisher
) -> None:
    # As after a process died between committing a revocation and publishing its CRL,
    # or after `certward cert revoke` without --server: the heartbeat finds them.
    victim = pki.issue_client("forgotten")
    revoke_certificate(pki.context, victim.serial)

    behind = publisher.request_behind()

    assert behind == ["issuing"]
    assert publisher.wait(publisher.request("issuing"), timeout=WAIT) is not None
    assert _listed(pki, victim.serial)
    assert publisher.request_behind() == []


def test_a_ticket_not_met_in_time_gives_none(pki: PKI) -> None:
    stopped = CRLPublisher(pki.context)  # never started: nothing is published

    assert stopped.wait(stopped.request("issuing"), timeout=0.05) is None
