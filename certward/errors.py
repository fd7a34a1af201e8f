"""The one error tree of certward.

Every failure that a user can cause or see is a subclass of :class:`CertwardError`
with a stable ``code`` (``area.reason``), an HTTP ``status`` and a CLI ``exit_code``.
Entry points render these in one place each; messages never carry secrets.

    CertwardError
    ├── InvalidInput                 input.invalid            400 / exit 2
    │   ├── MalformedData            input.malformed          (PEM/DER/CSR/CRL/PKCS#12 garbage)
    │   ├── InvalidName              input.invalid_name
    │   ├── InvalidSubject           input.invalid_subject
    │   ├── InvalidValidity          input.invalid_validity
    │   ├── ConfigError              config.invalid
    │   └── PasswordError            input.password           (wrong or unacceptable password)
    ├── NotFound                     not_found                404 / exit 3
    │   ├── CANotFound               ca.not_found
    │   └── CertificateNotFound      certificate.not_found
    ├── Conflict                     conflict                 409 / exit 4
    │   ├── CAExists                 ca.exists
    │   └── AlreadyRevoked           certificate.already_revoked
    ├── PolicyViolation              policy.violation         422 / exit 5
    │   ├── KeyTypeNotAllowed        policy.key_type_not_allowed
    │   ├── SANNotAllowed            policy.san_not_allowed
    │   ├── SANRequired              policy.san_required
    │   ├── ProfileNotFound          policy.profile_not_found
    │   ├── IssuerNotUsable          ca.issuer_not_usable     (revoked, expired or not a CA)
    │   ├── CSRSignatureInvalid      csr.signature_invalid
    │   └── NotRevocable             certificate.not_revocable
    ├── KeystoreError                keystore.error           500 / exit 6
    │   ├── KeystoreMissing          keystore.missing         (both key files gone, data present)
    │   ├── KeystoreCorrupt          keystore.corrupt         (both copies damaged)
    │   ├── KeystoreMismatch         keystore.mismatch        (the key does not open this data)
    │   └── DecryptionFailed         keystore.decryption_failed
    ├── StorageError                 storage.error            503 / exit 7
    │   └── SchemaMismatch           storage.schema_mismatch
    ├── FilePermissionError          file.permission          400 / exit 8
    ├── Unauthenticated              auth.required            401 / exit 9 (no client certificate)
    ├── AccessDenied                 auth.forbidden           403 / exit 9 (no grant for this)
    │   └── CSRFRefused              console.csrf             (a console form without a valid token)
    ├── KmsError                     (KMS: see the classes below)
    │   ├── KmsKeyNotFound           kms.key_not_found        404 / exit 3
    │   ├── KmsAliasExists           kms.alias_exists         409 / exit 4
    │   ├── KmsInvalidState          kms.invalid_state        409 / exit 4 (disabled, deleting)
    │   ├── KmsIncorrectKeyUsage     kms.incorrect_usage      422 / exit 5 (wrong usage)
    │   ├── KmsUnsupportedAlgorithm  kms.unsupported_algorithm 400 / exit 2
    │   ├── KmsInvalidCiphertext     kms.invalid_ciphertext   400 / exit 2 (tampered)
    │   ├── KmsVersionRetired        kms.version_retired      422 / exit 5 (< min version)
    │   └── KmsImportInvalid         kms.import_invalid       400 / exit 2 (BYOK)
    ├── KeyException                 kds.error                400 / exit 10 (Limax KeyException)
    │   ├── SubjectAltNameWithoutDNSName kds.san_without_dns_name
    │   ├── SubjectAltNameWithoutURI kds.san_without_uri
    │   ├── MalformedKeyIdent        kds.malformed_key_ident
    │   ├── UnsupportedURI           kds.unsupported_uri
    │   └── ServerRekeyed            kds.server_rekeyed
    ├── PayloadTooLarge              input.too_large          413 / exit 2
    ├── UnsupportedMediaType         input.media_type         415 / exit 2
    ├── ServiceUnavailable           service.unavailable      503 / exit 7 (a remote server)
    └── AcmeProblem                  acme.*                   400-429 / exit 2 (RFC 8555 6.7:
        AcmeBadNonce, AcmeUnauthorized, AcmeRejectedIdentifier, AcmeBadCSR, …; each carries
        its urn:ietf:params:acme:error:* type and renders as application/problem+json)
"""

from __future__ import annotations

from enum import Enum
from typing import ClassVar

