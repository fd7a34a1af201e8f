"""Revoking certificates with RFC 5280 reasons, and seeing them on the issuing CA's next CRL."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from sqlalchemy import func, select

from certward.ca.authority import get_ca
from certward.ca.crl import publish_crl
from certward.ca.factory import IssuedCertificate
from certward.ca.inventory import get_certificate
from certward.ca.revoke import REASON_NAMES, parse_reason, revoke_certificate
from certward.crypto.formats import load_crl
from certward.errors import AlreadyRevoked, CertificateNotFound, InvalidInput, NotRevocable
from certward.store.models import RevocationRow
from tests.support.pki import PKI, write_identity

REVOKED_AT = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def _revocations(pki: PKI) -> int:
    with pki.context.database.read() as session:
        return session.scalar(select(func.count()).select_from(RevocationRow)) or 0


def _crl_entry(pki: PKI, ca_name: str, serial: str) -> x509.RevokedCertificate | None:
    crl = load_crl(publish_crl(pki.context, ca_name).der)
    return crl.get_revoked_certificate_by_serial_number(int(serial, 16))


def _colon_form(serial: str) -> str:
    """``00:AB:CD:…``: uppercase, colon-separated, with a leading zero octet."""
    padded = "00" + serial.zfill(len(serial) + len(serial) % 2)
    return ":".join(padded[i : i + 2] for i in range(0, len(padded), 2)).upper()


# --- reasons --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(REASON_NAMES))
def test_every_rfc_5280_reason_name_is_accepted(name: str) -> None:
    assert parse_reason(name) is REASON_NAMES[name]


@pytest.mark.parametrize(
    ("text", "flag"),
    [
        ("key_compromise", x509.ReasonFlags.key_compromise),
        ("ca_compromise", x509.ReasonFlags.ca_compromise),
        ("cessation_of_operation", x509.ReasonFlags.cessation_of_operation),
        ("KEYCOMPROMISE", x509.ReasonFlags.key_compromise),
        (" superseded ", x509.ReasonFlags.superseded),
    ],
)
def test_snake_case_and_any_case_reason_names_are_accepted(
    text: str, flag: x509.ReasonFlags
) -> None:
    assert parse_reason(text) is flag


def test_no_reason_is_none() -> None:
    assert parse_reason(None) is None


@pytest.mark.parametrize("text", ["", "stolen", "removeFromCRL", "key-compromise-ish"])
def test_unknown_reason_is_invalid_input_listing_the_names(text: str) -> None:
    with pytest.raises(InvalidInput, match="keyCompromise"):
        parse_reason(text)


# --- revoking -------------------------------------------------------------------------------


def test_revoking_marks_the_certificate_revoked_with_its_reason(pki: PKI) -> None:
    issued = pki.issue_client()
    context = replace(pki.context, clock=lambda: REVOKED_AT)

    result = revoke_certificate(context, issued.serial, reason="key_compromise")

    assert result.serial == issued.serial
    assert result.ca_name == "issuing"
    assert result.revoked_at == REVOKED_AT
    assert result.reason == "keyCompromise"
    summary = get_certificate(pki.context, issued.serial)
    assert summary.revoked_at == REVOKED_AT
    assert summary.revocation_reason == "keyCompromise"


def test_revoking_without_a_reason_records_none(pki: PKI) -> None:
    issued = pki.issue_client()

    result = revoke_certificate(pki.context, issued.serial)

    assert result.reason is None
    assert get_certificate(pki.context, issued.serial).revocation_reason is None


def test_unknown_reason_revokes_nothing(pki: PKI) -> None:
    issued = pki.issue_client()

    with pytest.raises(InvalidInput):
        revoke_certificate(pki.context, issued.serial, reason="stolen")

    assert get_certificate(pki.context, issued.serial).revoked_at is None
    assert _revocations(pki) == 0


def test_revoking_twice_is_already_revoked(pki: PKI) -> None:
    issued = pki.issue_client()
    revoke_certificate(pki.context, issued.serial, reason="superseded")

    with pytest.raises(AlreadyRevoked):
        revoke_certificate(pki.context, issued.serial, reason="keyCompromise")

    assert get_certificate(pki.context, issued.serial).revocation_reason == "superseded"
    assert _revocations(pki) == 1


def test_root_is_not_revocable(pki: PKI) -> None:
    root_serial = get_ca(pki.context, "root").serial

    with pytest.raises(NotRevocable):
        revoke_certificate(pki.context, root_serial)

    assert get_certificate(pki.context, root_serial).revoked_at is None
    assert _revocations(pki) == 0


def test_unknown_serial_is_certificate_not_found(pki: PKI) -> None:
    with pytest.raises(CertificateNotFound):
        revoke_certificate(pki.context, "1234abcd")


@pytest.mark.parametrize("serial", ["", "not-hex", "12 34"])
def test_malformed_serial_is_invalid_input(pki: PKI, serial: str) -> None:
    with pytest.raises(InvalidInput):
        revoke_certificate(pki.context, serial)


def test_serial_with_colons_uppercase_and_leading_zeros_is_found(pki: PKI) -> None:
    issued = pki.issue_client()

    result = revoke_certificate(pki.context, _colon_form(issued.serial))

    assert result.serial == issued.serial
    assert get_certificate(pki.context, issued.serial).revoked_at is not None


def test_serial_with_0x_prefix_is_found(pki: PKI) -> None:
    issued = pki.issue_client()

    result = revoke_certificate(pki.context, "0x" + issued.serial.upper())

    assert result.serial == issued.serial


# --- CRLs after revocation ------------------------------------------------------------------


def test_published_crl_lists_the_revoked_serial_with_its_reason(pki: PKI) -> None:
    issued = pki.issue_client()
    revoke_certificate(pki.context, issued.serial, reason="keyCompromise")

    entry = _crl_entry(pki, "issuing", issued.serial)

    assert entry is not None
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason is x509.ReasonFlags.key_compromise


def test_published_crl_entry_has_the_revocation_time(pki: PKI) -> None:
    issued = pki.issue_client()
    revoke_certificate(replace(pki.context, clock=lambda: REVOKED_AT), issued.serial)

    entry = _crl_entry(pki, "issuing", issued.serial)

    assert entry is not None
    assert entry.revocation_date_utc == REVOKED_AT


def test_crl_entry_without_a_reason_has_no_reason_extension(pki: PKI) -> None:
    issued = pki.issue_client()
    revoke_certificate(pki.context, issued.serial)

    entry = _crl_entry(pki, "issuing", issued.serial)

    assert entry is not None
    with pytest.raises(x509.ExtensionNotFound):
        entry.extensions.get_extension_for_class(x509.CRLReason)


def test_unrevoked_certificates_are_not_on_the_crl(pki: PKI) -> None:
    kept, revoked = pki.issue_client("kept"), pki.issue_client("revoked")
    revoke_certificate(pki.context, revoked.serial)

    assert _crl_entry(pki, "issuing", kept.serial) is None


def test_crl_number_increases_with_each_publication(pki: PKI) -> None:
    first = publish_crl(pki.context, "issuing")
    revoke_certificate(pki.context, pki.issue_client().serial)

    second = publish_crl(pki.context, "issuing")

    assert second.number > first.number
    assert second.entries == first.entries + 1
    number = load_crl(second.der).extensions.get_extension_for_class(x509.CRLNumber)
    assert number.value.crl_number == second.number


def test_revoked_intermediate_is_on_the_roots_crl(pki: PKI) -> None:
    serial = get_ca(pki.context, "issuing").serial

    revoke_certificate(pki.context, serial, reason="cACompromise")

    entry = _crl_entry(pki, "root", serial)
    assert entry is not None
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason is x509.ReasonFlags.ca_compromise


def test_revoked_intermediate_is_not_on_its_own_crl(pki: PKI) -> None:
    serial = get_ca(pki.context, "issuing").serial

    revoke_certificate(pki.context, serial)

    assert _crl_entry(pki, "issuing", serial) is None


def test_revoked_leaf_is_not_on_the_roots_crl(pki: PKI) -> None:
    issued = pki.issue_client()

    revoke_certificate(pki.context, issued.serial)

    assert _crl_entry(pki, "root", issued.serial) is None


@pytest.mark.interop
def test_openssl_refuses_a_revoked_client_certificate(
    pki: PKI, openssl: str, tmp_path: Path
) -> None:
    good, bad = pki.issue_client("good"), pki.issue_client("bad")
    revoke_certificate(pki.context, bad.serial, reason="keyCompromise")
    publish_crl(pki.context, "root")
    publish_crl(pki.context, "issuing")
    published = pki.context.published_dir
    assert published is not None
    trust = tmp_path / "trust.pem"
    trust.write_bytes(
        b"".join(
            (published / ca / name).read_bytes()
            for ca in ("root", "issuing")
            for name in ("ca.crt", "crl.pem")
        )
    )

    def verify(issued: IssuedCertificate, stem: str) -> subprocess.CompletedProcess[str]:
        cert, _, _ = write_identity(issued, tmp_path, stem)
        return subprocess.run(
            [openssl, "verify", "-crl_check_all", "-CAfile", str(trust), str(cert)],
            capture_output=True,
            text=True,
            check=False,
        )

    accepted, refused = verify(good, "good"), verify(bad, "bad")

    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert refused.returncode != 0
    assert "certificate revoked" in refused.stdout + refused.stderr
