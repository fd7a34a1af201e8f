"""TLS posture of the HTTPS API, checked with the real ``openssl s_client``.

TLS 1.0 and 1.1 are refused (alert protocol version); weak suites are refused
(handshake failure) although the client offers them (``@SECLEVEL=0`` lets it);
renegotiation is refused; compression is off; HSTS is on every response. RC4 and
3DES cannot even be offered by OpenSSL 3's client, so for them (and for every
other suite) the server's own cipher list is checked.
"""

from __future__ import annotations

import subprocess

import pytest

from certward.server.tls import MODERN_CIPHERS
from tests.server.service import Service

pytestmark = pytest.mark.interop

WEAK_SUITES = (
    "AES128-SHA",  # RSA key exchange, CBC
    "AES128-GCM-SHA256",  # RSA key exchange (no forward secrecy)
    "ECDHE-ECDSA-AES128-SHA",  # CBC with SHA-1 MAC
    "ECDHE-ECDSA-AES256-SHA384",  # CBC
    "ECDHE-ECDSA-NULL-SHA",  # no encryption
    "DHE-RSA-AES128-GCM-SHA256",  # finite-field DH
    "ADH-AES128-SHA",  # anonymous
)


def s_client(service: Service, *options: str, stdin: str = "") -> str:
    result = subprocess.run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"{service.host}:{service.port}",
            "-CAfile",
            str(service.ca_certificate),
            *options,
        ],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return result.stdout + result.stderr


def offered_by_client(suite: str) -> bool:
    listed = subprocess.run(
        ["openssl", "ciphers", f"{suite}:@SECLEVEL=0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return suite in listed.stdout.strip().split(":")


@pytest.mark.parametrize("version", ["-tls1", "-tls1_1"])
def test_tls_1_0_and_1_1_are_refused(service: Service, version: str) -> None:
    output = s_client(service, version, "-cipher", "DEFAULT@SECLEVEL=0")

    assert "alert protocol version" in output, output
    assert "Cipher is (NONE)" in output


@pytest.mark.parametrize(("version", "protocol"), [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")])
def test_tls_1_2_and_1_3_work_without_compression(
    service: Service, version: str, protocol: str
) -> None:
    output = s_client(service, version)

    assert f"New, {protocol}, Cipher is" in output, output
    assert "Compression: NONE" in output
    assert "Verify return code: 0 (ok)" in output


@pytest.mark.parametrize("suite", WEAK_SUITES)
def test_weak_suites_are_refused_although_offered(service: Service, suite: str) -> None:
    assert offered_by_client(suite), f"this openssl cannot offer {suite}: the test would be hollow"

    output = s_client(service, "-tls1_2", "-cipher", f"{suite}:@SECLEVEL=0")

    assert "alert handshake failure" in output, output
    assert "Cipher is (NONE)" in output


def test_the_strong_suite_a_client_asks_for_is_accepted(service: Service) -> None:
    output = s_client(service, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")

    assert "Cipher is ECDHE-ECDSA-AES128-GCM-SHA256" in output, output


def test_the_server_offers_only_forward_secret_aead_suites() -> None:
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers(MODERN_CIPHERS)
    names = [cipher["name"] for cipher in context.get_ciphers()]

    tls12 = [name for name in names if not name.startswith("TLS_")]
    assert tls12 and all(name.startswith("ECDHE-") for name in tls12), names
    assert all("GCM" in name or "CHACHA20" in name for name in tls12), names
    for weak in ("RC4", "DES", "NULL", "MD5", "EXPORT", "CBC", "-SHA:"):
        assert not any(weak in f"{name}:" for name in names), (weak, names)


def test_renegotiation_is_refused(service: Service) -> None:
    # "R" on s_client's stdin asks for a renegotiation on the open TLS 1.2 connection.
    output = s_client(service, "-tls1_2", stdin="R\n")

    assert "RENEGOTIATING" in output, output
    assert "no renegotiation" in output


@pytest.mark.parametrize("path", ["/health", "/ca/root/ca.crt", "/v1/whoami", "/nothing-here"])
def test_every_response_carries_hsts(service: Service, path: str) -> None:
    with service.client(None) as anonymous:
        response = anonymous.get(path)

    assert response.headers["strict-transport-security"] == "max-age=31536000"