__all__ = [
    "AccessDenied",
    "AcmeAccountDoesNotExist",
    "AcmeAlreadyRevoked",
    "AcmeBadCSR",
    "AcmeBadNonce",
    "AcmeBadPublicKey",
    "AcmeBadRevocationReason",
    "AcmeBadSignatureAlgorithm",
    "AcmeConnection",
    "AcmeDns",
    "AcmeExternalAccountRequired",
    "AcmeIncorrectResponse",
    "AcmeInvalidContact",
    "AcmeKeyInUse",
    "AcmeMalformed",
    "AcmeNotFound",
    "AcmeOrderNotReady",
    "AcmeProblem",
    "AcmeRateLimited",
    "AcmeRejectedIdentifier",
    "AcmeServerInternal",
    "AcmeTls",
    "AcmeUnauthorized",
    "AcmeUnsupportedIdentifier",
    "AlreadyRevoked",
    "CAExists",
    "CANotFound",
    "CSRFRefused",
    "CSRJobNotFound",
    "CSRSignatureInvalid",
    "CertificateKeyMismatch",
    "CertificateLintFailed",
    "CertificateNotFound",
    "CertificateRevoked",
    "CertificateUntrusted",
    "CertwardError",
    "ConfigError",
    "Conflict",
    "DecryptionFailed",
    "DuplicateCertificate",
    "FilePermissionError",
    "IdempotencyInProgress",
    "IdempotencyKeyReused",
    "ImportTargetExists",
    "InvalidCRL",
    "InvalidCSRRequest",
    "InvalidCertificate",
    "InvalidInput",
    "InvalidName",
    "InvalidSlotCRL",
    "InvalidSubject",
    "InvalidValidity",
    "IssuerNotUsable",
    "KeyException",
    "KeyExceptionType",
    "KeyTypeNotAllowed",
    "KeystoreCorrupt",
    "KeystoreError",
    "KeystoreMismatch",
    "KeystoreMissing",
    "KmsAliasExists",
    "KmsError",
    "KmsImportInvalid",
    "KmsIncorrectKeyUsage",
    "KmsInvalidCiphertext",
    "KmsInvalidState",
    "KmsKeyNotFound",
    "KmsUnsupportedAlgorithm",
    "KmsVersionRetired",
    "MalformedData",
    "MalformedKeyIdent",
    "NotFound",
    "NotRevocable",
    "PasswordError",
    "PayloadTooLarge",
    "PolicyViolation",
    "ProfileNotFound",
    "RateLimited",
    "ReloadFailed",
    "SANNotAllowed",
    "SANRequired",
    "SchemaMismatch",
    "ServerRekeyed",
    "ServiceUnavailable",
    "SlotCertificateNotFound",
    "SlotExists",
    "SlotInUse",
    "SlotLimitReached",
    "SlotNotAllowed",
    "SlotNotFound",
    "StorageError",
    "SubjectAltNameWithoutDNSName",
    "SubjectAltNameWithoutURI",
    "Unauthenticated",
    "UnsupportedMediaType",
    "UnsupportedURI",
    "error_class_for_code",
]


