"""From a fresh data dir to a client certificate refused at the handshake, with curl and openssl.

The issue's first demonstration: ``certward serve`` bootstraps itself, curl with
the admin bundle issues a client certificate, the certificate works, it is
revoked through the API, and within one second of the revoke call returning
the same certificate is refused at the handshake ("certificate revoked") while
the service keeps serving everyone else.
"""

from __future__ import annotations

import json
import shlex
import stat
import subprocess
import uuid
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.server.service import Identity, Service, poll_until

REVOCATION_DEADLINE = 1.0


def curl_json(
    service: Service, *args: str, identity: Identity | None = None
) -> tuple[int, dict[str, Any]]:
    """curl a JSON route: the status and the parsed body."""
    result = service.curl("-w", "\n%{http_code}", *args, identity=identity)
    assert result.returncode == 0, result.stderr
    body, _, status = result.stdout.rpartition("\n")
    return int(status), json.loads(body) if body else {}


def curl_post(
    service: Service, path: str, payload: dict[str, Any], *, identity: Identity
) -> tuple[int, dict[str, Any]]:
    return curl_json(
        service,
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "--data",
        json.dumps(payload),
        f"{service.url}{path}",
        identity=identity,
    )


def refused_as_revoked(
    service: Service, identity: Identity
) -> subprocess.CompletedProcess[str] | None:
    """curl /v1/whoami with ``identity``; the finished process if refused as revoked."""
    result = service.curl(f"{service.url}/v1/whoami", identity=identity)
    if result.returncode != 0 and "certificate revoked" in result.stderr:
        return result
    return None


def assert_still_serving(service: Service) -> None:
    health = service.curl(f"{service.url}/health")
    assert health.returncode == 0, health.stderr
    assert json.loads(health.stdout) == {"status": "healthy"}
    status, whoami = curl_json(service, f"{service.url}/v1/whoami", identity=service.admin)
    assert (status, whoami["name"]) == (200, "admin")
    assert service.process.poll() is None


def test_fresh_data_dir_gets_an_admin_bundle_with_private_modes(service: Service) -> None:
    admin = service.admin_dir

    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in admin.iterdir()}

    assert stat.S_IMODE(admin.stat().st_mode) == 0o700
    assert set(modes) >= {"admin.crt", "admin.key", "ca.crt", "admin.p12", "admin.p12.pass"}
    for secret in ("admin.key", "admin.p12", "admin.p12.pass"):
        assert modes[secret] == 0o600, f"{secret} has mode {oct(modes[secret])}"
    anchor = x509.load_pem_x509_certificate(service.ca_certificate.read_bytes())
    assert anchor.subject == anchor.issuer  # the root, a self-signed trust anchor


def test_serve_prints_a_curl_line_that_works(service: Service) -> None:
    lines = [line for line in service.output().splitlines() if line.startswith("try: curl ")]
    assert len(lines) == 1, service.output()
    assert str(service.admin_dir) in service.output()

    printed = shlex.split(lines[0].removeprefix("try: "))
    result = subprocess.run(printed, capture_output=True, text=True, timeout=30, check=False)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["name"] == "admin"


def test_admin_pkcs12_opens_with_openssl_and_works_with_curl(
    service: Service, openssl: str
) -> None:
    admin = service.admin
    password = admin.pkcs12_password

    info = subprocess.run(
        [
            openssl,
            "pkcs12",
            "-in",
            str(admin.pkcs12),
            "-info",
            "-noout",
            "-passin",
            f"pass:{password}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    p12_curl = service.curl(
        "--cert-type", "P12", "--cert", f"{admin.pkcs12}:{password}", f"{service.url}/v1/whoami"
    )

    assert info.returncode == 0, info.stderr
    assert "MAC" in info.stderr
    assert p12_curl.returncode == 0, p12_curl.stderr
    assert json.loads(p12_curl.stdout)["name"] == "admin"


def test_curl_with_the_admin_bundle_issues_a_client_certificate(service: Service) -> None:
    name = f"e2e-{uuid.uuid4().hex[:8]}"

    status, issued = curl_post(
        service,
        "/v1/certificates",
        {"ca": "issuing", "profile": "client", "common_name": name},
        identity=service.admin,
    )

    assert status == 201, issued
    certificate = x509.load_pem_x509_certificate(issued["certificate_pem"].encode())
    key = serialization.load_pem_private_key(issued["private_key_pem"].encode(), password=None)
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == name
    usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in usages
    assert key.public_key() == certificate.public_key()
    stored_status, stored = curl_json(
        service, f"{service.url}/v1/certificates/{issued['serial']}", identity=service.admin
    )
    assert (stored_status, stored["status"], stored["ca"]) == (200, "valid", "issuing")


def test_revoked_client_certificate_is_refused_within_a_second_without_restart(
    service: Service, tmp_path: Path
) -> None:
    # Arrange: a client certificate the service trusts (it is no principal, so the
    # handshake succeeds and the API answers 403).
    client = service.issue_client_certificate(tmp_path, f"e2e-{uuid.uuid4().hex[:8]}")
    health = service.curl(f"{service.url}/health", identity=client)
    assert health.returncode == 0, health.stderr
    status, denied = curl_json(service, f"{service.url}/v1/whoami", identity=client)
    assert (status, denied["error"]["code"]) == (403, "auth.forbidden")

    # Act: revoke it through the API with curl.
    status, revoked = curl_post(
        service,
        f"/v1/certificates/{client.serial}/revoke",
        {"reason": "keyCompromise"},
        identity=service.admin,
    )
    assert status == 200, revoked
    refusal = poll_until(lambda: refused_as_revoked(service, client), within=REVOCATION_DEADLINE)

    # Assert: refused at the handshake in time, and everyone else is still served.
    assert refusal is not None, "the revoked certificate was still accepted after 1 s"
    assert revoked["reason"] == "keyCompromise"
    assert_still_serving(service)


def test_principal_bundle_works_with_curl_until_the_principal_is_disabled(
    service: Service, tmp_path: Path
) -> None:
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    principal = service.create_principal(
        tmp_path, name=name, grants=[{"permission": "ca.read", "resources": ["issuing"]}]
    )
    status, whoami = curl_json(service, f"{service.url}/v1/whoami", identity=principal)
    assert (status, whoami["name"]) == (200, name)
    assert whoami["grants"][0]["permission"] == "ca.read"
    status, ca = curl_json(service, f"{service.url}/v1/cas/issuing", identity=principal)
    assert (status, ca["name"]) == (200, "issuing")
    p12 = f"{principal.pkcs12}:{principal.pkcs12_password}"
    status, whoami = curl_json(
        service, "--cert-type", "P12", "--cert", p12, f"{service.url}/v1/whoami"
    )
    assert (status, whoami["name"]) == (200, name)

    status, disabled = curl_post(
        service, f"/v1/principals/{name}/disable", {}, identity=service.admin
    )
    assert status == 200, disabled
    refusal = poll_until(lambda: refused_as_revoked(service, principal), within=REVOCATION_DEADLINE)

    assert refusal is not None, "the disabled principal was still accepted after 1 s"
    assert disabled["enabled"] is False
    assert_still_serving(service)
