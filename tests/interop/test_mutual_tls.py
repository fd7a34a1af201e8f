"""Mutual TLS between ``openssl s_server`` and ``s_client`` with certward's certificates.

The server trusts the hash directory and checks every CRL; it answers one HTTP
request (``-www``) and closes, so the client reads until the server is done and
sees either the page or the server's alert.
"""

from __future__ import annotations

import pytest

from tests.interop.openssl_processes import TLSServer, run_tool, tls_server
from tests.interop.trust_material import Identity, TrustMaterial

pytestmark = pytest.mark.interop

REQUEST = "GET / HTTP/1.0\r\n\r\n"


def _connect(openssl: str, server: TLSServer, trust: TrustMaterial, client: Identity) -> str:
    result = run_tool(
        openssl, "s_client", "-connect", f"127.0.0.1:{server.port}", "-ign_eof",
        "-cert", client.certificate, "-key", client.key,
        "-CAfile", trust.root_pem, "-verify_return_error", "-verify_ip", "127.0.0.1",
        input_text=REQUEST,
    )  # fmt: skip
    return f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


def test_mutual_tls_handshake_succeeds_with_issued_server_and_client(
    trust: TrustMaterial, openssl: str
) -> None:
    with tls_server(openssl, *trust.mtls_server_options()) as server:
        client_output = _connect(openssl, server, trust, trust.alice)

    assert client_output.startswith("exit 0\n"), client_output
    assert "Verify return code: 0 (ok)" in client_output
    assert "HTTP/1.0 200 ok" in client_output
    # The server verified alice's whole chain against the hash dir and her CRL.
    assert "depth=0 CN = alice" in server.stderr, server.output
    assert "verify error" not in server.stderr, server.output


def test_revoked_client_is_refused_by_the_server(trust: TrustMaterial, openssl: str) -> None:
    with tls_server(openssl, *trust.mtls_server_options()) as server:
        client_output = _connect(openssl, server, trust, trust.mallory)

    assert not client_output.startswith("exit 0\n"), client_output
    assert "alert certificate revoked" in client_output
    assert "HTTP/1.0 200 ok" not in client_output
    assert "verify error:num=23:certificate revoked" in server.stderr, server.output