class CertwardError(Exception):
    """Base of every certward error: a stable code, a status and a one-line message."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1
    # Set by the SDK (certward.client) on errors a server answered with: the request id of
    # the exchange and the HTTP status as sent. None for errors raised in this process.
    request_id: str | None = None
    http_status: int | None = None

    def __init__(self, message: str) -> None:
        # One line only: the CLI prints it as is and HTTP puts it in a JSON string.
        self.message = " ".join(message.split())
        super().__init__(self.message)

    def to_dict(self) -> dict[str, str]:
        """The ``{"code", "message"}`` part of an error body."""
        return {"code": self.code, "message": self.message}


class InvalidInput(CertwardError):
    code = "input.invalid"
    status = 400
    exit_code = 2


class MalformedData(InvalidInput):
    code = "input.malformed"


class InvalidName(InvalidInput):
    code = "input.invalid_name"


class InvalidSubject(InvalidInput):
    code = "input.invalid_subject"


class InvalidValidity(InvalidInput):
    code = "input.invalid_validity"


class ConfigError(InvalidInput):
    code = "config.invalid"


class PasswordError(InvalidInput):
    code = "input.password"


class NotFound(CertwardError):
    code = "not_found"
    status = 404
    exit_code = 3


class CANotFound(NotFound):
    code = "ca.not_found"


class CertificateNotFound(NotFound):
    code = "certificate.not_found"


class Conflict(CertwardError):
    code = "conflict"
    status = 409
    exit_code = 4


class CAExists(Conflict):
    code = "ca.exists"


class AlreadyRevoked(Conflict):
    code = "certificate.already_revoked"


class PolicyViolation(CertwardError):
    code = "policy.violation"
    status = 422
    exit_code = 5


class KeyTypeNotAllowed(PolicyViolation):
    code = "policy.key_type_not_allowed"


class SANNotAllowed(PolicyViolation):
    code = "policy.san_not_allowed"


class SANRequired(PolicyViolation):
    code = "policy.san_required"


class ProfileNotFound(PolicyViolation):
    code = "policy.profile_not_found"


class IssuerNotUsable(PolicyViolation):
    code = "ca.issuer_not_usable"


class CSRSignatureInvalid(PolicyViolation):
    code = "csr.signature_invalid"


class NotRevocable(PolicyViolation):
    code = "certificate.not_revocable"


class KeystoreError(CertwardError):
    code = "keystore.error"
    status = 500
    exit_code = 6


class KeystoreMissing(KeystoreError):
    code = "keystore.missing"


class KeystoreCorrupt(KeystoreError):
    code = "keystore.corrupt"


class KeystoreMismatch(KeystoreError):
    code = "keystore.mismatch"


class DecryptionFailed(KeystoreError):
    code = "keystore.decryption_failed"


class StorageError(CertwardError):
    code = "storage.error"
    status = 503
    exit_code = 7


class SchemaMismatch(StorageError):
    code = "storage.schema_mismatch"


class FilePermissionError(CertwardError):
    code = "file.permission"
    status = 400
    exit_code = 8


class Unauthenticated(CertwardError):
    code = "auth.required"
    status = 401
    exit_code = 9


class AccessDenied(CertwardError):
    code = "auth.forbidden"
    status = 403
    exit_code = 9


class CSRFRefused(AccessDenied):
    """A web console form post without a valid CSRF token, or sent from another site."""

    code = "console.csrf"


class KmsError(CertwardError):
    """Base of the KMS errors (never raised itself)."""

    code = "kms.error"
    status = 400
    exit_code = 2


class KmsKeyNotFound(KmsError, NotFound):
    code = "kms.key_not_found"
    status = 404
    exit_code = 3


class KmsAliasExists(KmsError, Conflict):
    code = "kms.alias_exists"
    status = 409
    exit_code = 4


class KmsInvalidState(KmsError, Conflict):
    code = "kms.invalid_state"
    status = 409
    exit_code = 4


class KmsIncorrectKeyUsage(KmsError, PolicyViolation):
    code = "kms.incorrect_usage"
    status = 422
    exit_code = 5


class KmsUnsupportedAlgorithm(KmsError, InvalidInput):
    code = "kms.unsupported_algorithm"


class KmsInvalidCiphertext(KmsError, InvalidInput):
    code = "kms.invalid_ciphertext"


class KmsVersionRetired(KmsError, PolicyViolation):
    code = "kms.version_retired"
    status = 422
    exit_code = 5


class KmsImportInvalid(KmsError, InvalidInput):
    code = "kms.import_invalid"


class KeyException(CertwardError):
    """Limax's KeyException: unrecoverable, check the certificates or ask for a resend.

    ``type_name`` is the Limax ``KeyException.Type`` name; the KDS client exposes it as
    an enum. Network failures are not KeyExceptions (they are worth a retry).
    """

    code = "kds.error"
    status = 400
    exit_code = 10
    type_name: ClassVar[str] = ""

    @property
    def type(self) -> KeyExceptionType:
        """Limax's ``getType()``: which of the five kinds this is."""
        return KeyExceptionType(self.type_name)


class KeyExceptionType(Enum):
    """Limax's ``KeyException.Type``: the five kinds of unrecoverable KDS failure."""

    SubjectAltNameWithoutDNSName = "SubjectAltNameWithoutDNSName"
    SubjectAltNameWithoutURI = "SubjectAltNameWithoutURI"
    MalformedKeyIdent = "MalformedKeyIdent"
    UnsupportedURI = "UnsupportedURI"
    ServerRekeyed = "ServerRekeyed"


class SubjectAltNameWithoutDNSName(KeyException):
    code = "kds.san_without_dns_name"
    type_name = "SubjectAltNameWithoutDNSName"


class SubjectAltNameWithoutURI(KeyException):
    code = "kds.san_without_uri"
    type_name = "SubjectAltNameWithoutURI"


class MalformedKeyIdent(KeyException):
    code = "kds.malformed_key_ident"
    type_name = "MalformedKeyIdent"


