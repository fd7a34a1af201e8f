"""certbot, unchanged, against certward's ACME directory: obtain with http-01, renew, revoke.

certbot runs its own http-01 server (``--standalone``) on a high port that the
service is configured to validate on; certward's root is trusted through
``REQUESTS_CA_BUNDLE``, as any private ACME CA would be.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from tests.acme.conftest import write_config
from tests.server.service import Service, free_port, running_service

pytestmark = pytest.mark.interop

CERTBOT = Path(sys.executable).parent / "certbot"
NAME = "certbot.acme.test"


@pytest.fixture
def certbot_service(tmp_path: Path) -> Iterator[tuple[Service, int]]:
    """A service with ACME on, validating http-01 on a free port (certbot listens there)."""
    http_port = free_port()
    write_config(
        tmp_path / "data",
        f"""
[acme]
enabled = true
http01_port = {http_port}
resolve = {{ "{NAME}" = "127.0.0.1" }}
""",
    )
    with running_service(tmp_path / "data", log=tmp_path / "serve.log") as service:
        yield service, http_port


def _certbot(service: Service, workdir: Path, *args: str) -> str:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("CERTWARD_")
    }
    environment["REQUESTS_CA_BUNDLE"] = str(service.ca_certificate)
    result = subprocess.run(
        [
            str(CERTBOT),
            *args,
            "--config-dir",
            str(workdir / "config"),
            "--work-dir",
            str(workdir / "work"),
            "--logs-dir",
            str(workdir / "logs"),
            "--non-interactive",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=environment,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def _certificate(workdir: Path) -> tuple[x509.Certificate, x509.Certificate]:
    chain = (workdir / "config" / "live" / NAME / "fullchain.pem").read_bytes()
    leaf, issuer = x509.load_pem_x509_certificates(chain)[:2]
    return leaf, issuer


def _ocsp_status(service: Service, leaf: x509.Certificate, issuer: x509.Certificate) -> object:
    request = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA256()).build()
    with service.client(None) as anonymous:
        response = anonymous.post(
            "/ocsp/issuing",
            content=request.public_bytes(serialization.Encoding.DER),
            headers={"content-type": "application/ocsp-request"},
        )
    return ocsp.load_der_ocsp_response(response.content).certificate_status


def test_certbot_obtains_renews_and_revokes(
    certbot_service: tuple[Service, int], tmp_path: Path
) -> None:
    service, http_port = certbot_service
    workdir = tmp_path / "certbot"

    obtained = _certbot(
        service,
        workdir,
        "certonly",
        "--standalone",
        "--http-01-port",
        str(http_port),
        "--server",
        f"{service.url}/acme/issuing/directory",
        "--register-unsafely-without-email",
        "--agree-tos",
        "-d",
        NAME,
    )
    first, issuer = _certificate(workdir)
    renewed = _certbot(service, workdir, "renew", "--force-renewal", "--no-random-sleep-on-renew")
    second, _ = _certificate(workdir)
    revoked = _certbot(
        service,
        workdir,
        "revoke",
        "--cert-name",
        NAME,
        "--reason",
        "keycompromise",
        "--no-delete-after-revoke",
    )

    assert "Successfully received certificate" in obtained
    assert first.extensions.get_extension_for_class(x509.SubjectAlternativeName).value == (
        x509.SubjectAlternativeName([x509.DNSName(NAME)])
    )
    first.verify_directly_issued_by(issuer)
    assert "all renewals succeeded" in renewed
    assert second.serial_number != first.serial_number
    assert "successfully revoked" in revoked
    assert _ocsp_status(service, second, issuer) is ocsp.OCSPCertStatus.REVOKED
    assert _ocsp_status(service, first, issuer) is ocsp.OCSPCertStatus.GOOD
