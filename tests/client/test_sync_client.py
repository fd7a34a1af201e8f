"""``certward.client.Client`` against a real ``certward serve``: every operation, every failure."""

from __future__ import annotations

import ssl
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certward.access.grants import Grant, Permission
from certward.ca.authority import CAInfo
from certward.ca.factory import IssuedCertificate
from certward.ca.inventory import CertificateStatus, CertificateSummary
from certward.ca.revoke import RevokedCertificate
from certward.client import Client, PrincipalCredentials
from certward.crypto.keys import private_key_to_pkcs8
from certward.errors import (
    AccessDenied,
    CAExists,
    CANotFound,
    InvalidInput,
    PasswordError,
    ServiceUnavailable,
    Unauthenticated,
)
from tests.client.live_server import LiveServer, dropping_listener, free_port, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("sync-client") / "data") as live:
        yield live


@pytest.fixture(scope="module")
def admin(server: LiveServer) -> Iterator[Client]:
    with server.client() as client:
        yield client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def new_principal(admin: Client, *grants: Grant) -> PrincipalCredentials:
    return admin.create_principal(unique("app"), list(grants) or [Grant(Permission.CA_READ)])


def write_bundle(credentials: PrincipalCredentials, directory: Path) -> Path:
    path = directory / f"{credentials.principal.name}.p12"
    path.write_bytes(credentials.pkcs12)
    return path


