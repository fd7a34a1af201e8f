"""The KDS facts certificates carry, read the way Limax reads them.

- A client certificate names its KDS (``KDSName``) as a SAN ``dNSName`` and its groups
  as SAN URIs, each with an optional precision fragment (``urn:prjA#10s``).
- A server certificate names its KDS as the subject common name.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import NameOID

from certward.errors import InvalidSubject, SubjectAltNameWithoutDNSName, SubjectAltNameWithoutURI
from certward.kds.ident import group_of

__all__ = [
    "group_uris_of_client",
    "groups_of_client",
    "kds_name_of_client",
    "kds_name_of_server",
]


def _subject_alt_names(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


def kds_name_of_client(cert: x509.Certificate) -> str:
    """The KDSName of a client certificate: its SAN DNS name (the last one, as Limax)."""
    san = _subject_alt_names(cert)
    names = san.get_values_for_type(x509.DNSName) if san is not None else []
    if not names:
        raise SubjectAltNameWithoutDNSName(
            "the client certificate has no SAN DNS name (the KDSName)"
        )
    return names[-1]


def group_uris_of_client(cert: x509.Certificate) -> tuple[str, ...]:
    """Every SAN URI of a client certificate, fragments (precisions) included, in order."""
    san = _subject_alt_names(cert)
    uris = san.get_values_for_type(x509.UniformResourceIdentifier) if san is not None else []
    if not uris:
        raise SubjectAltNameWithoutURI("the client certificate has no SAN URI (no KDS group)")
    return tuple(uris)


def groups_of_client(cert: x509.Certificate) -> frozenset[str]:
    """The groups of a client certificate: its SAN URIs without fragments."""
    return frozenset(group_of(uri) for uri in group_uris_of_client(cert))


def kds_name_of_server(cert: x509.Certificate) -> str:
    """The KDSName of a server certificate: the first subject common name (as Limax)."""
    values = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not values:
        raise InvalidSubject("the KDS server certificate has no subject CN (the KDSName)")
    value = values[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")