class UnsupportedURI(KeyException):
    code = "kds.unsupported_uri"
    type_name = "UnsupportedURI"


class ServerRekeyed(KeyException):
    code = "kds.server_rekeyed"
    type_name = "ServerRekeyed"


class PayloadTooLarge(CertwardError):
    code = "input.too_large"
    status = 413
    exit_code = 2


class UnsupportedMediaType(CertwardError):
    code = "input.media_type"
    status = 415
    exit_code = 2


class ServiceUnavailable(CertwardError):
    code = "service.unavailable"
    status = 503
    exit_code = 7


class AcmeProblem(CertwardError):
    """An ACME request refused (RFC 8555 6.7): rendered as an application/problem+json document.

    ``acme_type`` is the last part of ``urn:ietf:params:acme:error:<type>``.
    """

    code = "acme.error"
    status = 400
    exit_code = 2
    acme_type: ClassVar[str] = "malformed"

    @property
    def problem_type(self) -> str:
        """The full problem type URN."""
        return f"urn:ietf:params:acme:error:{self.acme_type}"


class AcmeMalformed(AcmeProblem):
    """The request message was malformed."""

    code = "acme.malformed"


class AcmeBadNonce(AcmeProblem):
    """The Replay-Nonce is missing, unknown or used."""

    code = "acme.bad_nonce"
    acme_type = "badNonce"


class AcmeUnauthorized(AcmeProblem):
    """The account may not do this (wrong key, deactivated)."""

    code = "acme.unauthorized"
    status = 403
    acme_type = "unauthorized"


class AcmeAccountDoesNotExist(AcmeProblem):
    """No account has this key or URL."""

    code = "acme.account_does_not_exist"
    acme_type = "accountDoesNotExist"


class AcmeRejectedIdentifier(AcmeProblem):
    """Policy (the profile) forbids this identifier."""

    code = "acme.rejected_identifier"
    acme_type = "rejectedIdentifier"


class AcmeUnsupportedIdentifier(AcmeProblem):
    """An identifier type this server does not know."""

    code = "acme.unsupported_identifier"
    acme_type = "unsupportedIdentifier"


class AcmeBadCSR(AcmeProblem):
    """The CSR does not match the order or the profile."""

    code = "acme.bad_csr"
    acme_type = "badCSR"


class AcmeOrderNotReady(AcmeProblem):
    """The order's authorizations are not all valid yet."""

    code = "acme.order_not_ready"
    status = 403
    acme_type = "orderNotReady"


class AcmeRateLimited(AcmeProblem):
    """A per-account or per-address rate limit was reached."""

    code = "acme.rate_limited"
    status = 429
    acme_type = "rateLimited"


class AcmeIncorrectResponse(AcmeProblem):
    """The challenge answer was wrong."""

    code = "acme.incorrect_response"
    status = 403
    acme_type = "incorrectResponse"


class AcmeConnection(AcmeProblem):
    """The challenge server could not be reached."""

    code = "acme.connection"
    acme_type = "connection"


class AcmeDns(AcmeProblem):
    """A DNS lookup for the challenge failed."""

    code = "acme.dns"
    acme_type = "dns"


class AcmeTls(AcmeProblem):
    """The tls-alpn-01 exchange failed."""

    code = "acme.tls"
    acme_type = "tls"


class AcmeBadSignatureAlgorithm(AcmeProblem):
    """A JWS algorithm this server does not accept."""

    code = "acme.bad_signature_algorithm"
    acme_type = "badSignatureAlgorithm"


class AcmeBadPublicKey(AcmeProblem):
    """The account key is unacceptable."""

    code = "acme.bad_public_key"
    acme_type = "badPublicKey"


class AcmeAlreadyRevoked(AcmeProblem):
    """The certificate is already revoked."""

    code = "acme.already_revoked"
    acme_type = "alreadyRevoked"


class AcmeBadRevocationReason(AcmeProblem):
    """A revocation reason this server does not accept."""

    code = "acme.bad_revocation_reason"
    acme_type = "badRevocationReason"


class AcmeInvalidContact(AcmeProblem):
    """A contact URL is unacceptable."""

    code = "acme.invalid_contact"
    acme_type = "invalidContact"


class AcmeExternalAccountRequired(AcmeProblem):
    """New accounts need an External Account Binding."""

    code = "acme.external_account_required"
    acme_type = "externalAccountRequired"


class AcmeKeyInUse(AcmeProblem):
    """The new key already belongs to another account."""

    code = "acme.key_in_use"
    status = 409


