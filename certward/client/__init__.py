"""certward.client: the Python SDK of a certward server (sync and async, over httpx).

::

    from certward.client import Client

    with Client("https://127.0.0.1:8443", cert="admin/admin.crt",
                key="admin/admin.key", ca="admin/ca.crt") as client:
        issued = client.issue_certificate(ca="issuing", profile="server",
                                          common_name="web", sans=["DNS:web"])
        print(issued.serial, issued.request_id)

One method per API operation. ``AsyncClient`` has the same methods as coroutines.

``KmsClient`` (a ``Client``) adds the key management service and reads an
application access point's files (see :mod:`certward.client.kms`).

**Certificate slots** (the files of a service's certificate, key or trusted CAs)::

    client.add_slot("server/web", directory="/etc/web/tls",
                    reload_command=["nginx", "-s", "reload"])
    job = client.request_slot_csr("server/web", common_name="web", organization="Ex",
                                  organizational_unit="IT", city="Lyon", state="ARA",
                                  country="FR", sign_with="issuing")
    done = client.wait_for_csr_job(job.id, timeout=60)     # signed and installed
    installed = client.slot_certificates("server/web")[0]   # a SlotCertificate

Slots: ``list_slots``, ``get_slot``, ``add_slot``, ``remove_slot``; their certificates:
``slot_certificates``, ``get_slot_certificate``, ``install_slot_certificate``,
``replace_slot_certificate``, ``delete_slot_certificate``; CRLs: ``slot_crls``,
``install_slot_crl``; CSR jobs: ``request_slot_csr``, ``get_csr_job``,
``wait_for_csr_job``. A slot is named ``kind/label`` (``server/https``).

**Results carry the request id.** Every method returns a frozen dataclass with a
``request_id`` field: the ``X-Request-ID`` of the exchange, which the server logs
and stores in its audit events. Where certward already has a value for the
answer, the result *is* that value plus ``request_id``: ``RemoteCAInfo`` is a
:class:`~certward.ca.authority.CAInfo`, ``RemoteIssuedCertificate`` an
:class:`~certward.ca.factory.IssuedCertificate` (with ``private_key`` parsed), and
so on, so code written for local values takes remote ones unchanged. Lists come
as a :class:`Listing` (``.items`` and ``.request_id``), cryptography objects in a
small holder (``CACertificate.certificate``, ``RevocationList.crl``).

**Errors are certward's own.** A server error is raised as the
:mod:`certward.errors` class registered for its ``code`` (``CANotFound``,
``AccessDenied``, ...), with ``request_id`` and ``http_status`` set::

    CertwardError
    ├── (any class of certward.errors)  the server's error, by its code; an unknown
    │                                   code falls back to the family of its HTTP status
    ├── Unauthenticated                 also: the server refused the client certificate
    │                                   in the TLS handshake (revoked, unknown CA, ...)
    ├── ServiceUnavailable              the server cannot be reached (after the retries
    │                                   of a GET; a POST is never sent twice, and one cut
    │                                   off after sending says its outcome is unknown),
    │                                   or its certificate is not trusted by ``ca``
    └── InvalidInput / MalformedData    bad arguments, unreadable files, or an answer
                                        this client cannot read
"""

from certward.client._async_client import AsyncClient
from certward.client._base import DEFAULT_RETRIES, DEFAULT_TIMEOUT
from certward.client._client import Client
from certward.client._kms_access import AccessPointFiles, read_client_key_file
from certward.client._kms_batch import DecryptItem, EncryptItem, SignItem, VerifyItem
from certward.client._kms_import import wrap_key_material
from certward.client._kms_results import (
    AccessPointCredentials,
    BatchOutcome,
    BatchResult,
    RandomBytes,
    RemoteAlias,
    RemoteDataKey,
    RemoteDecrypted,
    RemoteEncrypted,
    RemoteImportParameters,
    RemoteKeyInfo,
    RemoteKeyPage,
    RemoteMac,
    RemoteMacCheck,
    RemotePublicKey,
    RemoteReEncrypted,
    RemoteSignature,
    RemoteVerification,
)
from certward.client._results import (
    CACertificate,
    CAChain,
    Identity,
    Listing,
    PrincipalCredentials,
    PrincipalInfo,
    PublishedCRLInfo,
    RemoteAuditPage,
    RemoteCAInfo,
    RemoteCertificatePage,
    RemoteCertificateSummary,
    RemoteIssuedCertificate,
    RemotePrincipalInfo,
    RemoteRevokedCertificate,
    RevocationList,
)
from certward.client._slot_results import (
    RemoteCSRJob,
    RemoteSlot,
    RemoteSlotCertificate,
    RemoteSlotCRL,
    RemoteSlotDeletion,
    RemoteSlotRemoval,
)
from certward.client.kms import KmsClient

__all__ = [
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "AccessPointCredentials",
    "AccessPointFiles",
    "AsyncClient",
    "BatchOutcome",
    "BatchResult",
    "CACertificate",
    "CAChain",
    "Client",
    "DecryptItem",
    "EncryptItem",
    "Identity",
    "KmsClient",
    "Listing",
    "PrincipalCredentials",
    "PrincipalInfo",
    "PublishedCRLInfo",
    "RandomBytes",
    "RemoteAlias",
    "RemoteAuditPage",
    "RemoteCAInfo",
    "RemoteCSRJob",
    "RemoteCertificatePage",
    "RemoteCertificateSummary",
    "RemoteDataKey",
    "RemoteDecrypted",
    "RemoteEncrypted",
    "RemoteImportParameters",
    "RemoteIssuedCertificate",
    "RemoteKeyInfo",
    "RemoteKeyPage",
    "RemoteMac",
    "RemoteMacCheck",
    "RemotePrincipalInfo",
    "RemotePublicKey",
    "RemoteReEncrypted",
    "RemoteRevokedCertificate",
    "RemoteSignature",
    "RemoteSlot",
    "RemoteSlotCRL",
    "RemoteSlotCertificate",
    "RemoteSlotDeletion",
    "RemoteSlotRemoval",
    "RemoteVerification",
    "RevocationList",
    "SignItem",
    "VerifyItem",
    "read_client_key_file",
    "wrap_key_material",
]
