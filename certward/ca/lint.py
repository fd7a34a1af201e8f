"""Lint before returning: RFC 5280 checks on every certificate and CRL certward signs.

The largest public CAs lint what they sign before anyone sees it; certward does
the same. Every certificate made by :class:`~certward.ca.factory.CertificateFactory`
or by CA creation, and every CRL, goes through here after signing and *before*
it is stored or returned: a finding raises :class:`CertificateLintFailed` and the
signed object is thrown away (nothing was stored, nothing was handed out).

The checks read the signed bytes, not the objects we built them from, so a
change in how cryptography encodes something is caught too:

* serial number positive, at most 20 octets (4.1.2.2); version v3 (4.1.2.1)
* inner and outer signature algorithm identical (4.1.1.2); no MD5/SHA-1 signatures
* validity: notBefore before notAfter, UTCTime through 2049 and GeneralizedTime from
  2050, ``Z`` and whole seconds (4.1.2.5)
* issuer not empty (4.1.2.4); CN at most 64 characters (ub-common-name)
* no extension twice (4.2); SKI present (4.2.1.2), AKI with a key id present (4.2.1.1)
  and matching the issuer's SKI when the issuer is known
* CA certificates: basicConstraints present, critical, cA TRUE; keyUsage present,
  critical, keyCertSign set (4.2.1.3, 4.2.1.9); name constraints critical (4.2.1.10)
* end-entity certificates: no keyCertSign/cRLSign, no pathLenConstraint, no name
  constraints; keyEncipherment only for RSA keys; EKU exactly the profile's, never
  anyExtendedKeyUsage
* empty subject: SAN present and critical (4.2.1.6); a SAN extension is never empty
* CRLs: v2, issuer not empty, thisUpdate before nextUpdate (present), time encodings,
  CRL number present and non-critical in range (5.2.3), AKI present (5.2.1), no
  duplicate extensions, and the entries' serials and dates (all of them up to
  :data:`CRL_ENTRIES_CHECKED`; beyond that the first ones — every entry was encoded
  by certward's own encoder, which enforces the same bounds, when it was revoked)

:func:`check_profile` runs the same linter on sample certificates of a profile, so a
profile that could only produce non-conforming certificates is refused when the
configuration is loaded, not when someone asks for a certificate.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from certward.crypto.der import (
    TAG_CONTEXT_0,
    TAG_GENERALIZED_TIME,
    TAG_INTEGER,
    TAG_SEQUENCE,
    TAG_UTC_TIME,
    read_tlv,
)
from certward.errors import CertificateLintFailed, ConfigError, MalformedData

__all__ = [
    "CRL_ENTRIES_CHECKED",
    "CertificateLinter",
    "LintFinding",
    "certificate_findings",
    "check_certificate",
    "check_crl",
    "check_profile",
    "crl_findings",
]

CRL_ENTRIES_CHECKED = 1000
_MAX_SERIAL_OCTETS = 20
_SERIAL_LIMIT = 2**159  # positive and at most 20 octets in DER
_WEAK_HASHES = (hashes.MD5, hashes.SHA1)
_GENERALIZED_FROM = 2050  # RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime after
_URI_SCHEMES = frozenset({"http", "https", "ldap"})
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:.")
_UNREADABLE = (
    MalformedData,
    IndexError,
    TypeError,
    ValueError,
    UnsupportedAlgorithm,
    x509.InvalidVersion,
)
Extensions = dict[x509.ObjectIdentifier, x509.Extension[x509.ExtensionType]]


@dataclass(frozen=True)
class LintFinding:
    """One rule a certificate or CRL breaks: a stable rule name and what is wrong."""

    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


# -- DER helpers ---------------------------------------------------------------------


def _children(data: bytes, offset: int) -> Iterator[tuple[int, int, int, int]]:
    """(tag, offset, header_len, content_len) of each element inside the one at ``offset``."""
    _, header, length = read_tlv(data, offset)
    position, end = offset + header, offset + header + length
    while position < end:
        tag, child_header, child_length = read_tlv(data, position)
        yield tag, position, child_header, child_length
        position += child_header + child_length


def _time_findings(data: bytes, offset: int, what: str) -> list[LintFinding]:
    tag, header, length = read_tlv(data, offset)
    text = data[offset + header : offset + header + length]
    if tag == TAG_UTC_TIME:
        width, century = 13, None
    elif tag == TAG_GENERALIZED_TIME:
        width, century = 15, text[:4]
    else:
        return [LintFinding("time.encoding", f"{what} is neither UTCTime nor GeneralizedTime")]
    if len(text) != width or not text[:-1].isdigit() or not text.endswith(b"Z"):
        return [LintFinding("time.encoding", f"{what} is not YY(YY)MMDDHHMMSSZ: {text!r}")]
    year = int(century) if century is not None else int(text[:2])
    if century is None:
        year += 1900 if year >= 50 else 2000
    if (year >= _GENERALIZED_FROM) != (tag == TAG_GENERALIZED_TIME):
        return [
            LintFinding(
                "time.encoding",
                f"{what} in {year} must be {'Generalized' if year >= 2050 else 'UTC'}Time",
            )
        ]
    return []


def _serial_findings(data: bytes, offset: int, what: str) -> list[LintFinding]:
    tag, header, length = read_tlv(data, offset)
    if tag != TAG_INTEGER or length == 0:
        return [LintFinding("serial.encoding", f"{what} is not an INTEGER")]
    content = data[offset + header : offset + header + length]
    findings = []
    if content[0] & 0x80 or not any(content):
        findings.append(LintFinding("serial.positive", f"{what} must be positive"))
    if length > _MAX_SERIAL_OCTETS:
        findings.append(LintFinding("serial.length", f"{what} is {length} octets, more than 20"))
    return findings


# -- certificates -------------------------------------------------------------------


def _der_findings(der: bytes) -> list[LintFinding]:
    """What only the encoding shows: serial, validity times, the two signature algorithms."""
    parts = list(_children(der, 0))
    if len(parts) != 3:
        return [LintFinding("certificate.structure", "not tbsCertificate, algorithm, signature")]
    _, tbs_at, _, _ = parts[0]
    _, outer_at, outer_header, outer_len = parts[1]
    fields = list(_children(der, tbs_at))
    if fields and fields[0][0] == TAG_CONTEXT_0:
        fields = fields[1:]  # [0] EXPLICIT version
    if len(fields) < 6:
        return [LintFinding("certificate.structure", "tbsCertificate is missing fields")]
    findings = _serial_findings(der, fields[0][1], "the serial number")
    _, inner_at, inner_header, inner_len = fields[1]
    if (
        der[inner_at : inner_at + inner_header + inner_len]
        != der[outer_at : outer_at + outer_header + outer_len]
    ):
        findings.append(
            LintFinding("signature.algorithm_mismatch", "tbs and outer signature algorithms differ")
        )
    validity = list(_children(der, fields[3][1]))
    if len(validity) != 2 or fields[3][0] != TAG_SEQUENCE:
        findings.append(LintFinding("validity.structure", "validity is not two times"))
    else:
        findings += _time_findings(der, validity[0][1], "notBefore")
        findings += _time_findings(der, validity[1][1], "notAfter")
    return findings


def _name_findings(name: x509.Name, what: str) -> list[LintFinding]:
    findings = []
    for attribute in name.get_attributes_for_oid(NameOID.COMMON_NAME):
        value = attribute.value
        if isinstance(value, str) and not 1 <= len(value) <= 64:
            findings.append(
                LintFinding(
                    "name.cn_length", f"the {what} CN has {len(value)} characters, not 1-64"
                )
            )
    return findings


def _extension_map(
    certificate: x509.Certificate,
) -> tuple[Extensions, list[LintFinding]]:
    try:
        extensions = certificate.extensions
    except x509.DuplicateExtension as exc:
        return {}, [LintFinding("extensions.duplicate", f"extension {exc.oid.dotted_string} twice")]
    except ValueError as exc:
        return {}, [LintFinding("extensions.malformed", f"an extension does not parse: {exc}")]
    return {extension.oid: extension for extension in extensions}, []


def _uri_findings(uris: list[str], what: str) -> list[LintFinding]:
    """CRL/AIA locations: absolute http(s)/ldap URLs in ASCII (an IA5String)."""
    findings = []
    for uri in uris:
        parts = urlsplit(uri)
        if parts.scheme not in _URI_SCHEMES or not parts.netloc or not uri.isascii() or " " in uri:
            findings.append(LintFinding("uri.invalid", f"{what} URI {uri!r} is not a usable URL"))
    return findings


def _san_uri_findings(uris: list[str]) -> list[LintFinding]:
    """SAN URIs (4.2.1.6): absolute (a scheme), ASCII, no spaces; a URN is fine."""
    return [
        LintFinding("san.uri", f"SAN URI {uri!r} is not an absolute URI")
        for uri in uris
        if not _SCHEME.match(uri) or not uri.isascii() or any(c.isspace() for c in uri)
    ]


def _key_usage_findings(
    usage: x509.Extension[x509.ExtensionType] | None,
    *,
    is_ca: bool,
    public_key: object,
) -> list[LintFinding]:
    if usage is None:
        return (
            [LintFinding("key_usage.missing", "a CA certificate needs keyUsage")] if is_ca else []
        )
    value = usage.value
    assert isinstance(value, x509.KeyUsage)
    findings = []
    if not usage.critical:
        findings.append(LintFinding("key_usage.not_critical", "keyUsage must be critical"))
    if is_ca and not value.key_cert_sign:
        findings.append(LintFinding("key_usage.ca_cert_sign", "a CA needs keyCertSign"))
    if not is_ca and (value.key_cert_sign or value.crl_sign):
        findings.append(
            LintFinding(
                "key_usage.end_entity_cert_sign", "an end entity must not sign certificates"
            )
        )
    if value.key_encipherment and not isinstance(public_key, rsa.RSAPublicKey):
        findings.append(
            LintFinding("key_usage.key_type", "keyEncipherment is meaningless for a non-RSA key")
        )
    if value.key_agreement and isinstance(public_key, rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        findings.append(LintFinding("key_usage.key_type", "keyAgreement needs an (EC)DH key"))
    return findings


def _ca_findings(
    extensions: Extensions, is_ca: bool | None, public_key: object
) -> list[LintFinding]:
    basic = extensions.get(ExtensionOID.BASIC_CONSTRAINTS)
    constraints = basic.value if basic is not None else None
    assert constraints is None or isinstance(constraints, x509.BasicConstraints)
    claims_ca = constraints is not None and constraints.ca
    ca = claims_ca if is_ca is None else is_ca
    findings = []
    if ca != claims_ca:
        findings.append(LintFinding("basic_constraints.ca", f"cA must be {ca} here"))
    if ca and (basic is None or not basic.critical):
        findings.append(
            LintFinding("basic_constraints.critical", "a CA's basicConstraints must be critical")
        )
    if constraints is not None and constraints.path_length is not None and not ca:
        findings.append(LintFinding("basic_constraints.path_len", "pathLen only on CAs"))
    findings += _key_usage_findings(
        extensions.get(ExtensionOID.KEY_USAGE), is_ca=ca, public_key=public_key
    )
    constraints_ext = extensions.get(ExtensionOID.NAME_CONSTRAINTS)
    if constraints_ext is not None and (not ca or not constraints_ext.critical):
        findings.append(LintFinding("name_constraints", "name constraints: critical, CAs only"))
    return findings


def _identifier_findings(extensions: Extensions, issuer_key_id: bytes | None) -> list[LintFinding]:
    findings = []
    if ExtensionOID.SUBJECT_KEY_IDENTIFIER not in extensions:
        findings.append(LintFinding("ski.missing", "subjectKeyIdentifier is missing"))
    aki = extensions.get(ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    aki_value = aki.value if aki is not None else None
    assert aki_value is None or isinstance(aki_value, x509.AuthorityKeyIdentifier)
    if aki is None or aki_value is None or aki_value.key_identifier is None:
        findings.append(LintFinding("aki.missing", "authorityKeyIdentifier keyid is missing"))
    elif aki.critical:
        findings.append(LintFinding("aki.critical", "authorityKeyIdentifier must not be critical"))
    elif issuer_key_id is not None and aki_value.key_identifier != issuer_key_id:
        findings.append(LintFinding("aki.mismatch", "the AKI is not the issuer's key id"))
    return findings


def _san_findings(extensions: Extensions, subject: x509.Name) -> list[LintFinding]:
    findings = []
    san = extensions.get(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    if san is not None:
        names = san.value
        assert isinstance(names, x509.SubjectAlternativeName)
        if len(names) == 0:
            findings.append(LintFinding("san.empty", "the SAN extension lists no name"))
        findings += _san_uri_findings(names.get_values_for_type(x509.UniformResourceIdentifier))
    if len(subject) == 0:
        if san is None:
            findings.append(LintFinding("san.required", "an empty subject needs a SAN extension"))
        elif not san.critical:
            findings.append(
                LintFinding("san.critical", "the SAN must be critical when the subject is empty")
            )
    return findings


def _usage_findings(
    extensions: Extensions, expected_ekus: tuple[x509.ObjectIdentifier, ...] | None
) -> list[LintFinding]:
    findings = []
    eku = extensions.get(ExtensionOID.EXTENDED_KEY_USAGE)
    usages: tuple[x509.ObjectIdentifier, ...] = ()
    if eku is not None:
        assert isinstance(eku.value, x509.ExtendedKeyUsage)
        usages = tuple(eku.value)
    if ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usages:
        findings.append(LintFinding("eku.any", "anyExtendedKeyUsage is never issued"))
    if expected_ekus is not None and usages != expected_ekus:
        findings.append(
            LintFinding(
                "eku.profile",
                f"EKUs {[u.dotted_string for u in usages]} are not the profile's "
                f"{[u.dotted_string for u in expected_ekus]}",
            )
        )
    points = extensions.get(ExtensionOID.CRL_DISTRIBUTION_POINTS)
    if points is not None:
        assert isinstance(points.value, x509.CRLDistributionPoints)
        uris = [
            name.value
            for point in points.value
            for name in point.full_name or ()
            if isinstance(name, x509.UniformResourceIdentifier)
        ]
        findings += _uri_findings(uris, "CRL distribution point")
    access = extensions.get(ExtensionOID.AUTHORITY_INFORMATION_ACCESS)
    if access is not None:
        assert isinstance(access.value, x509.AuthorityInformationAccess)
        uris = [
            item.access_location.value
            for item in access.value
            if isinstance(item.access_location, x509.UniformResourceIdentifier)
        ]
        findings += _uri_findings(uris, "AIA")
    return findings


def certificate_findings(
    certificate: x509.Certificate,
    *,
    der: bytes | None = None,
    is_ca: bool | None = None,
    expected_ekus: tuple[x509.ObjectIdentifier, ...] | None = None,
    issuer_key_id: bytes | None = None,
    issuer_subject: x509.Name | None = None,
) -> list[LintFinding]:
    """Every RFC 5280 rule ``certificate`` breaks (empty: it conforms).

    ``is_ca``: what it is meant to be (None: as its basicConstraints say);
    ``expected_ekus``: its profile's EKUs, in order (None: not checked);
    ``issuer_key_id``/``issuer_subject``: the issuer's SKI and name, when known.
    """
    try:
        return _certificate_findings(
            certificate,
            der=der,
            is_ca=is_ca,
            expected_ekus=expected_ekus,
            issuer_key_id=issuer_key_id,
            issuer_subject=issuer_subject,
        )
    except _UNREADABLE as exc:  # a field that does not parse: not a conforming certificate
        return [LintFinding("certificate.structure", f"{type(exc).__name__}: {exc}")]


def _certificate_findings(
    certificate: x509.Certificate,
    *,
    der: bytes | None,
    is_ca: bool | None,
    expected_ekus: tuple[x509.ObjectIdentifier, ...] | None,
    issuer_key_id: bytes | None,
    issuer_subject: x509.Name | None,
) -> list[LintFinding]:
    der = der if der is not None else certificate.public_bytes(serialization.Encoding.DER)
    try:
        findings = _der_findings(der)
    except MalformedData as exc:
        return [LintFinding("certificate.structure", exc.message)]
    if certificate.version is not x509.Version.v3:
        findings.append(LintFinding("version.v3", "certificates with extensions must be v3"))
    if certificate.not_valid_before_utc >= certificate.not_valid_after_utc:
        findings.append(LintFinding("validity.order", "notBefore is not before notAfter"))
    try:
        hash_algorithm = certificate.signature_hash_algorithm
        public_key = certificate.public_key()
    except (UnsupportedAlgorithm, ValueError) as exc:
        return [*findings, LintFinding("algorithm.unsupported", str(exc))]
    if isinstance(hash_algorithm, _WEAK_HASHES):
        findings.append(LintFinding("signature.weak_hash", "MD5/SHA-1 signatures are not made"))
    if len(certificate.issuer) == 0:
        findings.append(LintFinding("issuer.empty", "the issuer name must not be empty"))
    if issuer_subject is not None and certificate.issuer != issuer_subject:
        findings.append(LintFinding("issuer.mismatch", "the issuer is not the signing CA's name"))
    findings += _name_findings(certificate.subject, "subject")
    extensions, problems = _extension_map(certificate)
    if problems:
        return findings + problems
    findings += _ca_findings(extensions, is_ca, public_key)
    findings += _identifier_findings(extensions, issuer_key_id)
    findings += _san_findings(extensions, certificate.subject)
    findings += _usage_findings(extensions, expected_ekus)
    return findings


def check_certificate(
    certificate: x509.Certificate,
    *,
    is_ca: bool | None = None,
    expected_ekus: tuple[x509.ObjectIdentifier, ...] | None = None,
    issuer_key_id: bytes | None = None,
    issuer_subject: x509.Name | None = None,
) -> None:
    """CertificateLintFailed naming every finding unless ``certificate`` conforms."""
    CertificateLinter(
        is_ca=is_ca,
        expected_ekus=expected_ekus,
        issuer_key_id=issuer_key_id,
        issuer_subject=issuer_subject,
    ).check(certificate)


class CertificateLinter:
    """The checks of one CA and profile, set up once (the issuance hot path calls it).

    Parsing a certificate back costs a fifth of signing it, so the full lint runs on
    the first certificate of each *shape* (key algorithm, empty subject or not, SANs
    or not: the only things that change which extensions are made and how) and on
    every :attr:`FULL_EVERY`-th one after that; every certificate gets the checks of
    what varies between certificates of one shape (serial, validity, subject, SANs).
    The extensions that do not vary are the same objects, encoded the same way, as in
    a certificate that passed the full lint.
    """

    FULL_EVERY = 64

    def __init__(
        self,
        *,
        is_ca: bool | None,
        expected_ekus: tuple[x509.ObjectIdentifier, ...] | None,
        issuer_key_id: bytes | None,
        issuer_subject: x509.Name | None,
    ) -> None:
        self._is_ca = is_ca
        self._ekus = expected_ekus
        self._key_id = issuer_key_id
        self._subject = issuer_subject
        self._seen: dict[tuple[str, bool, bool], int] = {}

    def check(self, certificate: x509.Certificate, der: bytes | None = None) -> None:
        """CertificateLintFailed unless ``certificate`` conforms (the full lint)."""
        findings = certificate_findings(
            certificate,
            der=der,
            is_ca=self._is_ca,
            expected_ekus=self._ekus,
            issuer_key_id=self._key_id,
            issuer_subject=self._subject,
        )
        _raise_for(findings)

    def check_issued(
        self,
        certificate: x509.Certificate,
        der: bytes,
        *,
        public_key: object,
        subject: x509.Name,
        sans: Sequence[x509.GeneralName],
        serial: int,
        not_before: dt.datetime,
        not_after: dt.datetime,
    ) -> None:
        """The hot-path lint of one issued certificate (see the class docstring)."""
        shape = (type(public_key).__name__, len(subject) == 0, bool(sans))
        count = self._seen.get(shape, 0)
        self._seen[shape] = count + 1
        if count % self.FULL_EVERY == 0:
            self.check(certificate, der)
            return
        findings = []
        if not 0 < serial < _SERIAL_LIMIT:
            findings.append(LintFinding("serial.range", "the serial must be 1 to 2^159-1"))
        if not not_before < not_after or not_before.year < 1950 or not_after.year > 9999:
            findings.append(LintFinding("validity.order", "notBefore is not before notAfter"))
        findings += _name_findings(subject, "subject")
        if len(subject) == 0 and not sans:
            findings.append(LintFinding("san.required", "an empty subject needs a SAN extension"))
        uris = [san.value for san in sans if isinstance(san, x509.UniformResourceIdentifier)]
        if uris:
            findings += _san_uri_findings(uris)
        _raise_for(findings)


def _raise_for(findings: list[LintFinding]) -> None:
    if findings:
        raise CertificateLintFailed(
            "the certificate would not conform to RFC 5280 and was not issued: "
            + "; ".join(str(finding) for finding in findings)
        )


# -- CRLs ---------------------------------------------------------------------------


def _crl_der_findings(der: bytes, *, entries: int) -> list[LintFinding]:
    parts = list(_children(der, 0))
    if len(parts) != 3:
        return [LintFinding("crl.structure", "not tbsCertList, algorithm, signature")]
    fields = list(_children(der, parts[0][1]))
    if not fields or fields[0][0] != TAG_INTEGER:
        return [LintFinding("crl.version", "a CRL with extensions must be v2")]
    findings = []
    _, inner_at, inner_header, inner_len = fields[1]
    _, outer_at, outer_header, outer_len = parts[1]
    if (
        der[inner_at : inner_at + inner_header + inner_len]
        != der[outer_at : outer_at + outer_header + outer_len]
    ):
        findings.append(LintFinding("signature.algorithm_mismatch", "inner and outer differ"))
    findings += _time_findings(der, fields[3][1], "thisUpdate")
    if len(fields) < 5 or fields[4][0] not in (TAG_UTC_TIME, TAG_GENERALIZED_TIME):
        findings.append(LintFinding("crl.next_update", "nextUpdate is missing"))
        return findings
    findings += _time_findings(der, fields[4][1], "nextUpdate")
    if len(fields) > 5 and fields[5][0] == TAG_SEQUENCE:
        for index, (_, entry_at, _, _) in enumerate(_children(der, fields[5][1])):
            if index >= entries:
                break
            entry = list(_children(der, entry_at))
            findings += _serial_findings(der, entry[0][1], f"entry {index}'s serial")
            findings += _time_findings(der, entry[1][1], f"entry {index}'s revocationDate")
            if findings:
                break
    return findings


def crl_findings(
    der: bytes,
    *,
    issuer_subject: x509.Name | None = None,
    issuer_key_id: bytes | None = None,
    entries: int = CRL_ENTRIES_CHECKED,
) -> list[LintFinding]:
    """Every RFC 5280 rule the DER CRL ``der`` breaks (its first ``entries`` entries)."""
    try:
        return _crl_findings(
            der, issuer_subject=issuer_subject, issuer_key_id=issuer_key_id, entries=entries
        )
    except _UNREADABLE as exc:  # a field that does not parse: not a conforming CRL
        return [LintFinding("crl.structure", f"{type(exc).__name__}: {exc}")]


def _crl_findings(
    der: bytes,
    *,
    issuer_subject: x509.Name | None,
    issuer_key_id: bytes | None,
    entries: int,
) -> list[LintFinding]:
    try:
        findings = _crl_der_findings(der, entries=entries)
        crl = x509.load_der_x509_crl(der)
    except (MalformedData, ValueError) as exc:
        return [LintFinding("crl.structure", str(exc))]
    if len(crl.issuer) == 0:
        findings.append(LintFinding("issuer.empty", "the CRL issuer must not be empty"))
    if issuer_subject is not None and crl.issuer != issuer_subject:
        findings.append(LintFinding("issuer.mismatch", "the CRL issuer is not the CA's name"))
    next_update = crl.next_update_utc
    if next_update is not None and next_update <= crl.last_update_utc:
        findings.append(LintFinding("crl.update_order", "nextUpdate is not after thisUpdate"))
    try:
        hash_algorithm = crl.signature_hash_algorithm
    except (UnsupportedAlgorithm, ValueError) as exc:
        return [*findings, LintFinding("algorithm.unsupported", str(exc))]
    if isinstance(hash_algorithm, _WEAK_HASHES):
        findings.append(LintFinding("signature.weak_hash", "MD5/SHA-1 signatures are not made"))
    try:
        extensions = {extension.oid: extension for extension in crl.extensions}
    except x509.DuplicateExtension as exc:
        return [*findings, LintFinding("extensions.duplicate", f"{exc.oid.dotted_string} twice")]
    except ValueError as exc:
        return [*findings, LintFinding("extensions.malformed", str(exc))]
    number = extensions.get(ExtensionOID.CRL_NUMBER)
    if number is None:
        findings.append(LintFinding("crl.number", "cRLNumber is missing"))
    else:
        value = number.value
        assert isinstance(value, x509.CRLNumber)
        if number.critical or not 0 <= value.crl_number < 2**159:
            findings.append(LintFinding("crl.number", "cRLNumber: non-critical, 0 to 2^159-1"))
    aki = extensions.get(ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    aki_value = aki.value if aki is not None else None
    if not isinstance(aki_value, x509.AuthorityKeyIdentifier) or aki_value.key_identifier is None:
        findings.append(LintFinding("aki.missing", "the CRL needs an authorityKeyIdentifier"))
    elif issuer_key_id is not None and aki_value.key_identifier != issuer_key_id:
        findings.append(LintFinding("aki.mismatch", "the CRL's AKI is not the CA's key id"))
    return findings


def check_crl(
    der: bytes, *, issuer_subject: x509.Name | None = None, issuer_key_id: bytes | None = None
) -> None:
    """CertificateLintFailed naming every finding unless the CRL conforms."""
    findings = crl_findings(der, issuer_subject=issuer_subject, issuer_key_id=issuer_key_id)
    if findings:
        raise CertificateLintFailed(
            "the CRL would not conform to RFC 5280 and was not issued: "
            + "; ".join(str(finding) for finding in findings)
        )


# -- profiles at configuration time ---------------------------------------------------


def _sample_keys() -> list[ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey]:
    # Cheap keys only (this runs whenever a configuration is loaded); RSA takes the same
    # extension code path, with keyEncipherment, which the rules above check by key type.
    return [ec.generate_private_key(ec.SECP256R1()), ed25519.Ed25519PrivateKey.generate()]


def check_profile(profile: object) -> None:
    """ConfigError unless sample certificates of ``profile`` pass the linter.

    A profile whose extensions could never conform (a CRL URL that is not a URL,
    anyExtendedKeyUsage, an EKU twice) is refused when the configuration loads.
    """
    from certward.ca.extensions import LeafExtensions
    from certward.ca.profiles import Profile

    assert isinstance(profile, Profile)
    ekus = profile.ext_key_usages
    if len(set(ekus)) != len(ekus):
        raise ConfigError(f"profile {profile.name!r}: an extended key usage is listed twice")
    if ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in ekus:
        raise ConfigError(
            f"profile {profile.name!r}: anyExtendedKeyUsage (2.5.29.37.0) would let a leaf "
            "be used for anything; list the usages instead"
        )
    uri_problems = _uri_findings(
        [*profile.crl_distribution_urls, *profile.issuing_certificate_urls, *profile.ocsp_urls],
        "profile",
    )
    if uri_problems:
        raise ConfigError(f"profile {profile.name!r}: {uri_problems[0].message}")
    issuer_key = ec.generate_private_key(ec.SECP256R1())
    issuer_id = x509.SubjectKeyIdentifier.from_public_key(issuer_key.public_key())
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "certward profile check")])
    builder = LeafExtensions(profile=profile, issuer_key_id=issuer_id)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "profile-check.example")])
    sans = [x509.DNSName("profile-check.example")]
    for key in _sample_keys():
        public_key = key.public_key()
        try:
            certificate = x509.CertificateBuilder(
                issuer_name=issuer,
                subject_name=subject,
                public_key=public_key,
                serial_number=x509.random_serial_number(),
                not_valid_before=now,
                not_valid_after=now + dt.timedelta(days=profile.max_days),
                extensions=builder.for_certificate(
                    public_key=public_key, sans=sans, subject_is_empty=False
                ),
            ).sign(issuer_key, hashes.SHA256())
        except ValueError as exc:  # cryptography refused to encode something
            raise ConfigError(f"profile {profile.name!r}: {exc}") from None
        findings = certificate_findings(
            certificate,
            is_ca=False,
            expected_ekus=ekus or None,
            issuer_key_id=issuer_id.digest,
            issuer_subject=issuer,
        )
        if findings:
            raise ConfigError(
                f"profile {profile.name!r} would make non-conforming certificates: "
                + "; ".join(str(finding) for finding in findings)
            )
