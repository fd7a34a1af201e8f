"""Every parser of outside bytes, as one table: what it reads, seeds, what it may raise.

The contract under test: a parser given *any* bytes returns, or raises a
:class:`~certward.errors.CertwardError` (the typed error the CLI and the API
render); nothing else escapes (no ValueError, IndexError, UnicodeDecodeError,
struct.error, RecursionError…). Used by ``test_parsers.py`` (hypothesis, CI-sized)
and by ``fuzz/fuzz_parsers.py`` (atheris, long runs).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ValidationError

from certward.access.grants import Grant
from certward.acme.jws import parse_signed_request
from certward.ca.issue import csr_request
from certward.ca.lint import certificate_findings, crl_findings
from certward.config import load_settings
from certward.crypto.formats import load_certificates, load_crl, load_csr, load_pkcs12
from certward.crypto.keys import load_private_key
from certward.crypto.names import parse_san, parse_subject
from certward.kds.ident import KeyIdent
from certward.kds.messages import ident_of
from certward.keystore.envelope import parse_envelope
from certward.keystore.master_key_file import decode_master_key_file
from certward.kms.ciphertext import parse_ciphertext
from certward.server import kms_schemas, schemas
from tests.security.corpus import PKCS12_PASSWORD, Seeds

__all__ = ["PARSERS", "Parser"]


@dataclass(frozen=True)
class Parser:
    name: str
    parse: Callable[[bytes], object]
    seeds: Callable[[Seeds], tuple[bytes, ...]]
    # Besides CertwardError (always allowed): exceptions this parser documents.
    also_allowed: tuple[type[BaseException], ...] = ()


def _lint_certificate(data: bytes) -> object:
    from cryptography import x509

    try:
        certificate = x509.load_der_x509_certificate(data)
    except (ValueError, x509.InvalidVersion):
        return None  # not a certificate: nothing for the linter
    return certificate_findings(certificate, der=data)


def _config(data: bytes) -> object:
    with tempfile.TemporaryDirectory(prefix="certward-fuzz-") as tmp:
        (Path(tmp) / "certward.toml").write_bytes(data)
        return load_settings(Path(tmp))


def _grant(data: bytes) -> object:
    import json

    try:
        value = json.loads(data)
    except ValueError:
        return None
    return Grant.from_dict(value)


_MODELS: tuple[type[BaseModel], ...] = (
    schemas.IssueIn,
    schemas.SignIn,
    schemas.CACreate,
    schemas.PrincipalCreate,
    schemas.RevokeIn,
    kms_schemas.KeyCreateIn,
    kms_schemas.SignIn,
    kms_schemas.EncryptIn,
    kms_schemas.DecryptIn,
    kms_schemas.MacIn,
)


def _json_bodies(data: bytes) -> object:
    # What the API does with a body: pydantic's ValidationError becomes input.invalid.
    for model in _MODELS:
        with contextlib.suppress(ValidationError):
            model.model_validate_json(data)
    return None


def _text(parse: Callable[[str], object]) -> Callable[[bytes], object]:
    return lambda data: parse(data.decode("utf-8", errors="surrogateescape"))


PARSERS: tuple[Parser, ...] = (
    Parser(
        "certificate PEM/DER",
        load_certificates,
        lambda s: (s.certificate_der, s.certificate_pem),
    ),
    Parser("CSR PEM/DER", load_csr, lambda s: (s.csr_der, s.csr_pem)),
    Parser("CSR to request (signature, SANs)", csr_request, lambda s: (s.csr_der, s.csr_pem)),
    Parser("CRL PEM/DER", load_crl, lambda s: (s.crl_der, s.crl_pem)),
    Parser(
        "PKCS#12", lambda data: load_pkcs12(data, password=PKCS12_PASSWORD), lambda s: (s.pkcs12,)
    ),
    Parser("private key PEM/DER", load_private_key, lambda s: (s.key_pem,)),
    Parser("KMS ciphertext blob", parse_ciphertext, lambda s: (s.ciphertext,)),
    Parser("KDS KeyIdent", KeyIdent.decode, lambda s: (s.key_ident,)),
    Parser("KDS message envelope", ident_of, lambda s: (b"\x01" + s.key_ident,)),
    Parser(
        "sealed envelope",
        lambda data: parse_envelope(data, record_id="fuzz"),
        lambda s: (bytes(93),),
    ),
    Parser("master key file", decode_master_key_file, lambda s: (b"CWKS" + bytes(60),)),
    Parser("certward.toml", _config, lambda s: (s.config_toml.encode(),)),
    Parser("subject text", _text(parse_subject), lambda s: (b"/CN=a/O=b\\/c",)),
    Parser("SAN text", _text(parse_san), lambda s: (b"DNS:a.example", b"IP:10.0.0.1")),
    Parser("grant JSON", _grant, lambda s: (b'{"permission": "ca.issue", "resources": ["x"]}',)),
    Parser("API JSON bodies", _json_bodies, lambda s: s.json_bodies),
    Parser(
        "ACME JWS",
        lambda data: parse_signed_request(data, expected_url="https://x/acme/new-order"),
        lambda s: (b'{"protected": "e30", "payload": "", "signature": ""}',),
    ),
    Parser("linter on certificates", _lint_certificate, lambda s: (s.certificate_der,)),
    Parser("linter on CRLs", crl_findings, lambda s: (s.crl_der,)),
)
