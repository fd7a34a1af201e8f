"""Checking ACME challenges: http-01, dns-01 and tls-alpn-01 (RFC 8555 8.3-8.4, RFC 8737).

Where to connect is configurable (``[acme]``): the ports of http-01 and
tls-alpn-01, a name → address map used instead of DNS, and the nameserver that
answers dns-01 lookups, so tests and closed networks can run every challenge
on high ports without touching real DNS. Each check raises the RFC's problem
(connection, dns, tls, incorrectResponse) or returns.
"""

from __future__ import annotations

import hashlib
import socket
import ssl
from dataclasses import dataclass

import dns.exception
import dns.resolver
import httpx
from acme import challenges
from cryptography import x509
from josepy.b64 import b64decode, b64encode
from josepy.jwk import JWK

from certward.config import AcmeSettings
from certward.errors import AcmeConnection, AcmeDns, AcmeIncorrectResponse, AcmeTls

__all__ = ["ACME_IDENTIFIER_OID", "ChallengeValidator", "key_authorization"]

# id-pe-acmeIdentifier (RFC 8737 6.1)
ACME_IDENTIFIER_OID = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.31")
_ALPN = "acme-tls/1"
MAX_HTTP01_BODY = 1024


def key_authorization(token: str, account_key: JWK) -> str:
    """``token || '.' || base64url(thumbprint(accountKey))`` (RFC 8555 8.1)."""
    return str(challenges.HTTP01(token=b64decode(token)).key_authorization(account_key))


@dataclass(frozen=True)
class ChallengeValidator:
    """Checks challenges as ``settings`` say (ports, addresses, nameserver, timeout)."""

    settings: AcmeSettings

    def check(self, kind: str, name: str, token: str, account_key: JWK) -> None:
        """Check one challenge of ``kind`` for DNS name ``name``; raise its problem if it fails."""
        expected = key_authorization(token, account_key)
        if kind == "http-01":
            self._http01(name, token, expected)
        elif kind == "dns-01":
            self._dns01(name, expected)
        elif kind == "tls-alpn-01":
            self._tls_alpn01(name, expected)
        else:  # pragma: no cover - challenge types come from our own rows
            raise AcmeIncorrectResponse(f"unknown challenge type {kind!r}")

    def address_of(self, name: str) -> str:
        """The address for ``name``: configured (exactly, or by a ``*.suffix`` key), else DNS."""
        configured = self.settings.resolve.get(name)
        for pattern, address in self.settings.resolve.items():
            if configured is None and pattern.startswith("*.") and name.endswith(pattern[1:]):
                configured = address
        if configured is not None:
            return configured
        try:
            infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise AcmeDns(f"{name} does not resolve") from None
        return str(infos[0][4][0])

    def _http01(self, name: str, token: str, expected: str) -> None:
        address = self.address_of(name)
        host = f"[{address}]" if ":" in address else address
        url = f"http://{host}:{self.settings.http01_port}/.well-known/acme-challenge/{token}"
        try:
            with (
                httpx.Client(timeout=self.settings.validation_timeout_seconds) as client,
                client.stream("GET", url, headers={"Host": name}) as response,
            ):
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_HTTP01_BODY:
                        break
                status = response.status_code
        except httpx.HTTPError as exc:
            raise AcmeConnection(
                f"http-01: could not fetch the challenge from {name} ({type(exc).__name__})"
            ) from None
        if status != 200:
            raise AcmeIncorrectResponse(f"http-01: {name} answered HTTP {status}")
        if body.strip() != expected.encode():
            raise AcmeIncorrectResponse(f"http-01: {name} answered a wrong key authorization")

    def _dns01(self, name: str, expected: str) -> None:
        digest = b64encode(hashlib.sha256(expected.encode()).digest()).decode()
        resolver = dns.resolver.Resolver(configure=self.settings.dns_resolver is None)
        if self.settings.dns_resolver is not None:
            host, _, port = self.settings.dns_resolver.rpartition(":")
            if not host or not port.isdigit():
                host, port = self.settings.dns_resolver, "53"
            resolver.nameservers = [host.strip("[]")]
            resolver.port = int(port)
        resolver.lifetime = self.settings.validation_timeout_seconds
        query = f"_acme-challenge.{name.removeprefix('*.')}"
        try:
            answer = resolver.resolve(query, "TXT")
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            raise AcmeIncorrectResponse(f"dns-01: no TXT record at {query}") from None
        except dns.exception.DNSException as exc:
            raise AcmeDns(f"dns-01: lookup of {query} failed ({type(exc).__name__})") from None
        values = {b"".join(record.strings).decode(errors="replace") for record in answer}
        if digest not in values:
            raise AcmeIncorrectResponse(f"dns-01: no TXT record at {query} holds the digest")

    def _tls_alpn01(self, name: str, expected: str) -> None:
        address = self.address_of(name)
        context = ssl.create_default_context()
        # The challenge certificate is self-signed by design; it is checked below instead.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.set_alpn_protocols([_ALPN])
        timeout = self.settings.validation_timeout_seconds
        try:
            with (
                socket.create_connection((address, self.settings.tls_alpn01_port), timeout) as raw,
                context.wrap_socket(raw, server_hostname=name) as tls,
            ):
                der = tls.getpeercert(binary_form=True)
                protocol = tls.selected_alpn_protocol()
        except ssl.SSLError as exc:
            raise AcmeTls(f"tls-alpn-01: handshake with {name} failed ({exc.reason})") from None
        except OSError as exc:
            raise AcmeConnection(
                f"tls-alpn-01: could not connect to {name} ({type(exc).__name__})"
            ) from None
        if protocol != _ALPN or der is None:
            raise AcmeTls(f"tls-alpn-01: {name} did not negotiate {_ALPN}")
        _check_alpn_certificate(x509.load_der_x509_certificate(der), name, expected)


def _check_alpn_certificate(certificate: x509.Certificate, name: str, expected: str) -> None:
    try:
        sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        extension = certificate.extensions.get_extension_for_oid(ACME_IDENTIFIER_OID)
    except (x509.ExtensionNotFound, ValueError):
        raise AcmeIncorrectResponse(
            f"tls-alpn-01: the certificate of {name} lacks the SAN or acmeIdentifier"
        ) from None
    if sans.get_values_for_type(x509.DNSName) != [name] or len(list(sans)) != 1:
        raise AcmeIncorrectResponse(f"tls-alpn-01: the certificate must name exactly {name}")
    digest = hashlib.sha256(expected.encode()).digest()
    value = extension.value
    raw = value.value if isinstance(value, x509.UnrecognizedExtension) else b""
    if not extension.critical or raw != b"\x04\x20" + digest:
        raise AcmeIncorrectResponse(
            f"tls-alpn-01: wrong acmeIdentifier in the certificate of {name}"
        )
