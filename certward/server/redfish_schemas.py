"""Redfish shapes of the certificate manager: URIs, resources, messages and error bodies.

Only what the CertificateService subset needs (DMTF DSP0266 and the
Certificate, CertificateCollection, CertificateService, CertificateLocations
schemas; messages from the Base registry). Everything here is pure: values in,
JSON-ready dicts out. The routes are in ``server/routes/redfish.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from certward.certs.certificates import SlotCertificate
from certward.certs.csr import REDFISH_FIELDS
from certward.errors import (
    AccessDenied,
    CertwardError,
    InvalidCSRRequest,
    NotFound,
    Unauthenticated,
)

__all__ = [
    "BASE_REGISTRY",
    "CERTIFICATE_SERVICE",
    "GENERATE_CSR",
    "REPLACE_CERTIFICATE",
    "SLOT_COLLECTIONS",
    "RedfishMessage",
    "certificate_resource",
    "certificate_service",
    "certificate_uri",
    "collection_resource",
    "collection_uri",
    "error_body",
    "error_body_for",
    "locations_resource",
    "message",
    "service_root",
    "slot_and_id_of_certificate",
    "slot_of_collection",
]

ROOT = "/redfish/v1"
CERTIFICATE_SERVICE = f"{ROOT}/CertificateService"
GENERATE_CSR = f"{CERTIFICATE_SERVICE}/Actions/CertificateService.GenerateCSR"
REPLACE_CERTIFICATE = f"{CERTIFICATE_SERVICE}/Actions/CertificateService.ReplaceCertificate"
LOCATIONS = f"{CERTIFICATE_SERVICE}/CertificateLocations"
BASE_REGISTRY = "Base.1.13.0"

# Slot ↔ collection, as OpenBMC's bmcweb lays them out (reference table).
SLOT_COLLECTIONS: Mapping[str, str] = {
    "server/https": f"{ROOT}/Managers/bmc/NetworkProtocol/HTTPS/Certificates",
    "client/ldap": f"{ROOT}/AccountService/LDAP/Certificates",
    "authority/truststore": f"{ROOT}/Managers/bmc/Truststore/Certificates",
}
_COLLECTION_NAMES = {
    "server/https": "HTTPS",
    "client/ldap": "LDAP",
    "authority/truststore": "TrustStore",
}
_CSR_NAMES = {snake: redfish for redfish, snake in REDFISH_FIELDS.items()}
_CSR_NAMES.update(
    {
        "organizational_unit": "OrganizationalUnit",
        "surname": "Surname",
        "slot": "CertificateCollection",
    }
)


def collection_uri(slot: str) -> str:
    """The Redfish collection of ``slot`` (only the three OpenBMC slots have one)."""
    return SLOT_COLLECTIONS[slot]


def certificate_uri(slot: str, cert_id: str) -> str:
    return f"{collection_uri(slot)}/{cert_id}"


def _path_of(uri: str) -> str:
    # Clients send absolute paths, sometimes full URLs or a trailing slash.
    if "://" in uri:
        uri = "/" + uri.split("://", 1)[1].split("/", 1)[-1]
    return uri.rstrip("/")


def slot_of_collection(uri: str) -> str | None:
    """The slot whose collection ``uri`` is, or None."""
    path = _path_of(uri)
    return next((slot for slot, known in SLOT_COLLECTIONS.items() if known == path), None)


def slot_and_id_of_certificate(uri: str) -> tuple[str, str] | None:
    """``(slot, certificate id)`` of a certificate ``uri``, or None."""
    collection, _, cert_id = _path_of(uri).rpartition("/")
    slot = slot_of_collection(collection)
    if slot is None or not cert_id:
        return None
    return slot, cert_id


# -- resources -------------------------------------------------------------------------------


def service_root() -> dict[str, Any]:
    return {
        "@odata.id": ROOT,
        "@odata.type": "#ServiceRoot.v1_5_0.ServiceRoot",
        "Id": "RootService",
        "Name": "certward Redfish Service",
        "RedfishVersion": "1.11.0",
        "CertificateService": {"@odata.id": CERTIFICATE_SERVICE},
    }


def certificate_service() -> dict[str, Any]:
    return {
        "@odata.id": CERTIFICATE_SERVICE,
        "@odata.type": "#CertificateService.v1_0_0.CertificateService",
        "Id": "CertificateService",
        "Name": "Certificate Service",
        "Description": "Actions available to manage certificates",
        "Actions": {
            "#CertificateService.ReplaceCertificate": {
                "target": REPLACE_CERTIFICATE,
                "CertificateType@Redfish.AllowableValues": ["PEM"],
            },
            "#CertificateService.GenerateCSR": {"target": GENERATE_CSR},
        },
        "CertificateLocations": {"@odata.id": LOCATIONS},
    }


def locations_resource(uris: Sequence[str]) -> dict[str, Any]:
    return {
        "@odata.id": LOCATIONS,
        "@odata.type": "#CertificateLocations.v1_0_0.CertificateLocations",
        "Id": "CertificateLocations",
        "Name": "Certificate Locations",
        "Description": "Every certificate installed in a slot this service manages",
        "Links": {
            "Certificates": [{"@odata.id": uri} for uri in uris],
            "Certificates@odata.count": len(uris),
        },
    }


def collection_resource(slot: str, certificates: Sequence[SlotCertificate]) -> dict[str, Any]:
    name = _COLLECTION_NAMES[slot]
    return {
        "@odata.id": collection_uri(slot),
        "@odata.type": "#CertificateCollection.CertificateCollection",
        "Name": f"{name} Certificates Collection",
        "Members": [{"@odata.id": certificate_uri(slot, item.id)} for item in certificates],
        "Members@odata.count": len(certificates),
        "@Redfish.SupportedCertificates": ["PEM"],
    }


_IDENTIFIER_FIELDS = (
    ("CommonName", NameOID.COMMON_NAME),
    ("Organization", NameOID.ORGANIZATION_NAME),
    ("OrganizationalUnit", NameOID.ORGANIZATIONAL_UNIT_NAME),
    ("City", NameOID.LOCALITY_NAME),
    ("State", NameOID.STATE_OR_PROVINCE_NAME),
    ("Country", NameOID.COUNTRY_NAME),
    ("Email", NameOID.EMAIL_ADDRESS),
)


def _identifier(name: x509.Name) -> dict[str, str]:
    """The Redfish Identifier of a name: its first value of each attribute (if any)."""
    found: dict[str, str] = {}
    for field, oid in _IDENTIFIER_FIELDS:
        values = name.get_attributes_for_oid(oid)
        if values:
            value = values[0].value
            found[field] = value if isinstance(value, str) else value.decode("utf-8", "replace")
    return found


def certificate_resource(item: SlotCertificate) -> dict[str, Any]:
    name = _COLLECTION_NAMES[item.slot]
    return {
        "@odata.id": certificate_uri(item.slot, item.id),
        "@odata.type": "#Certificate.v1_3_0.Certificate",
        "Id": item.id,
        "Name": f"{name} Certificate",
        "CertificateString": item.pem.decode("ascii"),
        "CertificateType": "PEM",
        "Issuer": _identifier(item.certificate.issuer),
        "Subject": _identifier(item.certificate.subject),
        "ValidNotBefore": item.not_before.isoformat(),
        "ValidNotAfter": item.not_after.isoformat(),
        "KeyUsage": list(item.key_usage),
        "SerialNumber": item.serial,
        "Fingerprint": item.fingerprint_sha256,
        "FingerprintHashAlgorithm": "TPM_ALG_SHA256",
    }


# -- messages and errors ---------------------------------------------------------------------

# MessageId → (message template with %1.., severity, resolution), as in the Base registry.
_MESSAGES: Mapping[str, tuple[str, str, str]] = {
    "GeneralError": (
        "A general error has occurred.  See Resolution for information on how to resolve "
        "the error.",
        "Critical",
        "None.",
    ),
    "InternalError": (
        "The request failed due to an internal service error.  The service is still operational.",
        "Critical",
        "Resubmit the request.  If the problem persists, consider resetting the service.",
    ),
    "ResourceNotFound": (
        "The requested resource of type %1 named '%2' was not found.",
        "Critical",
        "Provide a valid resource identifier and resubmit the request.",
    ),
    "ResourceMissingAtURI": (
        "The resource at the URI '%1' was not found.",
        "Critical",
        "Place a valid resource at the URI or correct the URI and resubmit the request.",
    ),
    "OperationNotAllowed": (
        "The HTTP method is not allowed on this resource.",
        "Critical",
        "None.",
    ),
    "ActionParameterMissing": (
        "The action %1 requires the parameter %2 to be present in the request body.",
        "Critical",
        "Supply the action with the required parameter in the request body when the request "
        "is resubmitted.",
    ),
    "ActionParameterValueError": (
        "The value for the parameter %1 in the action %2 is invalid.",
        "Critical",
        "Correct the value for the parameter in the request body and resubmit the request if "
        "the operation failed.",
    ),
    "ActionParameterNotSupported": (
        "The parameter %1 for the action %2 is not supported on the target resource.",
        "Warning",
        "Remove the parameter supplied and resubmit the request if the operation failed.",
    ),
    "PropertyMissing": (
        "The property %1 is a required property and must be included in the request.",
        "Warning",
        "Ensure that the property is in the request body and has a valid value and resubmit "
        "the request if the operation failed.",
    ),
    "PropertyValueError": (
        "The value provided for the property %1 is not valid.",
        "Warning",
        "Correct the value for the property in the request body and resubmit the request if "
        "the operation failed.",
    ),
    "MalformedJSON": (
        "The request body submitted was malformed JSON and could not be parsed by the "
        "receiving service.",
        "Critical",
        "Ensure that the request body is valid JSON and resubmit the request.",
    ),
    "InsufficientPrivilege": (
        "There are insufficient privileges for the account or credentials associated with "
        "the current session to perform the requested operation.",
        "Critical",
        "Either abandon the operation or change the associated access rights and resubmit "
        "the request if the operation failed.",
    ),
    "NoValidSession": (
        "There is no valid session established with the implementation.",
        "Critical",
        "Establish a session before attempting any operations.",
    ),
    "CreateLimitReachedForResource": (
        "The create operation failed because the resource has reached the limit of possible "
        "resources.",
        "Critical",
        "Either delete resources and resubmit the request if the operation failed or do not "
        "resubmit the request.",
    ),
    "ResourceAlreadyExists": (
        "The requested resource of type %1 with the property %2 with the value '%3' already "
        "exists.",
        "Critical",
        "Do not repeat the create operation as the resource has already been created.",
    ),
    "ServiceTemporarilyUnavailable": (
        "The service is temporarily unavailable.  Retry in %1 seconds.",
        "Critical",
        "Wait for the indicated retry duration and retry the operation.",
    ),
}


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."


@dataclass(frozen=True)
class RedfishMessage:
    """One Base registry message, filled in; ``detail`` is certward's own one-line reason."""

    message_id: str
    args: tuple[str, ...] = ()
    detail: str | None = None
    certward_code: str | None = None

    def to_dict(self, request_id: str | None = None) -> dict[str, Any]:
        template, severity, resolution = _MESSAGES[self.message_id]
        text = template
        for index, arg in reversed(list(enumerate(self.args, start=1))):
            text = text.replace(f"%{index}", arg)
        body: dict[str, Any] = {
            "@odata.type": "#Message.v1_1_1.Message",
            "MessageId": f"{BASE_REGISTRY}.{self.message_id}",
            "Message": text,
            "MessageArgs": list(self.args),
            "MessageSeverity": severity,
            "Resolution": f"{_sentence(self.detail)} {resolution}" if self.detail else resolution,
        }
        if self.certward_code or request_id:
            body["Oem"] = {"Certward": {"Code": self.certward_code, "RequestId": request_id}}
        return body


