"""curl with a certward client certificate against an mTLS ``openssl s_server -www``."""

from __future__ import annotations

import shutil

import pytest

from tests.interop.openssl_processes import run_tool, tls_server
from tests.interop.trust_material import Identity, TrustMaterial

pytestmark = pytest.mark.interop


@pytest.fixture
def curl() -> str:
    """Path of the real curl binary."""
    found = shutil.which("curl")
    assert found is not None, "curl is not installed"
    return found


def _fetch(curl: str, openssl: str, trust: TrustMaterial, client: Identity) -> tuple[str, str, str]:
    """curl's HTTP status and stderr, and what s_server printed."""
    with tls_server(openssl, *trust.mtls_server_options()) as server:
        result = run_tool(
            curl, "--silent", "--show-error", "--max-time", "20", "--output", "/dev/null",
            "--write-out", "%{http_code}", "--cacert", trust.root_pem,
            "--cert", client.certificate, "--key", client.key,
            f"https://127.0.0.1:{server.port}/",
        )  # fmt: skip
    return result.stdout, f"exit {result.returncode}: {result.stderr}", server.output


def test_curl_with_an_issued_client_certificate_gets_200(
    curl: str, openssl: str, trust: TrustMaterial
) -> None:
    status, curl_error, server_output = _fetch(curl, openssl, trust, trust.alice)

    assert status == "200", f"{curl_error}\n{server_output}"


def test_curl_with_the_revoked_client_certificate_is_refused(
    curl: str, openssl: str, trust: TrustMaterial
) -> None:
    status, curl_error, server_output = _fetch(curl, openssl, trust, trust.mallory)

    assert status != "200", f"{curl_error}\n{server_output}"
    assert "alert certificate revoked" in curl_error, f"{curl_error}\n{server_output}"
    assert "certificate revoked" in server_output
