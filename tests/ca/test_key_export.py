"""Opening the stored key of an issued certificate for export."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from certward.ca.issue import issue_certificate, sign_csr
from certward.ca.key_export import stored_private_key
from certward.errors import CertificateNotFound, NotFound
from tests.server.test_access_matrix import csr_pem
from tests.support.pki import PKI

_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_the_stored_key_matches_the_certificate_and_comes_with_its_chain(pki: PKI) -> None:
    issued = pki.issue_client("exported")

    key, certificate, chain = stored_private_key(pki.context, issued.serial)

    assert certificate == issued.certificate
    assert key.public_key().public_bytes(*_SPKI) == certificate.public_key().public_bytes(*_SPKI)
    assert [c.subject for c in chain] == [c.subject for c in issued.chain]


def test_a_certificate_issued_for_a_csr_has_no_stored_key(pki: PKI) -> None:
    issued = sign_csr(
        pki.context,
        ca_name="issuing",
        profile="server",
        csr_data=csr_pem("web", dns="web.example").encode(),
    )

    with pytest.raises(NotFound, match="not stored"):
        stored_private_key(pki.context, issued.serial)


def test_a_key_not_kept_by_setting_is_not_stored(pki: PKI) -> None:
    issued = issue_certificate(
        pki.context, ca_name="issuing", profile="client", common_name="x", store_key=False
    )

    with pytest.raises(NotFound, match="not stored"):
        stored_private_key(pki.context, issued.serial)


def test_an_unknown_serial_is_not_found(pki: PKI) -> None:
    with pytest.raises(CertificateNotFound):
        stored_private_key(pki.context, "7f00")