def make_csr(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, csr.public_bytes(serialization.Encoding.PEM)


# -- identity and CAs -----------------------------------------------------------------


def test_whoami_names_the_admin_and_its_admin_grant(admin: Client) -> None:
    identity = admin.whoami()

    assert identity.name == "admin"
    assert [grant.permission for grant in identity.grants] == [Permission.ADMIN]
    assert identity.request_id


def test_list_cas_holds_the_bootstrapped_root_and_issuing_ca(admin: Client) -> None:
    cas = admin.list_cas()

    assert {"root", "issuing"} <= {info.name for info in cas}
    assert all(isinstance(info, CAInfo) for info in cas)
    assert cas.request_id


def test_get_ca_is_a_ca_info_with_the_request_id(admin: Client) -> None:
    info = admin.get_ca("issuing")

    assert isinstance(info, CAInfo)
    assert (info.name, info.parent) == ("issuing", "root")
    assert info.not_before.tzinfo is not None
    assert x509.load_pem_x509_certificate(info.certificate_pem).serial_number == int(
        info.serial, 16
    )
    assert len(info.request_id) == 32


def test_create_ca_makes_an_intermediate_under_its_parent(admin: Client) -> None:
    name = unique("team")

    info = admin.create_ca(
        name, subject=f"/CN={name}/O=tests", parent="root", days=30, permitted=["DNS:example.com"]
    )

    assert (info.name, info.parent, info.subject) == (name, "root", f"O=tests,CN={name}")
    certificate = x509.load_pem_x509_certificate(info.certificate_pem)
    constraints = certificate.extensions.get_extension_for_class(x509.NameConstraints).value
    assert constraints.permitted_subtrees == [x509.DNSName("example.com")]
    assert admin.get_ca(name).certificate_pem == info.certificate_pem


def test_ca_certificate_is_the_first_certificate_of_the_chain(admin: Client) -> None:
    certificate = admin.ca_certificate("issuing")
    chain = admin.ca_chain("issuing")

    assert certificate.certificate == chain.certificates[0]
    assert certificate.pem.startswith(b"-----BEGIN CERTIFICATE-----")


def test_ca_chain_runs_from_the_ca_up_to_the_root(admin: Client) -> None:
    chain = admin.ca_chain("issuing")

    subjects = [cert.subject.rfc4514_string() for cert in chain.certificates]
    assert subjects == ["O=certward,CN=certward Issuing CA", "O=certward,CN=certward Root CA"]
    chain.certificates[0].verify_directly_issued_by(chain.certificates[1])


def test_crl_is_signed_by_its_ca(admin: Client) -> None:
    crl = admin.crl("issuing")

    issuing = admin.ca_certificate("issuing").certificate
    assert crl.crl.issuer == issuing.subject
    assert crl.crl.is_signature_valid(issuing.public_key())
    assert crl.number >= 1


def test_publish_crl_issues_the_next_number_and_serves_it(admin: Client) -> None:
    before = admin.crl("issuing").number

    published = admin.publish_crl("issuing", days=3)

    assert published.number == before + 1
    assert published.next_update - published.this_update == timedelta(days=3)
    assert admin.crl("issuing").number == published.number


# -- certificates ---------------------------------------------------------------------


def test_issue_certificate_returns_the_key_of_the_certificate(admin: Client) -> None:
    issued = admin.issue_certificate(
        ca="issuing", profile="server", common_name="web.example", sans=["DNS:web.example"]
    )

    assert isinstance(issued, IssuedCertificate)
    assert issued.private_key is not None
    assert issued.private_key.public_key() == issued.certificate.public_key()
    assert (issued.ca_name, issued.profile) == ("issuing", "server")
    assert [cert.subject.rfc4514_string() for cert in issued.chain][-1].endswith("Root CA")
    assert issued.request_id


def test_sign_csr_certifies_the_key_of_the_csr(admin: Client) -> None:
    key, csr_pem = make_csr("csr.example")

    issued = admin.sign_csr(ca="issuing", profile="server", csr_pem=csr_pem, days=7)

    assert issued.private_key is None
    assert issued.certificate.public_key() == key.public_key()
    assert issued.not_after - issued.not_before <= timedelta(days=7, minutes=1)


def test_list_certificates_pages_with_the_cursor(admin: Client) -> None:
    tag = unique("paged")
    serials = [
        admin.issue_certificate(ca="issuing", profile="client", common_name=f"{tag}-{n}").serial
        for n in range(3)
    ]

    first = admin.list_certificates(search=tag, limit=2)
    second = admin.list_certificates(search=tag, limit=2, cursor=first.next_cursor)

    assert [item.serial for item in (*first.items, *second.items)] == serials[::-1]
    assert first.next_cursor is not None and second.next_cursor is None
    assert first.request_id != second.request_id


def test_list_certificates_filters_by_status_and_expiry(admin: Client) -> None:
    tag = unique("filtered")
    short = admin.issue_certificate(ca="issuing", profile="client", common_name=tag, days=2)
    revoked = admin.issue_certificate(ca="issuing", profile="client", common_name=tag)
    admin.revoke_certificate(revoked.serial)

    valid = admin.list_certificates(search=tag, status=CertificateStatus.VALID)
    gone = admin.list_certificates(search=tag, status="revoked")
    ending = admin.list_certificates(
        search=tag, expiring_before=datetime.now(UTC) + timedelta(days=3)
    )

    assert [item.serial for item in valid.items] == [short.serial]
    assert [item.serial for item in gone.items] == [revoked.serial]
    assert [item.serial for item in ending.items] == [short.serial]


def test_get_certificate_summarises_an_issued_certificate(admin: Client) -> None:
    issued = admin.issue_certificate(
        ca="issuing", profile="server", common_name="one.example", sans=["DNS:one.example"]
    )

    summary = admin.get_certificate(issued.serial)

    assert isinstance(summary, CertificateSummary)
    assert (summary.serial, summary.ca_name, summary.common_name) == (
        issued.serial,
        "issuing",
        "one.example",
    )
    assert summary.sans == ("DNS:one.example",)
    assert summary.status is CertificateStatus.VALID
    assert summary.certificate == issued.certificate


def test_revoke_certificate_answers_before_the_crl_and_the_crl_follows(admin: Client) -> None:
    issued = admin.issue_certificate(ca="issuing", profile="client", common_name="leaving")

    revoked = admin.revoke_certificate(issued.serial, reason="keyCompromise")

    assert isinstance(revoked, RevokedCertificate)
    assert (revoked.serial, revoked.ca_name, revoked.reason) == (
        issued.serial,
        "issuing",
        "keyCompromise",
    )
    assert revoked.crl_number is None  # published in the background
    assert admin.get_certificate(issued.serial).status is CertificateStatus.REVOKED
    deadline = time.monotonic() + 30
    while (
        admin.crl("issuing").crl.get_revoked_certificate_by_serial_number(
            issued.certificate.serial_number
        )
        is None
    ):
        assert time.monotonic() < deadline, "the CRL never listed the revoked certificate"
        time.sleep(0.05)


def test_revoke_certificate_waiting_for_the_crl_names_a_crl_that_lists_it(
    admin: Client,
) -> None:
    issued = admin.issue_certificate(ca="issuing", profile="client", common_name="leaving")

    revoked = admin.revoke_certificate(issued.serial, reason="keyCompromise", wait_for_crl=True)

    crl = admin.crl("issuing")
    assert revoked.crl_number is not None
    assert crl.number >= revoked.crl_number
    entry = crl.crl.get_revoked_certificate_by_serial_number(issued.certificate.serial_number)
    assert entry is not None


# -- principals and audit -------------------------------------------------------------


def test_create_principal_returns_credentials_that_authenticate(
    admin: Client, server: LiveServer, tmp_path: Path
) -> None:
    credentials = new_principal(admin, Grant(Permission.CA_READ, resources=("issuing",)))

    with Client.from_bundle(
        write_bundle(credentials, tmp_path), credentials.pkcs12_password, url=server.url
    ) as client:
        identity = client.whoami()

    assert identity.name == credentials.principal.name
    assert identity.grants == (Grant(Permission.CA_READ, resources=("issuing",)),)
    assert credentials.private_key.public_key() == credentials.certificate.public_key()
    assert credentials.principal.enabled


def test_list_principals_includes_the_admin_and_a_new_principal(admin: Client) -> None:
    credentials = new_principal(admin)

    names = [principal.name for principal in admin.list_principals()]

    assert {"admin", credentials.principal.name} <= set(names)


def test_get_principal_returns_its_grants_and_serial(admin: Client) -> None:
    credentials = new_principal(admin, Grant(Permission.AUDIT_READ))

    principal = admin.get_principal(credentials.principal.name)

    assert principal.grants == (Grant(Permission.AUDIT_READ),)
    assert principal.certificate_serial == credentials.principal.certificate_serial
    assert principal.created_by == "admin"


def test_disable_principal_marks_it_disabled_and_revokes_its_certificate(admin: Client) -> None:
    credentials = new_principal(admin)

    disabled = admin.disable_principal(credentials.principal.name)

    assert not disabled.enabled
    assert disabled.disabled_at is not None
    serial = credentials.principal.certificate_serial
    assert admin.get_certificate(serial).status is CertificateStatus.REVOKED


def test_audit_records_a_mutation_under_the_request_id_of_its_result(admin: Client) -> None:
    common_name = unique("audit")
    issued = admin.issue_certificate(ca="issuing", profile="client", common_name=common_name)

    page = admin.audit(action="certificate.issue", target=common_name)

    assert [(e.request_id, e.principal, e.result) for e in page.items] == [
        (issued.request_id, "admin", "ok")
    ]
    assert page.request_id != issued.request_id


# -- errors ---------------------------------------------------------------------------


def test_unknown_ca_raises_ca_not_found_with_request_id_and_status(admin: Client) -> None:
    with pytest.raises(CANotFound) as raised:
        admin.get_ca("no-such-ca")

    assert raised.value.http_status == 404
    assert raised.value.request_id and len(raised.value.request_id) == 32
    assert "no-such-ca" in raised.value.message


def test_failed_post_is_audited_under_the_request_id_of_the_error(admin: Client) -> None:
    with pytest.raises(CAExists) as raised:
        admin.create_ca("issuing", subject="/CN=again")

    page = admin.audit(action="ca.create", target="issuing")
    assert [e.result for e in page.items if e.request_id == raised.value.request_id] == [
        "ca.exists"
    ]


def test_missing_grant_raises_access_denied(
    admin: Client, server: LiveServer, tmp_path: Path
) -> None:
    credentials = new_principal(admin, Grant(Permission.CA_READ))
    bundle = write_bundle(credentials, tmp_path)

    with (
        Client.from_bundle(bundle, credentials.pkcs12_password, url=server.url) as reader,
        pytest.raises(AccessDenied) as raised,
    ):
        reader.issue_certificate(ca="issuing", profile="client", common_name="nope")

    assert raised.value.http_status == 403
    assert raised.value.request_id


def test_client_without_identity_reads_public_routes_only(server: LiveServer) -> None:
    with Client(server.url, ca=server.ca_file) as anonymous:
        certificate = anonymous.ca_certificate("root")
        with pytest.raises(Unauthenticated) as raised:
            anonymous.whoami()

    assert certificate.certificate.subject == certificate.certificate.issuer
    assert raised.value.http_status == 401


def test_revoked_principal_is_refused_at_the_handshake(
    admin: Client, server: LiveServer, tmp_path: Path
) -> None:
    credentials = new_principal(admin)
    bundle = write_bundle(credentials, tmp_path)
    password = credentials.pkcs12_password
    with Client.from_bundle(bundle, password, url=server.url) as before:
        before.whoami()

    admin.disable_principal(credentials.principal.name)

    deadline = time.monotonic() + 5
    refusal: Unauthenticated | None = None
    while refusal is None and time.monotonic() < deadline:
        # A fresh client each time: only a new handshake meets the new CRL.
        with Client.from_bundle(bundle, password, url=server.url) as after:
            try:
                after.whoami()
            except Unauthenticated as exc:
                refusal = exc
            except AccessDenied:
                time.sleep(0.05)  # the handshake passed, the disabled principal did not
    assert refusal is not None
    assert "certificate revoked" in refusal.message
    assert refusal.http_status is None


# -- from_bundle ----------------------------------------------------------------------


def test_from_bundle_with_the_admin_p12_and_its_password_file(server: LiveServer) -> None:
    with Client.from_bundle(
        server.admin_p12, server.admin_p12_password, url=server.url, ca=server.ca_file
    ) as client:
        assert client.whoami().name == "admin"


def test_from_bundle_trusts_the_root_inside_the_bundle_by_default(server: LiveServer) -> None:
    with Client.from_bundle(server.admin_p12, server.admin_p12_password, url=server.url) as client:
        assert client.whoami().name == "admin"


def test_from_bundle_leaves_no_file_behind(
    server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    client = Client.from_bundle(server.admin_p12, server.admin_p12_password, url=server.url)

    assert list(scratch.iterdir()) == []
    client.close()


def test_from_bundle_with_a_wrong_password_raises_password_error(server: LiveServer) -> None:
    with pytest.raises(PasswordError):
        Client.from_bundle(server.admin_p12, "not the password", url=server.url)


# -- connections ----------------------------------------------------------------------


def test_get_on_a_dead_port_raises_service_unavailable_quickly(server: LiveServer) -> None:
    client = Client(f"https://127.0.0.1:{free_port()}", ca=server.ca_file, retries=2)
    started = time.monotonic()

    with pytest.raises(ServiceUnavailable) as raised:
        client.list_cas()

    assert time.monotonic() - started < 5
    assert "after 3 attempts" in raised.value.message
    assert raised.value.request_id and raised.value.http_status is None


def test_get_is_retried_after_connection_failures(server: LiveServer) -> None:
    with dropping_listener() as listener:
        client = Client(listener.url, ca=server.ca_file, retries=2)
        with pytest.raises(ServiceUnavailable):
            client.get_ca("issuing")

    assert listener.accepted == 3


def test_post_is_retried_like_a_get(server: LiveServer) -> None:
    with dropping_listener() as listener:
        client = Client(listener.url, ca=server.ca_file, retries=2)
        with pytest.raises(ServiceUnavailable):
            client.publish_crl("issuing")

    assert listener.accepted == 3


def test_every_attempt_of_a_post_carries_the_same_idempotency_key(
    server: LiveServer, impostor_tls: ssl.SSLContext
) -> None:
    with dropping_listener(impostor_tls) as listener:
        client = Client(listener.url, ca=server.ca_file, retries=2)
        with pytest.raises(ServiceUnavailable):
            client.publish_crl("issuing")
        with pytest.raises(ServiceUnavailable):
            client.publish_crl("issuing")

    keys = listener.header_values(b"idempotency-key")
    assert len(keys) == 6
    assert len(set(keys[:3])) == len(set(keys[3:])) == 1
    assert keys[0] != keys[3]


def test_a_get_carries_no_idempotency_key(server: LiveServer, impostor_tls: ssl.SSLContext) -> None:
    with dropping_listener(impostor_tls) as listener:
        client = Client(listener.url, ca=server.ca_file, retries=0)
        with pytest.raises(ServiceUnavailable):
            client.get_certificate("0badc0de")

    assert listener.accepted == 1
    assert listener.header_values(b"idempotency-key") == []


def test_a_client_with_several_servers_moves_past_one_that_is_down(server: LiveServer) -> None:
    with dropping_listener() as down:
        client = Client(
            [down.url, server.url], cert=server.admin_cert, key=server.admin_key, ca=server.ca_file
        )
        ca = client.get_ca("issuing")
        assert client.url == server.url
        issued = client.issue_certificate(ca="issuing", profile="client", common_name="failover")

    assert ca.name == "issuing"
    assert issued.serial
    assert down.accepted == 1  # tried once, then the client stays on the server that answers
    assert client.urls == (down.url, server.url)


def test_several_servers_in_one_string_are_split_at_commas(server: LiveServer) -> None:
    client = Client(
        f"https://127.0.0.1:1, {server.url}",
        cert=server.admin_cert,
        key=server.admin_key,
        ca=server.ca_file,
    )

    assert client.urls == ("https://127.0.0.1:1", server.url)
    assert client.whoami().name == "admin"


def test_untrusted_server_raises_service_unavailable_without_retry(
    server: LiveServer, tmp_path: Path
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "some other root")])
    other_root = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime.now(UTC) - timedelta(days=1))
        .not_valid_after(datetime.now(UTC) + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    anchor = tmp_path / "other-root.crt"
    anchor.write_bytes(other_root.public_bytes(serialization.Encoding.PEM))

    with Client(server.url, ca=anchor) as client, pytest.raises(ServiceUnavailable) as raised:
        client.ca_certificate("root")

    assert "not trusted" in raised.value.message


def test_a_plain_http_url_is_refused(server: LiveServer) -> None:
    with pytest.raises(InvalidInput):
        Client(server.url.replace("https://", "http://"), ca=server.ca_file)


@pytest.fixture(scope="module")
def impostor_tls(admin: Client, tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    """A server context the client trusts, for a listener that never answers."""
    issued = admin.issue_certificate(
        ca="issuing", profile="server", common_name="127.0.0.1", sans=["IP:127.0.0.1"]
    )
    directory = tmp_path_factory.mktemp("impostor")
    (directory / "chain.pem").write_bytes(
        b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in issued.full_chain[:-1])
    )
    assert issued.private_key is not None
    (directory / "key.pem").write_bytes(private_key_to_pkcs8(issued.private_key))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "chain.pem", directory / "key.pem")
    return context


def test_post_cut_off_after_sending_says_its_outcome_is_unknown(
    server: LiveServer, impostor_tls: ssl.SSLContext
) -> None:
    with dropping_listener(impostor_tls) as listener:
        client = Client(listener.url, ca=server.ca_file, retries=1)
        with pytest.raises(ServiceUnavailable) as raised:
            client.revoke_certificate("0badc0de")

    assert listener.accepted == 2
    assert "may have been carried out" in raised.value.message
    assert raised.value.request_id in raised.value.message


def test_get_cut_off_after_sending_is_retried(
    server: LiveServer, impostor_tls: ssl.SSLContext
) -> None:
    with dropping_listener(impostor_tls) as listener:
        client = Client(listener.url, ca=server.ca_file, retries=1)
        with pytest.raises(ServiceUnavailable):
            client.get_certificate("0badc0de")

    assert listener.accepted == 2
