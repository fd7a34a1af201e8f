"""Lint before returning (certward/ca/lint.py): what certward signs conforms to RFC 5280.

Every built-in profile and key type, CA certificates and CRLs come out clean; each
rule catches a certificate built to break it; a CSR that would make a
non-conforming certificate is refused (422 ``ca.lint_failed``) and nothing is
stored; a profile that would make non-conforming certificates is refused when the
configuration loads; and pkilint (an independent RFC 5280 linter) agrees on a
sample of certward's certificates and CRLs.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certward.ca.authority import create_ca
from certward.ca.context import CAContext
from certward.ca.crl import latest_crl, publish_crl
from certward.ca.extensions import NameConstraintSpec
from certward.ca.inventory import list_certificates
from certward.ca.issue import issue_certificate, sign_csr
from certward.ca.lint import certificate_findings, check_profile, crl_findings
from certward.ca.profiles import BUILTIN_PROFILES, ProfileRegistry
from certward.ca.revoke import revoke_certificate
from certward.config import ProfileSettings
from certward.crypto.keys import KeyType
from certward.crypto.names import parse_subtrees
from certward.datadir import initialise_data_dir
from certward.errors import CertificateLintFailed, ConfigError
from tests.server.service import Service, assert_error

LINT_PKIX_CERT = Path(sys.executable).parent / "lint_pkix_cert"
LINT_CRL = Path(sys.executable).parent / "lint_crl"


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CAContext]:
    context = initialise_data_dir(tmp_path_factory.mktemp("lint") / "data")
    create_ca(context, name="root", subject="/CN=Lint Root/O=certward")
    create_ca(
        context,
        name="issuing",
        subject="/CN=Lint Issuing/O=certward",
        parent="root",
        path_length=0,
        name_constraints=NameConstraintSpec(permitted=parse_subtrees(["DNS:example.com"])),
    )
    create_ca(context, name="rsa", subject="/CN=Lint RSA", parent="root", key_type=KeyType.RSA_2048)
    yield context
    context.database.dispose()


def rules(findings: list[object]) -> set[str]:
    return {finding.rule for finding in findings}  # type: ignore[attr-defined]


SAMPLES = [
    ("server", "issuing", "web.example.com", ["DNS:web.example.com", "IP:10.0.0.1"], "ec-p256"),
    ("server", "rsa", "web", ["DNS:web.example.com"], "rsa-2048"),
    ("client", "issuing", "alice", [], "ed25519"),
    ("client", "issuing", "bob", ["email:bob@example.com"], "ec-p384"),
    ("kds-server", "issuing", "kds.example.com", [], "ec-p256"),
    ("kds-client", "issuing", "node", ["DNS:kds.example.com", "URI:urn:prjA#10s"], "ec-p256"),
]


@pytest.mark.parametrize("sample", SAMPLES, ids=[f"{s[0]}-{s[4]}" for s in SAMPLES])
def test_issued_certificates_are_clean(
    ctx: CAContext, sample: tuple[str, str, str, list[str], str]
) -> None:
    profile, ca, cn, sans, key_type = sample
    issued = issue_certificate(
        ctx, ca_name=ca, profile=profile, common_name=cn, sans=sans, key_type=KeyType(key_type)
    )

    findings = certificate_findings(
        issued.certificate,
        is_ca=False,
        expected_ekus=BUILTIN_PROFILES[profile].ext_key_usages,
        issuer_key_id=issued.chain[0]
        .extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        .value.digest,
        issuer_subject=issued.chain[0].subject,
    )
    assert findings == []


def test_ca_certificates_and_crls_are_clean(ctx: CAContext) -> None:
    issued = issue_certificate(ctx, ca_name="issuing", profile="client", common_name="gone")
    revoke_certificate(ctx, issued.serial, reason="keyCompromise")
    publish_crl(ctx, "issuing")

    for ca in ("root", "issuing", "rsa"):
        chain = issued.chain if ca != "rsa" else ()
        certificate = next(
            (c for c in chain if c.subject.rfc4514_string().startswith(f"CN=Lint {ca.title()}")),
            None,
        )
        crl = latest_crl(ctx, ca)
        assert crl_findings(crl.der) == []
        if certificate is not None:
            assert certificate_findings(certificate, is_ca=True) == []
    assert x509.load_der_x509_crl(
        latest_crl(ctx, "issuing").der
    ).get_revoked_certificate_by_serial_number(issued.certificate.serial_number)


# -- each rule catches what it is about ----------------------------------------------

KEY = ec.generate_private_key(ec.SECP256R1())
ISSUER = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bad Issuer")])
NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def build(
    *,
    subject: x509.Name | None = None,
    extensions: list[tuple[x509.ExtensionType, bool]] | None = None,
    not_after: dt.datetime | None = None,
    serial: int = 1234567,
) -> x509.Certificate:
    public = KEY.public_key()
    defaults: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (x509.SubjectKeyIdentifier.from_public_key(public), False),
        (x509.AuthorityKeyIdentifier.from_issuer_public_key(public), False),
    ]
    builder = (
        x509.CertificateBuilder()
        .subject_name(
            subject
            if subject is not None
            else x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bad")])
        )
        .issuer_name(ISSUER)
        .public_key(public)
        .serial_number(serial)
        .not_valid_before(NOW)
        .not_valid_after(not_after or NOW + dt.timedelta(days=30))
    )
    for value, critical in extensions if extensions is not None else defaults:
        builder = builder.add_extension(value, critical=critical)
    return builder.sign(KEY, hashes.SHA256())


def usage(**flags: bool) -> x509.KeyUsage:
    names = [
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    ]
    return x509.KeyUsage(**{name: flags.get(name, False) for name in names})


public = KEY.public_key()
SKI = (x509.SubjectKeyIdentifier.from_public_key(public), False)
AKI = (x509.AuthorityKeyIdentifier.from_issuer_public_key(public), False)
LEAF = (x509.BasicConstraints(ca=False, path_length=None), True)

with warnings.catch_warnings():  # cryptography warns about the 65-character CN (on purpose)
    warnings.simplefilter("ignore", UserWarning)
    LONG_CN = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x" * 65, _validate=False)])

BROKEN: dict[str, tuple[dict[str, object], dict[str, object]]] = {
    "ski.missing": ({"extensions": [LEAF, AKI]}, {}),
    "aki.missing": ({"extensions": [LEAF, SKI]}, {}),
    "san.required": ({"subject": x509.Name([]), "extensions": [LEAF, SKI, AKI]}, {}),
    "san.critical": (
        {
            "subject": x509.Name([]),
            "extensions": [
                LEAF,
                SKI,
                AKI,
                (x509.SubjectAlternativeName([x509.DNSName("a")]), False),
            ],
        },
        {},
    ),
    "basic_constraints.critical": (
        {
            "extensions": [
                (x509.BasicConstraints(ca=True, path_length=None), False),
                (usage(key_cert_sign=True, crl_sign=True), True),
                SKI,
                AKI,
            ]
        },
        {"is_ca": True},
    ),
    "key_usage.ca_cert_sign": (
        {
            "extensions": [
                (x509.BasicConstraints(ca=True, path_length=None), True),
                (usage(digital_signature=True), True),
                SKI,
                AKI,
            ]
        },
        {"is_ca": True},
    ),
    "key_usage.end_entity_cert_sign": (
        {"extensions": [LEAF, (usage(key_cert_sign=True), True), SKI, AKI]},
        {},
    ),
    "key_usage.key_type": (
        {"extensions": [LEAF, (usage(key_encipherment=True), True), SKI, AKI]},
        {},
    ),
    "key_usage.not_critical": (
        {"extensions": [LEAF, (usage(digital_signature=True), False), SKI, AKI]},
        {},
    ),
    "basic_constraints.ca": ({}, {"is_ca": True}),
    "eku.any": (
        {
            "extensions": [
                LEAF,
                SKI,
                AKI,
                (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE]), False),
            ]
        },
        {},
    ),
    "eku.profile": ({}, {"expected_ekus": (ExtendedKeyUsageOID.SERVER_AUTH,)}),
    "name.cn_length": ({"subject": LONG_CN}, {}),
    "issuer.mismatch": ({}, {"issuer_subject": x509.Name([])}),
    "aki.mismatch": ({}, {"issuer_key_id": b"\x00" * 20}),
    "san.uri": (
        {
            "extensions": [
                LEAF,
                SKI,
                AKI,
                (
                    x509.SubjectAlternativeName([x509.UniformResourceIdentifier("no scheme here")]),
                    False,
                ),
            ]
        },
        {},
    ),
}


@pytest.mark.filterwarnings("ignore:Attribute's length must be")  # a 65-character CN, on purpose
@pytest.mark.parametrize("rule", list(BROKEN))
def test_each_rule_catches_a_certificate_that_breaks_it(rule: str) -> None:
    shape, expectations = BROKEN[rule]
    certificate = build(**shape)  # type: ignore[arg-type]

    assert rule in rules(certificate_findings(certificate, **expectations))  # type: ignore[arg-type]


def test_the_encoding_rules_read_the_bytes() -> None:
    certificate = build(not_after=dt.datetime(2049, 12, 31, tzinfo=dt.UTC))
    der = bytearray(certificate.public_bytes(serialization.Encoding.DER))
    clean = build(not_after=dt.datetime(2050, 1, 2, tzinfo=dt.UTC))

    assert certificate_findings(clean) == []  # GeneralizedTime from 2050 on
    utc_time = der.index(b"\x17\x0d491231")
    der[utc_time] = 0x18  # the same date as a (too short) GeneralizedTime
    assert "time.encoding" in rules(certificate_findings(certificate, der=bytes(der)))

    serial = build(serial=0x7F << 8)
    raw = bytearray(serial.public_bytes(serialization.Encoding.DER))
    at = raw.index(b"\x02\x02\x7f\x00")
    raw[at + 2] = 0x80  # a negative serial
    assert "serial.positive" in rules(certificate_findings(serial, der=bytes(raw)))


def test_a_csr_that_would_make_a_non_conforming_certificate_is_refused(ctx: CAContext) -> None:
    empty = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .sign(KEY, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    before = len(list_certificates(ctx, limit=1000).items)

    with pytest.raises(CertificateLintFailed, match=r"san\.required"):
        sign_csr(ctx, ca_name="issuing", profile="client", csr_data=empty)

    assert len(list_certificates(ctx, limit=1000).items) == before


def test_the_api_answers_422_ca_lint_failed(service: Service) -> None:
    empty = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .sign(KEY, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )
    with service.client() as api:
        response = api.post(
            "/v1/certificates/sign", json={"ca": "issuing", "profile": "client", "csr_pem": empty}
        )

    error = assert_error(response, 422, "ca.lint_failed")
    assert "RFC 5280" in error["message"]


# -- profiles at configuration time -----------------------------------------------------


# The CA profile is linted on every CA certificate made (create_ca), not here.
@pytest.mark.parametrize("name", sorted(n for n, p in BUILTIN_PROFILES.items() if not p.is_ca))
def test_every_built_in_leaf_profile_passes_the_check(name: str) -> None:
    check_profile(BUILTIN_PROFILES[name])


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"crl_distribution_urls": ["pki.example.com/issuing.crl"]}, "not a usable URL"),
        ({"issuing_certificate_urls": ["http://pki.example.com/ca crt"]}, "not a usable URL"),
        ({"crl_distribution_urls": ["http://pk\u0131.example.com/x.crl"]}, "not a usable URL"),
        ({"extra_ekus": ["2.5.29.37.0"]}, "anyExtendedKeyUsage"),
    ],
)
def test_a_profile_that_would_make_bad_certificates_is_refused_at_load(
    settings: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        ProfileRegistry({"bad": ProfileSettings(base="server", **settings)})  # type: ignore[arg-type]


def test_the_cli_refuses_such_a_configuration(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir(mode=0o700)
    (data / "certward.toml").write_text(
        '[profiles.web]\nbase = "server"\nextra_ekus = ["2.5.29.37.0"]\n'
    )
    certward = Path(sys.executable).parent / "certward"

    result = subprocess.run(
        [str(certward), "-d", str(data), "init"], capture_output=True, text=True, check=False
    )

    assert result.returncode != 0
    assert "anyExtendedKeyUsage" in result.stderr
    assert not (data / "certward.db").exists()


# -- an independent linter agrees ---------------------------------------------------------


def _pkilint(tool: Path, der: bytes, tmp_path: Path, *options: str) -> str:
    path = tmp_path / "document.der"
    path.write_bytes(der)
    result = subprocess.run(
        [str(tool), "lint", *options, "-s", "WARNING", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.stdout + result.stderr


# pkilint reads a SAN URI as a URL: it calls a URN (RFC 8141, valid per RFC 3986) invalid.
KNOWN_DISAGREEMENTS = ("pkix.invalid_uri_syntax",)


def test_pkilint_finds_nothing_in_certwards_certificates_and_crls(
    ctx: CAContext, tmp_path: Path
) -> None:
    documents: list[tuple[str, bytes]] = []
    for profile, ca, cn, sans, key_type in SAMPLES:
        issued = issue_certificate(
            ctx, ca_name=ca, profile=profile, common_name=cn, sans=sans, key_type=KeyType(key_type)
        )
        documents.append(
            (f"{profile}/{key_type}", issued.certificate.public_bytes(serialization.Encoding.DER))
        )
        for ca_certificate in issued.chain:
            documents.append(
                (
                    f"CA {ca_certificate.subject.rfc4514_string()}",
                    ca_certificate.public_bytes(serialization.Encoding.DER),
                )
            )
    problems: dict[str, str] = {}

    for name, der in documents:
        report = _pkilint(LINT_PKIX_CERT, der, tmp_path)
        lines = [
            line
            for line in report.splitlines()
            if "(ERROR)" in line or "(WARNING)" in line or "(FATAL)" in line
        ]
        lines = [line for line in lines if not any(known in line for known in KNOWN_DISAGREEMENTS)]
        if lines:
            problems[name] = "\n".join(lines)
    for ca in ("root", "issuing", "rsa"):
        report = _pkilint(LINT_CRL, latest_crl(ctx, ca).der, tmp_path, "-t", "CRL", "-p", "PKIX")
        if "(ERROR)" in report or "(FATAL)" in report or "(WARNING)" in report:
            problems[f"CRL {ca}"] = report

    assert problems == {}
    assert len(documents) >= 12
