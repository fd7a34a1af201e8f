"""The certificate inventory: filters, search, cursor paging and single look-ups."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from certward.ca.factory import IssuedCertificate
from certward.ca.inventory import (
    MAX_PAGE_SIZE,
    CertificateStatus,
    get_certificate,
    list_certificates,
)
from certward.ca.issue import issue_certificate
from certward.ca.revoke import revoke_certificate
from certward.errors import CANotFound, CertificateNotFound, InvalidInput
from tests.support.pki import PKI


def _client(pki: PKI, name: str, *, days: int | None = None) -> IssuedCertificate:
    return issue_certificate(
        pki.context, ca_name="issuing", profile="client", common_name=name, days=days
    )


def _serials(pki: PKI, **filters: object) -> set[str]:
    page = list_certificates(pki.context, **filters)  # type: ignore[arg-type]
    assert page.next_cursor is None, "test inventories fit on one page"
    return {item.serial for item in page.items}


# --- filters --------------------------------------------------------------------------------


def test_ca_filter_lists_only_what_that_ca_issued(pki: PKI) -> None:
    leaf = pki.issue_client()

    assert _serials(pki, ca_name="issuing") == {leaf.serial}


def test_root_lists_its_own_and_its_intermediates_certificates(pki: PKI) -> None:
    pki.issue_client()

    items = list_certificates(pki.context, ca_name="root").items

    assert {item.is_ca for item in items} == {True}
    assert len(items) == 2


def test_unknown_ca_filter_is_ca_not_found(pki: PKI) -> None:
    with pytest.raises(CANotFound):
        list_certificates(pki.context, ca_name="nope")


def test_status_revoked_lists_only_revoked_certificates(pki: PKI) -> None:
    pki.issue_client("kept")
    revoked = pki.issue_client("gone")
    revoke_certificate(pki.context, revoked.serial)

    assert _serials(pki, ca_name="issuing", status=CertificateStatus.REVOKED) == {revoked.serial}


def test_status_valid_leaves_out_revoked_and_expired(pki: PKI) -> None:
    valid = _client(pki, "valid", days=365)
    _client(pki, "soon-expired", days=1)
    revoke_certificate(pki.context, _client(pki, "revoked", days=365).serial)
    later = replace(
        pki, context=replace(pki.context, clock=lambda: valid.not_before + timedelta(days=2))
    )

    assert _serials(later, ca_name="issuing", status=CertificateStatus.VALID) == {valid.serial}


def test_status_expired_uses_the_clock(pki: PKI) -> None:
    expired = _client(pki, "soon-expired", days=1)
    _client(pki, "valid", days=365)
    later = replace(pki, context=replace(pki.context, clock=lambda: expired.not_after))

    assert _serials(later, ca_name="issuing", status=CertificateStatus.EXPIRED) == {expired.serial}


def test_revoked_and_expired_certificate_counts_as_revoked(pki: PKI) -> None:
    issued = _client(pki, "both", days=1)
    revoke_certificate(pki.context, issued.serial)
    later = replace(pki, context=replace(pki.context, clock=lambda: issued.not_after))

    assert _serials(later, ca_name="issuing", status=CertificateStatus.EXPIRED) == set()
    assert _serials(later, ca_name="issuing", status=CertificateStatus.REVOKED) == {issued.serial}


def test_summary_status_follows_the_clock(pki: PKI) -> None:
    issued = _client(pki, "soon-expired", days=1)
    later = replace(pki.context, clock=lambda: issued.not_after + timedelta(seconds=1))

    assert get_certificate(pki.context, issued.serial).status is CertificateStatus.VALID
    assert get_certificate(later, issued.serial).status is CertificateStatus.EXPIRED


def test_expiring_within_lists_only_valid_certificates_ending_in_the_window(pki: PKI) -> None:
    soon = _client(pki, "soon", days=10)
    _client(pki, "later", days=365)
    revoke_certificate(pki.context, _client(pki, "revoked-soon", days=10).serial)

    found = _serials(pki, ca_name="issuing", expiring_within=timedelta(days=30))

    assert found == {soon.serial}


def test_expiring_within_leaves_out_already_expired_certificates(pki: PKI) -> None:
    issued = _client(pki, "gone", days=1)
    later = replace(pki, context=replace(pki.context, clock=lambda: issued.not_after))

    assert _serials(later, ca_name="issuing", expiring_within=timedelta(days=30)) == set()


# --- search ---------------------------------------------------------------------------------


def test_search_finds_a_common_name_substring_in_any_case(pki: PKI) -> None:
    alpha = pki.issue_server("alpha.example.com")
    pki.issue_server("beta.example.com")

    assert _serials(pki, ca_name="issuing", search="ALPHA") == {alpha.serial}


def test_search_finds_a_dns_san(pki: PKI) -> None:
    target = pki.issue_server("web", sans=("DNS:web.internal.example", "IP:10.9.8.7"))
    pki.issue_server("other", sans=("DNS:other.example",))

    assert _serials(pki, ca_name="issuing", search="internal.example") == {target.serial}


def test_search_finds_an_ip_san(pki: PKI) -> None:
    target = pki.issue_server("web", sans=("DNS:web.example", "IP:10.9.8.7"))
    pki.issue_server("other", sans=("DNS:other.example", "IP:10.9.8.8"))

    assert _serials(pki, ca_name="issuing", search="10.9.8.7") == {target.serial}


def test_search_finds_a_san_given_in_another_case(pki: PKI) -> None:
    target = pki.issue_server("web", sans=("DNS:web.example",))

    assert _serials(pki, ca_name="issuing", search="WEB.EXAMPLE") == {target.serial}


def test_search_finds_a_serial_in_colon_notation(pki: PKI) -> None:
    target = pki.issue_client("a")
    pki.issue_client("b")
    padded = target.serial.zfill(len(target.serial) + len(target.serial) % 2)
    colons = ":".join(padded[i : i + 2] for i in range(0, len(padded), 2)).upper()

    assert _serials(pki, ca_name="issuing", search=colons) == {target.serial}


def test_search_for_hex_text_that_is_no_stored_serial_searches_the_names(pki: PKI) -> None:
    cafe = pki.issue_client("cafe-beef")
    pki.issue_client("other")

    assert _serials(pki, ca_name="issuing", search="CAFE") == {cafe.serial}


@pytest.mark.parametrize("text", ["%", "_", "\\"])
def test_search_treats_like_wildcards_literally(pki: PKI, text: str) -> None:
    pki.issue_client("plain")

    assert _serials(pki, ca_name="issuing", search=text) == set()


def test_search_that_matches_nothing_is_an_empty_page(pki: PKI) -> None:
    pki.issue_client("plain")

    page = list_certificates(pki.context, search="no-such-name")

    assert page.items == ()
    assert page.next_cursor is None


# --- paging ---------------------------------------------------------------------------------


def test_cursor_paging_walks_every_certificate_exactly_once_newest_first(pki: PKI) -> None:
    issued = [pki.issue_client(f"c{i}").serial for i in range(7)]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0

    while True:
        page = list_certificates(pki.context, ca_name="issuing", limit=3, cursor=cursor)
        seen.extend(item.serial for item in page.items)
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break

    assert seen == list(reversed(issued))
    assert pages == 3


def test_exactly_full_last_page_has_no_next_cursor(pki: PKI) -> None:
    for i in range(4):
        pki.issue_client(f"c{i}")

    first = list_certificates(pki.context, ca_name="issuing", limit=2)
    second = list_certificates(pki.context, ca_name="issuing", limit=2, cursor=first.next_cursor)

    assert first.next_cursor is not None
    assert len(second.items) == 2
    assert second.next_cursor is None


def test_paging_keeps_its_filters(pki: PKI) -> None:
    revoked = []
    for i in range(5):
        issued = pki.issue_client(f"c{i}")
        if i % 2 == 0:
            revoke_certificate(pki.context, issued.serial)
            revoked.append(issued.serial)
    first = list_certificates(
        pki.context, ca_name="issuing", status=CertificateStatus.REVOKED, limit=2
    )

    second = list_certificates(
        pki.context,
        ca_name="issuing",
        status=CertificateStatus.REVOKED,
        limit=2,
        cursor=first.next_cursor,
    )

    assert [i.serial for i in first.items + second.items] == list(reversed(revoked))
    assert second.next_cursor is None


@pytest.mark.parametrize("limit", [0, -1, MAX_PAGE_SIZE + 1])
def test_page_size_out_of_bounds_is_invalid_input(pki: PKI, limit: int) -> None:
    with pytest.raises(InvalidInput):
        list_certificates(pki.context, limit=limit)


@pytest.mark.parametrize("limit", [1, MAX_PAGE_SIZE])
def test_page_size_bounds_are_accepted(pki: PKI, limit: int) -> None:
    page = list_certificates(pki.context, limit=limit)

    assert len(page.items) == min(limit, 2)


@pytest.mark.parametrize("cursor", ["abc", "", "1.5", "0x10"])
def test_malformed_cursor_is_invalid_input(pki: PKI, cursor: str) -> None:
    with pytest.raises(InvalidInput):
        list_certificates(pki.context, cursor=cursor)


# --- single look-ups ------------------------------------------------------------------------


def test_get_certificate_describes_it(pki: PKI) -> None:
    issued = pki.issue_server("web.example.com", sans=("DNS:web.example.com", "IP:10.0.0.1"))

    summary = get_certificate(pki.context, issued.serial)

    assert summary.serial == issued.serial
    assert summary.ca_name == "issuing"
    assert summary.profile == "server"
    assert summary.common_name == "web.example.com"
    assert summary.sans == ("DNS:web.example.com", "IP:10.0.0.1")
    assert summary.status is CertificateStatus.VALID
    assert summary.not_after == issued.not_after
    assert summary.certificate == issued.certificate
    assert not summary.is_ca


def test_get_certificate_accepts_colon_notation(pki: PKI) -> None:
    issued = pki.issue_client()
    padded = issued.serial.zfill(len(issued.serial) + len(issued.serial) % 2)
    colons = ":".join(padded[i : i + 2] for i in range(0, len(padded), 2))

    assert get_certificate(pki.context, colons.upper()).serial == issued.serial


def test_get_unknown_certificate_is_certificate_not_found(pki: PKI) -> None:
    with pytest.raises(CertificateNotFound):
        get_certificate(pki.context, "abcdef")


@pytest.mark.parametrize("search", ["\x00", "ab\x00", "a\x00bc"])
def test_a_search_holding_a_nul_character_is_invalid_input(pki: PKI, search: str) -> None:
    with pytest.raises(InvalidInput, match="NUL"):
        list_certificates(pki.context, search=search)


def test_get_certificate_with_a_malformed_serial_is_invalid_input(pki: PKI) -> None:
    with pytest.raises(InvalidInput):
        get_certificate(pki.context, "not a serial")
