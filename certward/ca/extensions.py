"""The X.509 extensions certward puts in CA and end-entity certificates.

They follow the openssl CA configuration of seed 004 (``v3_ca`` and the server /
client ``extfile``s) with RFC 5280's criticality: basicConstraints and keyUsage
critical, SKI = hash of the key, AKI = the issuer's key id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from certward.ca.profiles import Profile

__all__ = ["LeafExtensions", "NameConstraintSpec", "ca_extensions"]

_CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


def _key_usage(*, key_encipherment: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass(frozen=True)
class NameConstraintSpec:
    """Permitted and excluded subtrees for an intermediate CA (DNS names, IP networks, e-mail)."""

    permitted: tuple[x509.GeneralName, ...] = ()
    excluded: tuple[x509.GeneralName, ...] = ()


def ca_extensions(
    *,
    public_key: CertificatePublicKeyTypes,
    issuer_key_id: x509.SubjectKeyIdentifier | None,
    path_length: int | None,
    name_constraints: NameConstraintSpec | None = None,
) -> list[x509.Extension[x509.ExtensionType]]:
    """Extensions of a CA certificate; ``issuer_key_id`` None means self-signed."""
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_key_id or ski)
    extensions: list[x509.Extension[x509.ExtensionType]] = [
        x509.Extension(x509.BasicConstraints.oid, True, x509.BasicConstraints(True, path_length)),
        x509.Extension(x509.KeyUsage.oid, True, _CA_KEY_USAGE),
        x509.Extension(x509.SubjectKeyIdentifier.oid, False, ski),
        x509.Extension(x509.AuthorityKeyIdentifier.oid, False, aki),
    ]
    if name_constraints and (name_constraints.permitted or name_constraints.excluded):
        constraints = x509.NameConstraints(
            permitted_subtrees=list(name_constraints.permitted) or None,
            excluded_subtrees=list(name_constraints.excluded) or None,
        )
        extensions.append(x509.Extension(x509.NameConstraints.oid, True, constraints))
    return extensions


class LeafExtensions:
    """Pre-built extension objects for end-entity certificates of one CA and profile.

    Everything that is the same for every certificate is built once here; only
    the SKI and the SANs are made per certificate (the issuance hot path).
    """

    def __init__(self, *, profile: Profile, issuer_key_id: x509.SubjectKeyIdentifier) -> None:
        self._basic = x509.Extension(
            x509.BasicConstraints.oid, True, x509.BasicConstraints(False, None)
        )
        self._usage_rsa = x509.Extension(x509.KeyUsage.oid, True, _key_usage(key_encipherment=True))
        self._usage_other = x509.Extension(
            x509.KeyUsage.oid, True, _key_usage(key_encipherment=False)
        )
        self._aki = x509.Extension(
            x509.AuthorityKeyIdentifier.oid,
            False,
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_key_id),
        )
        self._fixed: list[x509.Extension[x509.ExtensionType]] = []
        if profile.ext_key_usages:
            self._fixed.append(
                x509.Extension(
                    x509.ExtendedKeyUsage.oid,
                    False,
                    x509.ExtendedKeyUsage(list(profile.ext_key_usages)),
                )
            )
        if profile.crl_distribution_urls:
            points = [
                x509.DistributionPoint(
                    full_name=[x509.UniformResourceIdentifier(url)],
                    relative_name=None,
                    reasons=None,
                    crl_issuer=None,
                )
                for url in profile.crl_distribution_urls
            ]
            self._fixed.append(
                x509.Extension(
                    x509.CRLDistributionPoints.oid, False, x509.CRLDistributionPoints(points)
                )
            )
        if profile.issuing_certificate_urls or profile.ocsp_urls:
            descriptions = [
                x509.AccessDescription(
                    x509.oid.AuthorityInformationAccessOID.OCSP,
                    x509.UniformResourceIdentifier(url),
                )
                for url in profile.ocsp_urls
            ] + [
                x509.AccessDescription(
                    x509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
                    x509.UniformResourceIdentifier(url),
                )
                for url in profile.issuing_certificate_urls
            ]
            self._fixed.append(
                x509.Extension(
                    x509.AuthorityInformationAccess.oid,
                    False,
                    x509.AuthorityInformationAccess(descriptions),
                )
            )

        if profile.ocsp_no_check:
            self._fixed.append(x509.Extension(x509.OCSPNoCheck.oid, False, x509.OCSPNoCheck()))

    def for_certificate(
        self,
        *,
        public_key: CertificatePublicKeyTypes,
        sans: Sequence[x509.GeneralName],
        subject_is_empty: bool,
    ) -> list[x509.Extension[x509.ExtensionType]]:
        """The full extension list of one certificate."""
        usage = self._usage_rsa if isinstance(public_key, rsa.RSAPublicKey) else self._usage_other
        extensions: list[x509.Extension[x509.ExtensionType]] = [
            self._basic,
            usage,
            *self._fixed,
            x509.Extension(
                x509.SubjectKeyIdentifier.oid,
                False,
                x509.SubjectKeyIdentifier.from_public_key(public_key),
            ),
            self._aki,
        ]
        if sans:
            # RFC 5280 4.2.1.6: the SAN extension is critical when the subject is empty.
            extensions.append(
                x509.Extension(
                    x509.SubjectAlternativeName.oid,
                    subject_is_empty,
                    x509.SubjectAlternativeName(list(sans)),
                )
            )
        return extensions