def message(message_id: str, *args: str, detail: str | None = None) -> RedfishMessage:
    """A message of the Base registry (KeyError for one this service does not use)."""
    if message_id not in _MESSAGES:
        raise KeyError(message_id)
    return RedfishMessage(message_id, tuple(args), detail)


def error_body(messages: Sequence[RedfishMessage], request_id: str | None) -> dict[str, Any]:
    """``{"error": {code, message, @Message.ExtendedInfo}}``: the first message leads."""
    first = messages[0].to_dict(request_id)
    return {
        "error": {
            "code": first["MessageId"],
            "message": first["Message"],
            "@Message.ExtendedInfo": [item.to_dict(request_id) for item in messages],
        }
    }


def _csr_message(exc: InvalidCSRRequest) -> RedfishMessage:
    field = _CSR_NAMES.get(exc.field or "", exc.field or "")
    action = "CertificateService.GenerateCSR"
    detail = exc.message
    for snake, redfish in _CSR_NAMES.items():  # say it in the client's words
        detail = detail.replace(snake, redfish)
    if exc.message.endswith("is required"):
        return RedfishMessage("ActionParameterMissing", (action, field), detail, exc.code)
    return RedfishMessage("ActionParameterValueError", (field, action), detail, exc.code)


def error_body_for(exc: CertwardError, request_id: str | None, *, what: str) -> dict[str, Any]:
    """The Redfish error body of a certward error; ``what`` names the resource or action."""
    found: RedfishMessage
    if isinstance(exc, InvalidCSRRequest) and exc.field:
        found = _csr_message(exc)
    elif isinstance(exc, NotFound):
        found = RedfishMessage("ResourceNotFound", ("Certificate", what), exc.message, exc.code)
    elif isinstance(exc, Unauthenticated):
        found = RedfishMessage("NoValidSession", (), exc.message, exc.code)
    elif isinstance(exc, AccessDenied):
        found = RedfishMessage("InsufficientPrivilege", (), exc.message, exc.code)
    elif exc.code == "slot.limit_reached":
        found = RedfishMessage("CreateLimitReachedForResource", (), exc.message, exc.code)
    elif exc.status >= 500:
        found = RedfishMessage("InternalError", (), exc.message, exc.code)
    else:
        found = RedfishMessage("GeneralError", (), exc.message, exc.code)
    return error_body([found], request_id)