class AcmeServerInternal(AcmeProblem):
    """The server failed; the detail says no more than that."""

    code = "acme.server_internal"
    status = 500
    acme_type = "serverInternal"


class AcmeNotFound(AcmeProblem):
    """No such ACME resource (order, authorization, certificate)."""

    code = "acme.not_found"
    status = 404


# -- security and robustness (issue 9) -------------------------------------------------


class CertificateLintFailed(PolicyViolation):
    """A certificate or CRL failed the RFC 5280 lint run before it is returned (ca/lint.py)."""

    code = "ca.lint_failed"


class RateLimited(CertwardError):
    """A principal (or an address without a certificate) sent requests faster than allowed."""

    code = "rate_limited"
    status = 429
    exit_code = 7

    def __init__(self, message: str, retry_after: str = "1") -> None:
        super().__init__(message)
        self.retry_after = retry_after  # whole seconds, for the Retry-After header


# -- certificate manager: CSR jobs (issue 5, helper REDFISH) ------------------------------


class InvalidCSRRequest(InvalidInput):
    """A CSR request field is missing or unacceptable; ``field`` names it (snake_case)."""

    code = "csr.invalid"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class CSRJobNotFound(NotFound):
    """No CSR job with this id."""

    code = "job.not_found"


# -- certificate manager (issue 5: slots, install/replace/delete) ----------------------


class SlotNotFound(NotFound):
    """No slot of that name (neither in certward.toml nor created through the API)."""

    code = "slot.not_found"


class SlotCertificateNotFound(NotFound):
    """The slot holds no certificate with that id."""

    code = "slot.certificate_not_found"


class SlotExists(Conflict):
    """A slot of that name already exists."""

    code = "slot.exists"


class SlotInUse(Conflict):
    """Another slot names this one as its truststore."""

    code = "slot.in_use"


class InvalidCertificate(InvalidInput):
    """An upload that is empty, garbage, of a refused key type or with a broken chain."""

    code = "certificate.invalid"


class CertificateKeyMismatch(InvalidCertificate):
    """The private key does not belong to the certificate ("key mismatch")."""

    code = "certificate.key_mismatch"


class SlotNotAllowed(InvalidInput):
    """The slot refuses the change (OpenBMC NotAllowed), e.g. a second certificate."""

    code = "slot.not_allowed"


class SlotLimitReached(SlotNotAllowed):
    """An authority slot already holds its maximum number of certificates."""

    code = "slot.limit_reached"


class DuplicateCertificate(SlotNotAllowed):
    """The certificate is already in the slot."""

    code = "slot.duplicate"


class InvalidSlotCRL(InvalidInput):
    """A CRL the slot refuses: garbage, unknown issuer, bad signature, expired, older."""

    code = "slot.crl_invalid"


class ReloadFailed(CertwardError):
    """The slot's reload action failed; the previous files and records were put back."""

    code = "slot.reload_failed"
    status = 500
    exit_code = 11


# -- certificate import: `certward import` (issue 5, helper IMPORT) ----------------------


class CertificateUntrusted(InvalidCertificate):
    """The certificate does not chain to the given CA, or a certificate of the path is expired."""

    code = "certificate.untrusted"


class CertificateRevoked(InvalidCertificate):
    """The certificate is listed in the CA's CRL."""

    code = "certificate.revoked"


class InvalidCRL(InvalidInput):
    """A CRL not signed by the CA, not yet valid, expired or older than the one in place."""

    code = "crl.invalid"


class ImportTargetExists(Conflict):
    """The target directory already holds files the import would replace (use --replace)."""

    code = "import.target_exists"


def _all_subclasses(cls: type[CertwardError]) -> list[type[CertwardError]]:
    found: list[type[CertwardError]] = [cls]
    for sub in cls.__subclasses__():
        found.extend(_all_subclasses(sub))
    return found


def error_class_for_code(code: str) -> type[CertwardError]:
    """The error class registered for a wire ``code`` (the SDK raises these)."""
    for cls in _all_subclasses(CertwardError):
        if cls.code == code:
            return cls
    return CertwardError


# -- idempotency keys (issue 8) ---------------------------------------------------------------


class IdempotencyKeyReused(PolicyViolation):
    """An ``Idempotency-Key`` sent again with a different request."""

    code = "idempotency.key_reused"


class IdempotencyInProgress(Conflict):
    """A request with this ``Idempotency-Key`` was carried out, but its answer is not stored yet."""

    code = "idempotency.in_progress"
