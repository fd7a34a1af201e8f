"""Publishing CRLs: validity, numbering, signature, AKI, pruning of old CRLs and published files."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from sqlalchemy import select, update

from certward.ca.authority import ca_chain, get_ca
from certward.ca.crl import (
    KEPT_CRLS,
    RevokedEntries,
    latest_crl,
    publish_crl,
    publish_crl_if_behind,
)
from certward.ca.revoke import revoke_certificate
from certward.crypto.formats import load_crl
from certward.errors import CANotFound, InvalidValidity
from certward.store.models import CertificateAuthorityRow, CRLRow, RevocationRow
from tests.support.pki import PKI

# Certificate contents do not depend on the database, so tests of contents alone run on
# SQLite only; everything that stores, refuses to store or queries runs on both backends.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

NOW = datetime(2030, 3, 4, 5, 6, 7, tzinfo=UTC)


def _stored_numbers(pki: PKI, ca_name: str) -> list[int]:
    with pki.context.database.read() as session:
        ca_id = session.scalar(
            select(CertificateAuthorityRow.id).where(CertificateAuthorityRow.name == ca_name)
        )
        return list(
            session.scalars(
                select(CRLRow.number).where(CRLRow.ca_id == ca_id).order_by(CRLRow.number)
            )
        )


def test_next_update_is_this_update_plus_the_requested_days(pki: PKI) -> None:
    context = replace(pki.context, clock=lambda: NOW)

    crl = publish_crl(context, "issuing", days=3)

    assert crl.this_update == NOW
    assert crl.next_update == NOW + timedelta(days=3)
    parsed = load_crl(crl.der)
    assert parsed.last_update_utc == NOW
    assert parsed.next_update_utc == NOW + timedelta(days=3)


def test_crl_validity_defaults_to_the_configured_days(pki: PKI) -> None:
    context = replace(pki.context, clock=lambda: NOW)

    crl = publish_crl(context, "issuing")

    assert crl.next_update == NOW + timedelta(days=context.settings.crl_days)


@pytest.mark.parametrize("days", [0, -1, 3651])
def test_crl_days_out_of_range_are_invalid_validity(pki: PKI, days: int) -> None:
    before = latest_crl(pki.context, "issuing")

    with pytest.raises(InvalidValidity):
        publish_crl(pki.context, "issuing", days=days)

    assert latest_crl(pki.context, "issuing") == before


@SQLITE_ONLY
def test_crl_signature_is_valid_with_the_ca_public_key(pki: PKI) -> None:
    issuing = ca_chain(pki.context, "issuing")[0]

    crl = load_crl(publish_crl(pki.context, "issuing").der)

    assert crl.is_signature_valid(issuing.public_key())
    assert crl.issuer == issuing.subject


@SQLITE_ONLY
def test_crl_signature_is_not_valid_with_another_key(pki: PKI) -> None:
    root = ca_chain(pki.context, "root")[0]

    crl = load_crl(publish_crl(pki.context, "issuing").der)

    assert not crl.is_signature_valid(root.public_key())


@SQLITE_ONLY
def test_crl_is_version_2_with_number_and_authority_key_identifier(pki: PKI) -> None:
    issuing = ca_chain(pki.context, "issuing")[0]
    ski = issuing.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value

    published = publish_crl(pki.context, "issuing")
    crl = load_crl(published.der)

    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert number.crl_number == published.number
    assert aki.key_identifier == ski.digest


def test_crl_numbers_increase_by_one_per_publication(pki: PKI) -> None:
    numbers = [publish_crl(pki.context, "issuing").number for _ in range(3)]

    assert numbers == [2, 3, 4]
    assert get_ca(pki.context, "issuing").crl_number == 4


def test_each_ca_numbers_its_crls_on_its_own(pki: PKI) -> None:
    publish_crl(pki.context, "issuing")
    publish_crl(pki.context, "issuing")

    assert publish_crl(pki.context, "root").number == 2


def test_crl_counts_its_entries(pki: PKI) -> None:
    for name in ("a", "b", "c"):
        revoke_certificate(pki.context, pki.issue_client(name).serial)

    crl = publish_crl(pki.context, "issuing")

    assert crl.entries == 3
    assert len(load_crl(crl.der)) == 3


def test_only_the_newest_crls_are_kept(pki: PKI) -> None:
    for _ in range(KEPT_CRLS + 2):
        last = publish_crl(pki.context, "issuing")

    numbers = _stored_numbers(pki, "issuing")

    assert numbers == list(range(last.number - KEPT_CRLS + 1, last.number + 1))


def test_pruning_one_ca_leaves_the_others_crls(pki: PKI) -> None:
    for _ in range(KEPT_CRLS + 2):
        publish_crl(pki.context, "issuing")

    assert _stored_numbers(pki, "root") == [1]


def test_latest_crl_is_the_one_just_published(pki: PKI) -> None:
    publish_crl(pki.context, "issuing")
    published = publish_crl(pki.context, "issuing")

    assert latest_crl(pki.context, "issuing") == published


def test_latest_crl_of_a_new_ca_is_number_one(pki: PKI) -> None:
    crl = latest_crl(pki.context, "root")

    assert crl.number == 1
    assert crl.entries == 0
    assert crl.ca_name == "root"


def test_latest_crl_of_an_unknown_ca_is_ca_not_found(pki: PKI) -> None:
    with pytest.raises(CANotFound):
        latest_crl(pki.context, "nope")


def test_publish_crl_of_an_unknown_ca_is_ca_not_found(pki: PKI) -> None:
    with pytest.raises(CANotFound):
        publish_crl(pki.context, "nope")


@SQLITE_ONLY
def test_published_crl_files_are_replaced_by_the_new_crl(pki: PKI) -> None:
    assert pki.context.published_dir is not None
    directory = pki.context.published_dir / "issuing"

    crl = publish_crl(pki.context, "issuing")

    assert (directory / "crl.der").read_bytes() == crl.der
    assert (directory / "crl.pem").read_bytes() == crl.pem
    assert load_crl(crl.pem) == load_crl(crl.der)


@pytest.mark.interop
@SQLITE_ONLY
def test_openssl_shows_the_crl_number_and_reason(pki: PKI, openssl: str, tmp_path: Path) -> None:
    revoke_certificate(pki.context, pki.issue_client().serial, reason="keyCompromise")
    crl = tmp_path / "crl.pem"
    crl.write_bytes(publish_crl(pki.context, "issuing").pem)

    text = subprocess.run(
        [openssl, "crl", "-in", str(crl), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    assert "X509v3 CRL Number" in text
    assert "Key Compromise" in text


# -- publishing only when the newest CRL is behind (the background publisher's step) ------


def test_a_crl_listing_every_revocation_is_not_published_again(pki: PKI) -> None:
    before = latest_crl(pki.context, "issuing").number

    crl, number = publish_crl_if_behind(pki.context, "issuing")

    assert crl is None
    assert number == before
    assert _stored_numbers(pki, "issuing")[-1] == before


def test_a_revocation_missing_from_the_newest_crl_gets_the_next_crl(pki: PKI) -> None:
    victim = pki.issue_client("behind")
    before = latest_crl(pki.context, "issuing").number
    revoke_certificate(pki.context, victim.serial)

    crl, number = publish_crl_if_behind(pki.context, "issuing")

    assert crl is not None and number == crl.number == before + 1
    listed = load_crl(latest_crl(pki.context, "issuing").der)
    assert listed.get_revoked_certificate_by_serial_number(int(victim.serial, 16)) is not None
    assert publish_crl_if_behind(pki.context, "issuing") == (None, number)


def test_a_crl_past_half_its_life_is_renewed_before_it_expires(pki: PKI) -> None:
    newest = latest_crl(pki.context, "issuing")
    half_life = newest.this_update + (newest.next_update - newest.this_update) / 2
    early = replace(pki.context, clock=lambda: half_life - timedelta(minutes=1))
    late = replace(pki.context, clock=lambda: half_life)

    assert publish_crl_if_behind(early, "issuing")[0] is None
    renewed, number = publish_crl_if_behind(late, "issuing")

    assert renewed is not None and number == newest.number + 1
    assert renewed.this_update == half_life


def test_a_publication_that_loses_the_race_for_the_number_starts_over(
    pki: PKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another publication stores the next number while this one signs: this one must
    # not reuse that number, nor fail, but look again and publish after it.
    import certward.ca.crl as crl_module

    revoke_certificate(pki.context, pki.issue_client("raced").serial)
    signed = crl_module._signed_crl
    calls = []

    def sign_while_another_publishes(*args: object, **kwargs: object) -> object:
        calls.append(kwargs["number"])
        if len(calls) == 1:
            publish_crl(pki.context, "issuing")  # the other publication, committed first
        return signed(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(crl_module, "_signed_crl", sign_while_another_publishes)
    other_number = latest_crl(pki.context, "issuing").number + 1
    revoke_certificate(pki.context, pki.issue_client("raced-2").serial)

    crl, number = publish_crl_if_behind(pki.context, "issuing")

    assert calls[0] == other_number  # it had signed the number the other one took
    # Looking again, the other publication already listed both revocations.
    assert crl is None and number == other_number
    assert _stored_numbers(pki, "issuing")[-1] == other_number


def _entries_read_in_full(pki: PKI, ca_id: int) -> bytes:
    with pki.context.database.read() as session:
        return b"".join(
            session.scalars(
                select(RevocationRow.entry_der)
                .where(RevocationRow.ca_id == ca_id)
                .order_by(RevocationRow.id)
            )
        )


def _issuing_id(pki: PKI) -> int:
    with pki.context.database.read() as session:
        return pki.context.ca_row(session, "issuing").id


def test_revoked_entries_read_again_only_what_is_new(pki: PKI) -> None:
    known = RevokedEntries()
    ca_id = _issuing_id(pki)
    revoke_certificate(pki.context, pki.issue_client("one").serial)
    with pki.context.database.read() as session:
        assert known.read(session, ca_id) == (_entries_read_in_full(pki, ca_id), 1)

    for name in ("two", "three"):
        revoke_certificate(pki.context, pki.issue_client(name).serial)
    with pki.context.database.read() as session:
        joined, count = known.read(session, ca_id)

    assert (joined, count) == (_entries_read_in_full(pki, ca_id), 3)


def test_revoked_entries_notice_a_revocation_with_a_lower_id_committed_late(pki: PKI) -> None:
    # PostgreSQL hands out ids at insert: a transaction that commits late can add an id
    # lower than one already read. The count gives it away, and everything is read again.
    known = RevokedEntries()
    ca_id = _issuing_id(pki)
    revoke_certificate(pki.context, pki.issue_client("early").serial)
    with pki.context.database.read() as session:
        known.read(session, ca_id)
    late = pki.issue_client("late")
    revoke_certificate(pki.context, late.serial)
    with pki.context.database.transaction() as session:
        session.execute(
            update(RevocationRow).where(RevocationRow.serial == late.serial).values(id=-1)
        )

    with pki.context.database.read() as session:
        joined, count = known.read(session, ca_id)

    assert count == 2
    assert joined == _entries_read_in_full(pki, ca_id)
