"""Checking the JWS that carries every ACME POST (RFC 8555 6.2-6.4), with josepy and ``acme``.

This module parses and checks the envelope; which key must have signed it (the
``jwk`` in the header, or the key of the account ``kid`` names) is the caller's
choice, made with :func:`verify_with`. Nonces are checked by the caller too,
after the signature, so a forged request cannot use up someone's nonce.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from acme import jws as acme_jws
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from josepy.b64 import b64decode, b64encode
from josepy.errors import DeserializationError
from josepy.errors import Error as JoseError
from josepy.jwk import JWK, JWKOct

from certward.errors import (
    AcmeBadPublicKey,
    AcmeBadSignatureAlgorithm,
    AcmeMalformed,
    AcmeUnauthorized,
)

__all__ = [
    "ALLOWED_ALGORITHMS",
    "SignedRequest",
    "check_account_key",
    "jwk_from_json",
    "parse_signed_request",
    "public_key_of",
    "thumbprint",
    "verify_with",
]

# RFC 8555 6.2: ES256 and EdDSA at least; the RSA ones for older clients. Never none or HMAC.
ALLOWED_ALGORITHMS = frozenset({"RS256", "PS256", "ES256", "ES384", "ES512"})
_CURVE_OF = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1}
_FLATTENED_FIELDS = frozenset({"protected", "payload", "signature"})
MIN_RSA_BITS = 2048


@dataclass(frozen=True)
class SignedRequest:
    """A parsed, not yet verified ACME request: the JWS and its protected header fields."""

    jws: acme_jws.JWS
    algorithm: str
    url: str
    nonce: str | None
    jwk: JWK | None
    kid: str | None

    @property
    def payload(self) -> bytes:
        """The payload bytes (empty for POST-as-GET)."""
        return bytes(self.jws.payload)

    def payload_json(self) -> dict[str, Any]:
        """The payload as a JSON object; AcmeMalformed unless it is one."""
        try:
            value = json.loads(self.payload)
        except (ValueError, UnicodeDecodeError):
            raise AcmeMalformed("the JWS payload is not JSON") from None
        if not isinstance(value, dict):
            raise AcmeMalformed("the JWS payload must be a JSON object")
        return value


def parse_signed_request(body: bytes, *, expected_url: str) -> SignedRequest:
    """Parse a flattened JWS and check its header: algorithm, url, nonce, jwk xor kid."""
    try:
        outer = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise AcmeMalformed("the request body is not JSON") from None
    if (
        not isinstance(outer, dict)
        or set(outer) != _FLATTENED_FIELDS
        or not all(isinstance(value, str) for value in outer.values())
    ):
        # (josepy assumes strings: a number as the payload was an AttributeError, a 500.)
        raise AcmeMalformed(
            "the request must be a flattened JWS: protected, payload, signature (strings)"
        )
    try:
        signed = acme_jws.JWS.from_json(outer)
        signature = signed.signature
        header = signature.combined
        if not signature.protected:
            raise AcmeMalformed("the JWS has no protected header")
        protected = json.loads(b64decode(outer["protected"]))
    except (DeserializationError, ValueError, TypeError, KeyError):
        raise AcmeMalformed("the JWS could not be parsed") from None
    algorithm = protected.get("alg")
    if algorithm not in ALLOWED_ALGORITHMS:
        raise AcmeBadSignatureAlgorithm(
            f"JWS algorithm {algorithm!r} is not accepted; use one of "
            f"{', '.join(sorted(ALLOWED_ALGORITHMS))}"
        )
    url = protected.get("url")
    if not isinstance(url, str):
        raise AcmeMalformed("the JWS protected header has no url")
    if url != expected_url:
        raise AcmeUnauthorized(f"the JWS url {url!r} is not the URL this request was sent to")
    nonce = protected.get("nonce")
    if nonce is not None and not isinstance(nonce, str):
        raise AcmeMalformed("the JWS nonce must be a string")
    kid = protected.get("kid")
    has_jwk = "jwk" in protected
    if has_jwk == (kid is not None):
        raise AcmeMalformed("the JWS protected header needs exactly one of jwk and kid")
    if kid is not None and not isinstance(kid, str):
        raise AcmeMalformed("the JWS kid must be a string")
    return SignedRequest(
        jws=signed, algorithm=algorithm, url=url, nonce=nonce, jwk=header.jwk, kid=kid
    )


def public_key_of(key: JWK) -> PublicKeyTypes:
    """The pyca/cryptography public key of a JWK (josepy wraps it in a comparable proxy)."""
    der = key.public_key().key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return serialization.load_der_public_key(der)


def check_account_key(key: JWK) -> None:
    """AcmeBadPublicKey unless ``key`` is RSA ≥ 2048 bits or EC P-256/384/521."""
    public = public_key_of(key)
    if isinstance(public, rsa.RSAPublicKey):
        if public.key_size < MIN_RSA_BITS:
            raise AcmeBadPublicKey(f"RSA account keys need {MIN_RSA_BITS} bits or more")
        return
    if isinstance(public, ec.EllipticCurvePublicKey) and isinstance(
        public.curve, (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
    ):
        return
    raise AcmeBadPublicKey("account keys must be RSA (2048+) or EC P-256, P-384 or P-521")


def _fits(algorithm: str, key: JWK) -> bool:
    public = public_key_of(key)
    if algorithm in _CURVE_OF:
        return isinstance(public, ec.EllipticCurvePublicKey) and isinstance(
            public.curve, _CURVE_OF[algorithm]
        )
    return isinstance(public, rsa.RSAPublicKey)


def verify_with(request: SignedRequest, key: JWK, *, wrong_key: type[Exception]) -> None:
    """Raise ``wrong_key`` unless ``key`` made the request's signature with its algorithm."""
    if not _fits(request.algorithm, key):
        raise wrong_key(f"the JWS algorithm {request.algorithm} does not fit the key")
    try:
        valid = request.jws.verify(key.public_key())
    except (JoseError, InvalidSignature, ValueError, TypeError):
        valid = False
    if not valid:
        raise wrong_key("the JWS signature does not verify with the key")


def thumbprint(key: JWK) -> str:
    """The RFC 7638 SHA-256 thumbprint of ``key``, base64url."""
    return b64encode(key.public_key().thumbprint(hash_function=hashes.SHA256)).decode()


def jwk_from_json(data: Any) -> JWK:
    """A public JWK from its JSON form; AcmeMalformed for anything else."""
    try:
        key = JWK.from_json(data)
    except (DeserializationError, ValueError, TypeError, KeyError):
        raise AcmeMalformed("not a valid JWK") from None
    if not isinstance(key, JWK) or isinstance(key, JWKOct):
        raise AcmeBadPublicKey("account keys must be RSA or EC public keys")
    return key.public_key()
