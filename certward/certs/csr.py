"""Certificate signing requests for a slot: the request fields, their checks, and generation.

The fields are those of Redfish ``CertificateService.GenerateCSR`` (seed 002),
under snake_case names; :data:`REDFISH_FIELDS` maps the Redfish names to them.
Every check names the field it refused (:class:`~certward.errors.InvalidCSRRequest`),
so each entry point can report it in its own spelling.

Key types: RSA 2048/3072/4096, EC P-256/P-384 and Ed25519. The default is EC
P-384, as bmcweb's.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from certward.crypto.keys import KeyType, SigningKey, generate_private_key, signature_hash_for
from certward.crypto.names import has_control_characters, parse_san
from certward.errors import InvalidCSRRequest, InvalidInput

__all__ = [
    "KEY_USAGES",
    "REDFISH_FIELDS",
    "REQUIRED_FIELDS",
    "CSRRequest",
    "GeneratedCSR",
    "csr_request_from_fields",
    "generate_csr",
]

# Redfish property name → CSRRequest field. Seed 002's example spells two of them
# differently from the DMTF schema ("OrganizationUnit", "SurName"); both are accepted.
REDFISH_FIELDS: Mapping[str, str] = {
    "City": "city",
    "CommonName": "common_name",
    "Country": "country",
    "Organization": "organization",
    "OrganizationalUnit": "organizational_unit",
    "OrganizationUnit": "organizational_unit",
    "State": "state",
    "AlternativeNames": "alternative_names",
    "ChallengePassword": "challenge_password",
    "ContactPerson": "contact_person",
    "Email": "email",
    "GivenName": "given_name",
    "Initials": "initials",
    "KeyBitLength": "key_bit_length",
    "KeyCurveId": "key_curve_id",
    "KeyPairAlgorithm": "key_pair_algorithm",
    "KeyUsage": "key_usage",
    "Surname": "surname",
    "SurName": "surname",
    "UnstructuredName": "unstructured_name",
}

REQUIRED_FIELDS = (
    "city",
    "common_name",
    "country",
    "organization",
    "organizational_unit",
    "state",
)

# RFC 5280 upper bounds (ub-*) for the subject attributes we write.
_MAX_LENGTH = {
    "city": 128,
    "common_name": 64,
    "organization": 64,
    "organizational_unit": 64,
    "state": 128,
    "contact_person": 128,
    "email": 255,
    "given_name": 64,
    "initials": 64,
    "surname": 64,
    "unstructured_name": 255,
    "challenge_password": 100,
}

_NAME_ATTRIBUTE = ObjectIdentifier("2.5.4.41")  # "name": phosphor's ContactPerson

_SUBJECT_OIDS: tuple[tuple[str, ObjectIdentifier], ...] = (
    ("country", NameOID.COUNTRY_NAME),
    ("state", NameOID.STATE_OR_PROVINCE_NAME),
    ("city", NameOID.LOCALITY_NAME),
    ("organization", NameOID.ORGANIZATION_NAME),
    ("organizational_unit", NameOID.ORGANIZATIONAL_UNIT_NAME),
    ("common_name", NameOID.COMMON_NAME),
    ("contact_person", _NAME_ATTRIBUTE),
    ("given_name", NameOID.GIVEN_NAME),
    ("surname", NameOID.SURNAME),
    ("initials", NameOID.INITIALS),
    ("email", NameOID.EMAIL_ADDRESS),
    ("unstructured_name", NameOID.UNSTRUCTURED_NAME),
)

# Redfish KeyUsage names: the key usage bits, then the extended key usages.
_KEY_USAGE_BITS = {
    "DigitalSignature": "digital_signature",
    "NonRepudiation": "content_commitment",
    "KeyEncipherment": "key_encipherment",
    "DataEncipherment": "data_encipherment",
    "KeyAgreement": "key_agreement",
    "KeyCertSign": "key_cert_sign",
    "CRLSigning": "crl_sign",
    "EncipherOnly": "encipher_only",
    "DecipherOnly": "decipher_only",
}
_EXTENDED_KEY_USAGES = {
    "ServerAuthentication": ExtendedKeyUsageOID.SERVER_AUTH,
    "ClientAuthentication": ExtendedKeyUsageOID.CLIENT_AUTH,
    "CodeSigning": ExtendedKeyUsageOID.CODE_SIGNING,
    "EmailProtection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "Timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "OCSPSigning": ExtendedKeyUsageOID.OCSP_SIGNING,
}
KEY_USAGES = (*_KEY_USAGE_BITS, *_EXTENDED_KEY_USAGES)

_CURVES = {
    "secp256r1": KeyType.EC_P256,
    "prime256v1": KeyType.EC_P256,
    "p-256": KeyType.EC_P256,
    "p256": KeyType.EC_P256,
    "secp384r1": KeyType.EC_P384,
    "p-384": KeyType.EC_P384,
    "p384": KeyType.EC_P384,
}
_EC_BITS = {256: KeyType.EC_P256, 384: KeyType.EC_P384}
_RSA_BITS = {2048: KeyType.RSA_2048, 3072: KeyType.RSA_3072, 4096: KeyType.RSA_4096}
_ALGORITHMS = {"rsa": "RSA", "ec": "EC", "ecdsa": "EC", "ed25519": "Ed25519"}
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


@dataclass(frozen=True)
class CSRRequest:
    """What a CSR for a slot asks for; build it with :func:`csr_request_from_fields`."""

    city: str
    common_name: str
    country: str
    organization: str
    organizational_unit: str
    state: str
    key_type: KeyType = KeyType.EC_P384
    alternative_names: tuple[x509.GeneralName, ...] = ()
    key_usage: tuple[str, ...] = ()
    contact_person: str | None = None
    email: str | None = None
    given_name: str | None = None
    initials: str | None = None
    surname: str | None = None
    unstructured_name: str | None = None
    challenge_password: str | None = field(default=None, repr=False)

    def subject(self) -> x509.Name:
        """The subject name the CSR carries."""
        attributes = []
        for name, oid in _SUBJECT_OIDS:
            value = getattr(self, name)
            if value:
                attributes.append(x509.NameAttribute(oid, value))
        return x509.Name(attributes)

    def describe(self) -> dict[str, Any]:
        """The request as plain JSON values, without the challenge password (for job records)."""
        described: dict[str, Any] = {
            name: getattr(self, name)
            for name in (*REQUIRED_FIELDS, *(n for n, _ in _SUBJECT_OIDS[6:]))
            if getattr(self, name) is not None
        }
        described["key_type"] = self.key_type.value
        described["alternative_names"] = [str(san.value) for san in self.alternative_names]
        described["key_usage"] = list(self.key_usage)
        return described


@dataclass(frozen=True)
class GeneratedCSR:
    """A CSR and the private key made for it (the key never leaves the process in clear)."""

    csr: x509.CertificateSigningRequest
    private_key: SigningKey = field(repr=False)
    key_type: KeyType

    @property
    def csr_pem(self) -> bytes:
        return self.csr.public_bytes(serialization.Encoding.PEM)


def _text(fields: Mapping[str, Any], name: str, *, required: bool) -> str | None:
    value = fields.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidCSRRequest(f"{name} is required", name)
        return None
    if not isinstance(value, str):
        raise InvalidCSRRequest(f"{name} must be a string", name)
    value = value.strip()
    if len(value) > _MAX_LENGTH.get(name, 64):
        raise InvalidCSRRequest(
            f"{name} is longer than {_MAX_LENGTH.get(name, 64)} characters", name
        )
    if has_control_characters(value):
        raise InvalidCSRRequest(f"{name} must not contain control characters", name)
    return value


def _key_type(fields: Mapping[str, Any]) -> KeyType:
    raw_algorithm = fields.get("key_pair_algorithm")
    if raw_algorithm is None or raw_algorithm == "":
        algorithm = "EC"
    elif isinstance(raw_algorithm, str) and raw_algorithm.strip().lower() in _ALGORITHMS:
        algorithm = _ALGORITHMS[raw_algorithm.strip().lower()]
    else:
        raise InvalidCSRRequest(
            f"key_pair_algorithm {raw_algorithm!r} is not supported; use RSA, EC or Ed25519",
            "key_pair_algorithm",
        )
    bits = fields.get("key_bit_length")
    if bits is not None and (isinstance(bits, bool) or not isinstance(bits, int)):
        raise InvalidCSRRequest("key_bit_length must be an integer", "key_bit_length")
    if algorithm == "RSA":
        if bits is None:
            return KeyType.RSA_2048
        if bits not in _RSA_BITS:
            raise InvalidCSRRequest(
                f"key_bit_length {bits} is not supported for RSA; use 2048, 3072 or 4096",
                "key_bit_length",
            )
        return _RSA_BITS[bits]
    if algorithm == "Ed25519":
        return KeyType.ED25519
    return _ec_key_type(fields.get("key_curve_id"), bits)


def _ec_key_type(curve: Any, bits: int | None) -> KeyType:
    if curve is None or curve == "":
        if bits is None:
            return KeyType.EC_P384
        if bits not in _EC_BITS:
            raise InvalidCSRRequest(
                f"key_bit_length {bits} is not supported for EC; use 256 or 384", "key_bit_length"
            )
        return _EC_BITS[bits]
    if not isinstance(curve, str) or curve.strip().lower() not in _CURVES:
        raise InvalidCSRRequest(
            f"key_curve_id {curve!r} is not supported; use secp256r1 (P-256) or secp384r1 (P-384)",
            "key_curve_id",
        )
    key_type = _CURVES[curve.strip().lower()]
    if bits is not None and _EC_BITS.get(bits) is not key_type:
        raise InvalidCSRRequest(
            f"key_bit_length {bits} does not fit key_curve_id {curve!r}", "key_bit_length"
        )
    return key_type


def _alternative_names(value: Any) -> tuple[x509.GeneralName, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise InvalidCSRRequest("alternative_names must be a list of strings", "alternative_names")
    if len(value) > 100:
        raise InvalidCSRRequest("alternative_names has more than 100 entries", "alternative_names")
    names: list[x509.GeneralName] = []
    for item in value:
        text = item.strip()
        if ":" not in text or _is_ip(text):
            text = f"IP:{text}" if _is_ip(text) else f"DNS:{text}"
        try:
            name = parse_san(text)
        except InvalidInput as exc:
            raise InvalidCSRRequest(
                f"alternative_names: {exc.message}", "alternative_names"
            ) from None
        if name not in names:
            names.append(name)
    return tuple(names)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _key_usage(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise InvalidCSRRequest("key_usage must be a list of strings", "key_usage")
    usages: list[str] = []
    for item in value:
        if item not in KEY_USAGES:
            raise InvalidCSRRequest(
                f"key_usage {item!r} is not one of {', '.join(KEY_USAGES)}", "key_usage"
            )
        if item not in usages:  # seed 002's example repeats one; a repeat adds nothing
            usages.append(item)
    return tuple(usages)


def csr_request_from_fields(fields: Mapping[str, Any]) -> CSRRequest:
    """Check ``fields`` (snake_case names, JSON values) and build the request.

    Raises InvalidCSRRequest naming the first field refused: a missing required
    one, a country that is not two letters, an unsupported algorithm, key size
    or curve, a malformed alternative name or e-mail address, an unknown usage.
    """
    unknown = sorted(set(fields) - set(REDFISH_FIELDS.values()))
    if unknown:
        raise InvalidCSRRequest(f"{unknown[0]} is not a CSR field", unknown[0])
    texts = {
        name: _text(fields, name, required=name in REQUIRED_FIELDS)
        for name in (*REQUIRED_FIELDS, *(n for n, _ in _SUBJECT_OIDS[6:]), "challenge_password")
    }
    country = texts["country"]
    assert country is not None
    if not _COUNTRY.match(country):
        raise InvalidCSRRequest(
            f"country {country!r} must be a two-letter ISO 3166 code (e.g. US)", "country"
        )
    email = texts["email"]
    if email is not None and (not _EMAIL.match(email) or not email.isascii()):
        raise InvalidCSRRequest(f"email {email!r} is not an e-mail address", "email")
    password = texts["challenge_password"]
    if password is not None and not password.isascii():
        raise InvalidCSRRequest("challenge_password must be ASCII", "challenge_password")
    required = {name: texts[name] or "" for name in REQUIRED_FIELDS}
    return CSRRequest(
        city=required["city"],
        common_name=required["common_name"],
        country=country.upper(),
        organization=required["organization"],
        organizational_unit=required["organizational_unit"],
        state=required["state"],
        key_type=_key_type(fields),
        alternative_names=_alternative_names(fields.get("alternative_names")),
        key_usage=_key_usage(fields.get("key_usage")),
        contact_person=texts["contact_person"],
        email=email,
        given_name=texts["given_name"],
        initials=texts["initials"],
        surname=texts["surname"],
        unstructured_name=texts["unstructured_name"],
        challenge_password=password,
    )


def _subject_alternative_names(request: CSRRequest) -> Sequence[x509.GeneralName]:
    # The common name is also a DNS name when it looks like one, so a TLS client that
    # (rightly) ignores the CN still finds it; nothing is added for other CNs.
    names = list(request.alternative_names)
    try:
        as_san = parse_san(f"DNS:{request.common_name}")
    except InvalidInput:
        as_san = None
    if _is_ip(request.common_name):
        as_san = parse_san(f"IP:{request.common_name}")
    if as_san is not None and as_san not in names:
        names.insert(0, as_san)
    return names


def generate_csr(request: CSRRequest) -> GeneratedCSR:
    """A fresh key of ``request.key_type`` and a CSR signed with it (slow for RSA 4096)."""
    key = generate_private_key(request.key_type)
    builder = x509.CertificateSigningRequestBuilder().subject_name(request.subject())
    names = _subject_alternative_names(request)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    bits = {flag: False for flag in _KEY_USAGE_BITS.values()}
    for usage in request.key_usage:
        if usage in _KEY_USAGE_BITS:
            bits[_KEY_USAGE_BITS[usage]] = True
    if any(bits.values()):
        if not bits["key_agreement"]:
            bits["encipher_only"] = bits["decipher_only"] = False
        builder = builder.add_extension(x509.KeyUsage(**bits), critical=True)
    extended = [_EXTENDED_KEY_USAGES[u] for u in request.key_usage if u in _EXTENDED_KEY_USAGES]
    if extended:
        builder = builder.add_extension(x509.ExtendedKeyUsage(extended), critical=False)
    if request.challenge_password:
        builder = builder.add_attribute(
            x509.oid.AttributeOID.CHALLENGE_PASSWORD, request.challenge_password.encode()
        )
    csr = builder.sign(key, signature_hash_for(key))
    return GeneratedCSR(csr=csr, private_key=key, key_type=request.key_type)
