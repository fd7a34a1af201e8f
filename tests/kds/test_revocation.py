"""Revocation checker options: parsing, which CRLs are used, and real OpenSSL handshakes."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certward.ca.authority import ca_chain
from certward.ca.crl import latest_crl, publish_crl
from certward.ca.revoke import revoke_certificate
from certward.errors import ConfigError
from certward.kds.revocation import (
    KdsTLS,
    RevocationOption,
    RevocationPolicy,
    build_kds_context,
    select_crls,
)
from certward.server.tls import TLSMaterial
from tests.kds.kds_service import KdsIdentity, KdsPKI


@dataclass(frozen=True)
class Setup:
    pki: KdsPKI
    server: KdsIdentity
    good: KdsIdentity
    revoked: KdsIdentity
    issuing: x509.Certificate
    root: x509.Certificate
    issuing_crl: x509.CertificateRevocationList
    root_crl: x509.CertificateRevocationList


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    pki = KdsPKI.create(tmp_path_factory.mktemp("revocation") / "certward-data")
    server = pki.server_identity()
    good = pki.client_identity("urn:a", stem="good")
    revoked = pki.client_identity("urn:a", stem="revoked")
    revoke_certificate(pki.context, revoked.serial, reason="keyCompromise")
    publish_crl(pki.context, "issuing")
    issuing, root = ca_chain(pki.context, "issuing")
    yield Setup(
        pki,
        server,
        good,
        revoked,
        issuing,
        root,
        x509.load_der_x509_crl(latest_crl(pki.context, "issuing").der),
        x509.load_der_x509_crl(latest_crl(pki.context, "root").der),
    )
    pki.close()


def _material(
    setup: Setup, crls: list[x509.CertificateRevocationList], options: list[str]
) -> tuple[TLSMaterial, RevocationPolicy]:
    policy = RevocationPolicy.parse(options)
    chosen = select_crls(policy, (setup.issuing, setup.root), crls, now=datetime.now(UTC))
    material = TLSMaterial(
        certificate_chain_pem=setup.server.certificate.read_bytes(),
        private_key_pem=setup.server.key.read_bytes(),
        trusted_cas=(setup.issuing, setup.root),
        crls_der=chosen.crls_der,
        check_crls=chosen.check,
    )
    return material, policy


def _handshake(server_context: ssl.SSLContext, client: KdsIdentity) -> str | None:
    """A real TLS handshake over a socket pair: None if the server accepted, else its error."""
    server_end, client_end = socket.socketpair()
    outcome: list[str | None] = []

    def serve() -> None:
        try:
            with server_context.wrap_socket(server_end, server_side=True) as tls:
                tls.recv(1)
            outcome.append(None)
        except (ssl.SSLError, OSError) as exc:
            outcome.append(str(exc))

    thread = threading.Thread(target=serve)
    thread.start()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.load_cert_chain(client.certificate, client.key)
    try:
        with context.wrap_socket(client_end) as tls:
            tls.sendall(b"x")
    except (ssl.SSLError, OSError):
        pass  # the server's side says why
    thread.join(timeout=30)
    return outcome[0]


def test_options_are_case_insensitive_and_may_be_comma_separated() -> None:
    policy = RevocationPolicy.parse(["soft_fail, Only_End_Entity", "prefer_crls"])

    assert policy.options == {
        RevocationOption.SOFT_FAIL,
        RevocationOption.ONLY_END_ENTITY,
        RevocationOption.PREFER_CRLS,
    }
    assert policy.soft_fail and policy.only_end_entity and policy.enabled


def test_disable_wins_over_every_other_option() -> None:
    policy = RevocationPolicy.parse(["SOFT_FAIL", "disable", "ONLY_END_ENTITY"])

    assert (policy.enabled, policy.soft_fail, policy.only_end_entity) == (False, False, False)
    assert policy.describe() == "disabled"


def test_an_unknown_option_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="OCSP_ONLY"):
        RevocationPolicy.parse(["OCSP_ONLY"])


def test_the_newest_crl_of_each_trusted_ca_is_used_and_foreign_ones_are_dropped(
    setup: Setup, tmp_path_factory: pytest.TempPathFactory
) -> None:
    stranger = KdsPKI.create(tmp_path_factory.mktemp("stranger") / "certward-data")
    foreign = x509.load_der_x509_crl(latest_crl(stranger.context, "issuing").der)
    stranger.close()
    newer = x509.load_der_x509_crl(publish_crl(setup.pki.context, "issuing").der)
    policy = RevocationPolicy.parse([])

    chosen = select_crls(
        policy,
        (setup.issuing, setup.root),
        [setup.issuing_crl, newer, foreign, setup.root_crl],
        now=datetime.now(UTC),
    )

    assert sorted(chosen.crls_der) == sorted(
        c.public_bytes(Encoding.DER) for c in (newer, setup.root_crl)
    )
    assert chosen.check and chosen.missing == ()


def test_soft_fail_turns_checks_off_while_a_ca_has_no_current_crl(setup: Setup) -> None:
    soft = select_crls(
        RevocationPolicy.parse(["SOFT_FAIL"]),
        (setup.issuing, setup.root),
        [setup.issuing_crl],
        now=datetime.now(UTC),
    )
    expired = select_crls(
        RevocationPolicy.parse(["SOFT_FAIL"]),
        (setup.issuing, setup.root),
        [setup.issuing_crl, setup.root_crl],
        now=datetime.now(UTC) + timedelta(days=3650),
    )
    hard = select_crls(
        RevocationPolicy.parse([]),
        (setup.issuing, setup.root),
        [setup.issuing_crl],
        now=datetime.now(UTC),
    )

    assert (soft.check, soft.missing) == (False, (setup.root.subject.rfc4514_string(),))
    assert expired.check is False and len(expired.missing) == 2
    assert (hard.check, hard.missing) == (True, (setup.root.subject.rfc4514_string(),))


def test_by_default_a_revoked_client_is_refused_at_the_handshake(setup: Setup) -> None:
    context = build_kds_context(*_material(setup, [setup.issuing_crl, setup.root_crl], []))

    assert _handshake(context, setup.good) is None
    assert "certificate revoked" in (_handshake(context, setup.revoked) or "")


def test_by_default_a_ca_without_crl_makes_its_clients_fail_hard(setup: Setup) -> None:
    context = build_kds_context(*_material(setup, [setup.issuing_crl], []))

    assert "unable to get certificate CRL" in (_handshake(context, setup.good) or "")


def test_only_end_entity_needs_the_crl_of_the_client_issuer_alone(setup: Setup) -> None:
    context = build_kds_context(*_material(setup, [setup.issuing_crl], ["ONLY_END_ENTITY"]))

    assert _handshake(context, setup.good) is None
    assert "certificate revoked" in (_handshake(context, setup.revoked) or "")


def test_disable_accepts_a_revoked_client(setup: Setup) -> None:
    context = build_kds_context(*_material(setup, [setup.issuing_crl, setup.root_crl], ["DISABLE"]))

    assert _handshake(context, setup.revoked) is None


def test_soft_fail_checks_again_as_soon_as_every_crl_is_there(setup: Setup) -> None:
    incomplete, policy = _material(setup, [setup.issuing_crl], ["SOFT_FAIL"])
    tls = KdsTLS(incomplete, policy)
    assert _handshake(tls.base, setup.revoked) is None  # soft fail: not checked

    complete, _ = _material(setup, [setup.issuing_crl, setup.root_crl], ["SOFT_FAIL"])
    tls.replace(complete)

    assert "certificate revoked" in (_handshake(tls.base, setup.revoked) or "")
    assert _handshake(tls.base, setup.good) is None
    tls.replace(incomplete)
    assert _handshake(tls.base, setup.revoked) is None
