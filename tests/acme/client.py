"""An ACME test client: certbot's ``acme`` library for the protocol, raw JWS posts for bad input."""

from __future__ import annotations

import json
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import josepy as jose
from acme import challenges, client, messages
from acme import jws as acme_jws
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.acme.challenge_servers import ChallengeServers

__all__ = ["AcmeTestClient", "csr_for", "new_account_key"]

JOSE = "application/jose+json"


def new_account_key() -> jose.JWKEC:
    """A fresh EC P-256 account key."""
    return jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))


def csr_for(
    names: Sequence[str], *, common_name: str | None = None
) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
    """A PEM CSR for ``names`` (SANs) and its new key."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = (
        x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name)])
        if common_name
        else x509.Name([])
    )
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM), key


@dataclass
class AcmeTestClient:
    """One ACME account on certward, and the challenge servers it answers with."""

    acme: client.ClientV2
    net: client.ClientNetwork
    key: jose.JWK
    account_url: str
    directory: messages.Directory
    servers: ChallengeServers
    ca_file: Path

    @classmethod
    def register(
        cls,
        directory_url: str,
        ca_file: Path,
        servers: ChallengeServers,
        *,
        key: jose.JWK | None = None,
    ) -> AcmeTestClient:
        key = key or new_account_key()
        net = client.ClientNetwork(
            key, alg=jose.ES256, user_agent="certward-tests", verify_ssl=str(ca_file)
        )
        # No keep-alive: a held connection would make the service's shutdown wait for it.
        net.session.headers["Connection"] = "close"
        directory = client.ClientV2.get_directory(directory_url, net)
        acme = client.ClientV2(directory, net=net)
        registration = acme.new_account(
            messages.NewRegistration.from_data(terms_of_service_agreed=True)
        )
        return cls(acme, net, key, registration.uri, directory, servers, ca_file)

    # -- the happy path, through the library -----------------------------------------

    def key_authorization(self, token: str) -> str:
        """``token.thumbprint`` (RFC 8555 8.1)."""
        thumbprint = jose.encode_b64jose(self.key.thumbprint(hash_function=hashes.SHA256))
        return f"{token}.{thumbprint}"

    def prepare(self, challenge: messages.ChallengeBody, name: str) -> None:
        """Make the challenge servers answer ``challenge`` for ``name`` correctly."""
        chall = challenge.chall
        if isinstance(chall, challenges.HTTP01):
            self.servers.http_answers[chall.encode("token")] = chall.validation(self.key)
        elif isinstance(chall, challenges.DNS01):
            record = f"_acme-challenge.{name}"
            self.servers.txt_records.setdefault(record, []).append(chall.validation(self.key))
        else:  # tls-alpn-01: the acme library no longer models it
            token = chall.jobj["token"]
            self.servers.alpn_key_authorizations[name] = self.key_authorization(token)

    def prove(self, order: messages.OrderResource, kind: str, *, correctly: bool = True) -> None:
        """Answer the ``kind`` challenge of every authorization of ``order``."""
        for authorization in order.authorizations:
            name = authorization.body.identifier.value
            challenge = next(c for c in authorization.body.challenges if _type_of(c) == kind)
            if correctly:
                self.prepare(challenge, name)
            if isinstance(challenge.chall, challenges.UnrecognizedChallenge):
                response = self.signed_post(challenge.uri, {})
                assert response.status_code == 200, response.text
            else:
                self.acme.answer_challenge(challenge, challenge.chall.response(self.key))

    def obtain(
        self, names: Sequence[str], *, kind: str = "http-01"
    ) -> tuple[messages.OrderResource, ec.EllipticCurvePrivateKey]:
        """Order, prove with ``kind``, finalize: the valid order (with its chain) and key."""
        csr, key = csr_for(names)
        order = self.acme.new_order(csr)
        self.prove(order, kind)
        return self.acme.poll_and_finalize(order), key

    # -- raw requests, for what the library would never send ------------------------------

    def https(self) -> httpx.Client:
        return httpx.Client(verify=ssl.create_default_context(cafile=str(self.ca_file)), timeout=30)

    def new_nonce(self) -> str:
        with self.https() as http:
            return http.head(self.directory.newNonce).headers["replay-nonce"]

    def signed_body(
        self,
        url: str,
        payload: dict[str, Any] | bytes | None,
        *,
        nonce: str | None = None,
        key: jose.JWK | None = None,
        kid: str | bool | None = True,
        alg: jose.JWASignature = jose.ES256,
    ) -> bytes:
        """A flattened JWS as ACME wants it (``kid=True``: this account; ``False``: jwk)."""
        if payload is None:
            data = b""
        elif isinstance(payload, bytes):
            data = payload
        else:
            data = json.dumps(payload).encode()
        use_kid = self.account_url if kid is True else (kid or None)
        signed = acme_jws.JWS.sign(
            data,
            key=key or self.key,
            alg=alg,
            nonce=jose.b64decode(nonce or self.new_nonce()),
            url=url,
            kid=use_kid,
        )
        return signed.json_dumps().encode()

    def post(self, url: str, body: bytes, *, content_type: str = JOSE) -> httpx.Response:
        with self.https() as http:
            return http.post(url, content=body, headers={"content-type": content_type})

    def signed_post(
        self, url: str, payload: dict[str, Any] | bytes | None, **options: Any
    ) -> httpx.Response:
        return self.post(url, self.signed_body(url, payload, **options))


def _type_of(challenge: messages.ChallengeBody) -> str:
    chall = challenge.chall
    if isinstance(chall, challenges.UnrecognizedChallenge):
        return str(chall.jobj.get("type"))
    return str(chall.typ)
