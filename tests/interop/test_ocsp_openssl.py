"""``openssl ocsp`` against a real ``certward serve``: good, then revoked, nonces, the signer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.openssl_processes import run_tool
from tests.server.service import Service, running_service

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    base = tmp_path_factory.mktemp("ocsp-service")
    with running_service(base / "data", log=base / "serve.log") as running:
        yield running


@pytest.fixture(scope="module")
def issuer(service: Service, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ocsp-issuer") / "issuing.pem"
    with service.client(None) as client:
        path.write_bytes(client.get("/ca/issuing/ca.crt").content)
    return path


def _issue(service: Service, directory: Path, name: str) -> tuple[Path, str]:
    with service.client() as api:
        response = api.post(
            "/v1/certificates",
            json={
                "ca": "issuing",
                "profile": "server",
                "common_name": name,
                "sans": [f"DNS:{name}"],
            },
        )
    assert response.status_code == 201, response.text
    path = directory / f"{name}.pem"
    path.write_text(response.json()["certificate_pem"])
    return path, response.json()["serial"]


def _ocsp(service: Service, issuer: Path, *args: str | Path) -> str:
    """Run ``openssl ocsp`` against the service, trusting its root; stdout + stderr."""
    result = run_tool(
        "openssl",
        "ocsp",
        "-issuer",
        issuer,
        "-url",
        f"{service.url}/ocsp/issuing",
        "-CAfile",
        service.ca_certificate,
        *args,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_openssl_sees_good_then_revoked_with_the_reason(
    service: Service, issuer: Path, tmp_path: Path
) -> None:
    certificate, serial = _issue(service, tmp_path, "openssl-ocsp.example")

    before = _ocsp(service, issuer, "-cert", certificate)
    with service.client() as api:
        revoked = api.post(f"/v1/certificates/{serial}/revoke", json={"reason": "keyCompromise"})
    assert revoked.status_code == 200, revoked.text
    after = _ocsp(service, issuer, "-cert", certificate)

    assert f"{certificate}: good" in before
    assert f"{certificate}: revoked" in after
    assert "Reason: keyCompromise" in after
    assert "Revocation Time:" in after


def test_the_responder_certificate_verifies_against_the_root(
    service: Service, issuer: Path, tmp_path: Path
) -> None:
    certificate, _ = _issue(service, tmp_path, "verify-ocsp.example")

    output = _ocsp(service, issuer, "-cert", certificate)

    assert "Response verify OK" in output


def test_the_nonce_round_trips(service: Service, issuer: Path, tmp_path: Path) -> None:
    certificate, _ = _issue(service, tmp_path, "nonce-ocsp.example")

    output = _ocsp(service, issuer, "-cert", certificate, "-resp_text")

    # openssl sends a nonce by default and fails or warns when the answer lacks it.
    assert "OCSP Nonce" in output
    assert "WARNING: no nonce in response" not in output
    assert "nonce verify error" not in output.lower()


def test_without_a_nonce_the_same_signed_answer_is_served(
    service: Service, issuer: Path, tmp_path: Path
) -> None:
    certificate, _ = _issue(service, tmp_path, "cached-ocsp.example")
    first, second = tmp_path / "first.der", tmp_path / "second.der"

    _ocsp(service, issuer, "-cert", certificate, "-no_nonce", "-respout", first)
    _ocsp(service, issuer, "-cert", certificate, "-no_nonce", "-respout", second)

    assert first.read_bytes() == second.read_bytes()


def test_a_serial_certward_never_issued_is_unknown(service: Service, issuer: Path) -> None:
    output = _ocsp(service, issuer, "-serial", "0x1234567890abcdef")

    assert "0x1234567890abcdef: unknown" in output
