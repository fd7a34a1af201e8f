"""Answering OCSP requests (RFC 6960): good, revoked (time and reason) or unknown.

Responses are signed by the CA's delegated responder (:mod:`certward.ca.ocsp_signer`).
A response without a nonce is the same for every asker until the status
changes, so it is signed once and served from memory (RFC 5019's model) until
half its validity has passed; a revocation drops the cached responses of the
serials it touched. Whether there was a revocation is read from the database
at most once per poll interval, so every worker and every cluster node sees it
within that interval. A request with a nonce is signed afresh (its nonce echoed).

Failures are OCSP's own status codes, never exceptions: malformedRequest for
bytes that are not one well-formed request, unauthorized for a certificate of
another CA (or an unknown CA), internalError when the responder cannot sign.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from sqlalchemy import func, select

from certward.ca.context import CAContext
from certward.ca.ocsp_signer import ResponderIdentity, current_responder
from certward.ca.revoke import REASON_NAMES
from certward.config import OcspSettings
from certward.crypto.serials import serial_hex
from certward.errors import CertwardError, IssuerNotUsable, NotFound
from certward.store.models import CertificateRow, RevocationRow

__all__ = ["MAX_NONCE_BYTES", "OCSPAnswer", "OCSPOutcome", "OCSPResponder"]

_log = structlog.get_logger()
_DER = serialization.Encoding.DER
# RFC 8954: a nonce is 1 to 32 octets.
MAX_NONCE_BYTES = 32
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,  # the default of every OCSP client; RFC 5019 requires it
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class OCSPOutcome(enum.StrEnum):
    """What an answer says: a certificate status or an OCSP error status."""

    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"
    MALFORMED_REQUEST = "malformedRequest"
    UNAUTHORIZED = "unauthorized"
    INTERNAL_ERROR = "internalError"


@dataclass(frozen=True)
class OCSPAnswer:
    """A DER OCSP response, what it says and how long an HTTP cache may keep it."""

    der: bytes
    outcome: OCSPOutcome
    max_age: int | None = None  # None: not cacheable (errors, unknown, nonce)


def _unsuccessful(status: ocsp.OCSPResponseStatus, outcome: OCSPOutcome) -> OCSPAnswer:
    return OCSPAnswer(
        ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(_DER), outcome
    )


MALFORMED = _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST, OCSPOutcome.MALFORMED_REQUEST)
UNAUTHORIZED = _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED, OCSPOutcome.UNAUTHORIZED)
INTERNAL_ERROR = _unsuccessful(ocsp.OCSPResponseStatus.INTERNAL_ERROR, OCSPOutcome.INTERNAL_ERROR)


@dataclass(frozen=True)
class _Issuer:
    """One CA as the responder knows it: its id, CertID hashes and current signer."""

    ca_id: int
    name: str
    hashes: dict[str, tuple[bytes, bytes]]  # algorithm name → (issuer name hash, key hash)
    responder: ResponderIdentity


@dataclass(frozen=True)
class _Cached:
    answer: OCSPAnswer
    serial: int
    refresh_at: float  # time.monotonic() after which it is signed again


@dataclass(frozen=True)
class _Status:
    outcome: OCSPOutcome
    revoked_at: datetime | None = None
    reason: x509.ReasonFlags | None = None


def _certid_hashes(certificate: x509.Certificate) -> dict[str, tuple[bytes, bytes]]:
    """(issuer name hash, issuer key hash) of a CertID naming ``certificate`` as the issuer."""
    subject_der = certificate.subject.public_bytes()
    found = {}
    for name, algorithm in _HASHES.items():
        name_hash = hashes.Hash(algorithm())
        name_hash.update(subject_der)
        # cryptography hashes the issuer argument's key (the name would be the subject's issuer).
        probe = ocsp.OCSPRequestBuilder().add_certificate(certificate, certificate, algorithm())
        found[name] = (name_hash.finalize(), probe.build().issuer_key_hash)
    return found


class OCSPResponder:
    """The OCSP answers of one process: lookups, signing and the cache of signed responses."""

    def __init__(
        self, ctx: CAContext, settings: OcspSettings, *, poll_seconds: float = 0.25
    ) -> None:
        self._ctx = ctx
        self._settings = settings
        self._poll_seconds = poll_seconds
        self._validity = timedelta(seconds=settings.response_seconds)
        self._cache: dict[tuple[str, bytes], _Cached] = {}
        self._issuers: dict[str, _Issuer] = {}
        self._lock = threading.Lock()
        self._revocation_mark: int | None = None
        self._checked_at = float("-inf")

    # -- the fast path: memory only, safe on the event loop -------------------------

    def cached(self, ca_name: str, request_der: bytes) -> OCSPAnswer | None:
        """The pre-signed answer to exactly these request bytes, if still current; no I/O."""
        if time.monotonic() - self._checked_at > self._poll_seconds:
            return None  # revocations not checked lately: take the slow path once
        return self._lookup(ca_name, request_der)

    def _lookup(self, ca_name: str, request_der: bytes) -> OCSPAnswer | None:
        entry = self._cache.get((ca_name, request_der))
        if entry is None or time.monotonic() >= entry.refresh_at:
            return None
        return entry.answer

    # -- the slow path: database and signing, in a worker thread ----------------------

    def respond(self, ca_name: str, request_der: bytes) -> OCSPAnswer:
        """The answer to a DER OCSP request for CA ``ca_name`` (never raises for bad input)."""
        try:
            self._notice_revocations()
            answer = self._lookup(ca_name, request_der)
            if answer is not None:
                return answer
            return self._answer(ca_name, request_der)
        except CertwardError as exc:
            _log.warning("ocsp.failed", ca=ca_name, code=exc.code, error=exc.message)
            return INTERNAL_ERROR

    def forget(self) -> None:
        """Drop every cached response and signer (tests; a replaced CA)."""
        with self._lock:
            self._cache.clear()
            self._issuers.clear()

    def _answer(self, ca_name: str, request_der: bytes) -> OCSPAnswer:
        try:
            request = ocsp.load_der_ocsp_request(request_der)
            algorithm = request.hash_algorithm
            nonce = _nonce_of(request)
        except (
            ValueError,
            UnsupportedAlgorithm,
            x509.DuplicateExtension,
            x509.UnsupportedGeneralNameType,
        ):
            return MALFORMED
        if algorithm.name not in _HASHES or (nonce is not None and not nonce):
            return MALFORMED
        if nonce is not None and len(nonce) > MAX_NONCE_BYTES:
            return MALFORMED
        try:
            issuer = self._issuer(ca_name)
        except (NotFound, IssuerNotUsable):
            return UNAUTHORIZED
        if (request.issuer_name_hash, request.issuer_key_hash) != issuer.hashes[algorithm.name]:
            return UNAUTHORIZED
        # A revocation noticed between the lookup and the store must not leave a stale entry.
        mark = self._revocation_mark
        status = self._status(issuer, request.serial_number)
        now = self._ctx.clock()
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response_by_hash(
                issuer_name_hash=request.issuer_name_hash,
                issuer_key_hash=request.issuer_key_hash,
                serial_number=request.serial_number,
                algorithm=algorithm,
                cert_status=_CERT_STATUS[status.outcome],
                this_update=now,
                next_update=now + self._validity,
                revocation_time=status.revoked_at,
                revocation_reason=status.reason,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, issuer.responder.certificate)
            .certificates([issuer.responder.certificate])
        )
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        der = builder.sign(issuer.responder.key, issuer.responder.hash_algorithm).public_bytes(_DER)
        cacheable = nonce is None and status.outcome is not OCSPOutcome.UNKNOWN
        half_life = self._settings.response_seconds // 2
        answer = OCSPAnswer(der, status.outcome, max_age=half_life if cacheable else None)
        if cacheable and self._settings.cache_entries > 0:
            with self._lock:
                if mark == self._revocation_mark:
                    if len(self._cache) >= self._settings.cache_entries:
                        self._cache.clear()  # bounded: a flood of distinct requests cannot grow it
                    self._cache[(ca_name, request_der)] = _Cached(
                        answer, request.serial_number, time.monotonic() + half_life
                    )
        return answer

    def _issuer(self, ca_name: str) -> _Issuer:
        issuer = self._issuers.get(ca_name)
        if issuer is not None and self._ctx.clock() < issuer.responder.renew_at:
            return issuer
        with self._lock:
            issuer = self._issuers.get(ca_name)
            if issuer is not None and self._ctx.clock() < issuer.responder.renew_at:
                return issuer
            responder = current_responder(self._ctx, ca_name, days=self._settings.responder_days)
            with self._ctx.database.read() as session:
                row = self._ctx.ca_row(session, ca_name)
                ca_id, ca_der = row.id, row.certificate_der
            issuer = _Issuer(
                ca_id=ca_id,
                name=ca_name,
                hashes=_certid_hashes(x509.load_der_x509_certificate(ca_der)),
                responder=responder,
            )
            self._issuers[ca_name] = issuer
            # Responses signed by the old responder stay valid; new ones use the new one.
            self._cache = {k: v for k, v in self._cache.items() if k[0] != ca_name}
            return issuer

    def _status(self, issuer: _Issuer, serial: int) -> _Status:
        with self._ctx.database.read() as session:
            found = session.execute(
                select(
                    CertificateRow.ca_id,
                    CertificateRow.revoked_at,
                    CertificateRow.revocation_reason,
                ).where(CertificateRow.serial == serial_hex(serial))
            ).first()
        if found is None or found.ca_id != issuer.ca_id:
            return _Status(OCSPOutcome.UNKNOWN)
        if found.revoked_at is None:
            return _Status(OCSPOutcome.GOOD)
        reason = REASON_NAMES.get(found.revocation_reason or "")
        return _Status(OCSPOutcome.REVOKED, found.revoked_at, reason)

    def _notice_revocations(self) -> None:
        """Drop cached responses of serials revoked since the last look (at most once a poll)."""
        if time.monotonic() - self._checked_at <= self._poll_seconds:
            return
        with self._lock:
            if time.monotonic() - self._checked_at <= self._poll_seconds:
                return
            checked_at = time.monotonic()
            with self._ctx.database.read() as session:
                newest = session.scalar(select(func.max(RevocationRow.id))) or 0
                revoked: set[int] = set()
                if self._revocation_mark is not None and newest > self._revocation_mark:
                    revoked = {
                        int(serial, 16)
                        for serial in session.scalars(
                            select(RevocationRow.serial).where(
                                RevocationRow.id > self._revocation_mark
                            )
                        )
                    }
            if self._revocation_mark is None:
                self._cache.clear()
            elif revoked:
                # A revoked responder certificate or CA: start over for that issuer too.
                self._issuers = {
                    name: issuer
                    for name, issuer in self._issuers.items()
                    if int(issuer.responder.serial, 16) not in revoked
                }
                self._cache = {k: v for k, v in self._cache.items() if v.serial not in revoked}
                _log.info("ocsp.cache_invalidated", serials=len(revoked))
            self._revocation_mark = newest
            self._checked_at = checked_at


_CERT_STATUS = {
    OCSPOutcome.GOOD: ocsp.OCSPCertStatus.GOOD,
    OCSPOutcome.REVOKED: ocsp.OCSPCertStatus.REVOKED,
    OCSPOutcome.UNKNOWN: ocsp.OCSPCertStatus.UNKNOWN,
}


def _nonce_of(request: ocsp.OCSPRequest) -> bytes | None:
    try:
        return request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return None
