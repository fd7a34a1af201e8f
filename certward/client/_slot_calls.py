"""Every slot operation once: method, path, body and how to read the answer (see ``_calls.py``).

A slot name ``kind/label`` (``server/https``) travels as two path segments,
``/v1/slots/server/https``; each is quoted with nothing safe, so a name with more
or fewer parts is refused here rather than sent somewhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certward.certs.certificates import SlotCertificate
from certward.certs.crl import SlotCRL
from certward.certs.slots import SlotSpec
from certward.client import _slot_decode as decode
from certward.client._calls import Call, _segment
from certward.client._results import Listing, _Answered, with_request_id
from certward.client._slot_results import (
    RemoteCSRJob,
    RemoteSlot,
    RemoteSlotCertificate,
    RemoteSlotCRL,
    RemoteSlotDeletion,
    RemoteSlotRemoval,
)
from certward.client._tls import StrPath
from certward.crypto.formats import load_crl
from certward.errors import InvalidInput, InvalidName

__all__ = [
    "add_slot",
    "delete_slot_certificate",
    "get_csr_job",
    "get_slot",
    "get_slot_certificate",
    "install_slot_certificate",
    "install_slot_crl",
    "list_slots",
    "remove_slot",
    "replace_slot_certificate",
    "request_slot_csr",
    "slot_certificates",
    "slot_crls",
]

T = TypeVar("T")
A = TypeVar("A", bound=_Answered)
JSON = Mapping[str, Any]
_SLOTS = "/v1/slots"


def _slot_path(name: str, *rest: str) -> str:
    parts = name.split("/") if isinstance(name, str) else []
    if len(parts) != 2 or not all(parts):
        raise InvalidName(f"a slot name is <kind>/<label>, e.g. server/https; not {name!r}")
    return "/".join((_SLOTS, *(_segment(part) for part in (*parts, *rest))))


def _reader(build: Callable[[JSON], object], cls: type[A]) -> Callable[[httpx.Response, str], A]:
    # The value decoded from the body, as its Remote<Value> with the request id.
    def read(response: httpx.Response, request_id: str) -> A:
        return with_request_id(cls, build(response.json()), request_id)

    return read


def _listing(build: Callable[[JSON], T]) -> Callable[[httpx.Response, str], Listing[T]]:
    def read(response: httpx.Response, request_id: str) -> Listing[T]:
        return Listing(items=tuple(build(item) for item in response.json()), request_id=request_id)

    return read


def _text(value: str | bytes, what: str) -> str:
    if isinstance(value, str):
        return value
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"the {what} is not text (PEM is expected)") from None


def _given(**values: Any) -> dict[str, Any]:
    # Options left out (None) are not sent, so the server's defaults apply.
    return {name: value for name, value in values.items() if value is not None}


# -- slots ---------------------------------------------------------------------------------


def list_slots() -> Call[Listing[SlotSpec]]:
    """GET /v1/slots."""
    return Call("GET", _SLOTS, _listing(decode.slot))


def get_slot(name: str) -> Call[RemoteSlot]:
    """GET /v1/slots/{kind}/{label}."""
    return Call("GET", _slot_path(name), _reader(decode.slot, RemoteSlot))


def add_slot(
    name: str,
    *,
    directory: StrPath,
    cert_file: str | None,
    key_file: str | None,
    mode_dir: int | None,
    mode_file: int | None,
    owner: str | None,
    key_types: Sequence[str] | None,
    max_certificates: int | None,
    lookup_hash_directory: bool | None,
    crl_enabled: bool | None,
    host_name: str | None,
    truststore: str | None,
    reload_command: Sequence[str] | None,
    reload_pid_file: StrPath | None,
    reload_signal: str | None,
    reload_url: str | None,
    reload_timeout: float | None,
) -> Call[RemoteSlot]:
    """POST /v1/slots (``SlotCreate``)."""
    _slot_path(name)  # the same check as every other slot call
    reload = _given(
        command=list(reload_command) if reload_command is not None else None,
        pid_file=str(reload_pid_file) if reload_pid_file is not None else None,
        signal=reload_signal,
        url=reload_url,
        timeout_seconds=reload_timeout,
    )
    body = _given(
        name=name,
        directory=str(directory),
        cert_file=cert_file,
        key_file=key_file,
        mode_dir=mode_dir,
        mode_file=mode_file,
        owner=owner,
        key_types=list(key_types) if key_types is not None else None,
        max_certificates=max_certificates,
        lookup_hash_directory=lookup_hash_directory,
        crl_enabled=crl_enabled,
        host_name=host_name,
        truststore=truststore,
        reload=reload or None,
    )
    return Call("POST", _SLOTS, _reader(decode.slot, RemoteSlot), body=body)


def remove_slot(name: str) -> Call[RemoteSlotRemoval]:
    """DELETE /v1/slots/{kind}/{label} (204: the answer is the name and the request id)."""

    def read(_response: httpx.Response, request_id: str) -> RemoteSlotRemoval:
        return RemoteSlotRemoval(name=name, request_id=request_id)

    return Call("DELETE", _slot_path(name), read)


# -- certificates --------------------------------------------------------------------------


def slot_certificates(name: str) -> Call[Listing[SlotCertificate]]:
    """GET /v1/slots/{kind}/{label}/certificates."""
    return Call("GET", _slot_path(name, "certificates"), _listing(decode.slot_certificate))


def get_slot_certificate(name: str, cert_id: str) -> Call[RemoteSlotCertificate]:
    """GET /v1/slots/{kind}/{label}/certificates/{cert_id}."""
    path = _slot_path(name, "certificates", cert_id)
    return Call("GET", path, _reader(decode.slot_certificate, RemoteSlotCertificate))


def _upload(
    certificate_pem: str | bytes, key_pem: str | bytes | None, password: str | bytes | None
) -> dict[str, Any]:
    return _given(
        certificate_pem=_text(certificate_pem, "certificate"),
        key_pem=_text(key_pem, "key") if key_pem is not None else None,
        password=_text(password, "password") if password is not None else None,
    )


def install_slot_certificate(
    name: str,
    certificate_pem: str | bytes,
    *,
    key_pem: str | bytes | None,
    password: str | bytes | None,
) -> Call[RemoteSlotCertificate]:
    """POST /v1/slots/{kind}/{label}/certificates (``CertificateUpload``)."""
    body = _upload(certificate_pem, key_pem, password)
    read = _reader(decode.slot_certificate, RemoteSlotCertificate)
    return Call("POST", _slot_path(name, "certificates"), read, body=body)


def replace_slot_certificate(
    name: str,
    cert_id: str,
    certificate_pem: str | bytes,
    *,
    key_pem: str | bytes | None,
    password: str | bytes | None,
) -> Call[RemoteSlotCertificate]:
    """PUT /v1/slots/{kind}/{label}/certificates/{cert_id}."""
    body = _upload(certificate_pem, key_pem, password)
    read = _reader(decode.slot_certificate, RemoteSlotCertificate)
    return Call("PUT", _slot_path(name, "certificates", cert_id), read, body=body)


def delete_slot_certificate(name: str, cert_id: str) -> Call[RemoteSlotDeletion]:
    """DELETE /v1/slots/{kind}/{label}/certificates/{cert_id}."""

    def read(response: httpx.Response, request_id: str) -> RemoteSlotDeletion:
        data = response.json()
        replacement = data["replacement"]
        return RemoteSlotDeletion(
            deleted=data["deleted"],
            replacement=decode.slot_certificate(replacement) if replacement else None,
            request_id=request_id,
        )

    return Call("DELETE", _slot_path(name, "certificates", cert_id), read)


# -- CRLs ----------------------------------------------------------------------------------


def slot_crls(name: str) -> Call[Listing[SlotCRL]]:
    """GET /v1/slots/{kind}/{label}/crl."""
    return Call("GET", _slot_path(name, "crl"), _listing(decode.slot_crl))


def _crl_pem(crl: x509.CertificateRevocationList | str | bytes) -> str:
    if isinstance(crl, x509.CertificateRevocationList):
        return crl.public_bytes(Encoding.PEM).decode("ascii")
    if isinstance(crl, str):
        return crl
    if b"-----BEGIN" in crl:
        return crl.decode("ascii", "replace")
    # DER: the API takes PEM; a file that is neither fails here with MalformedData.
    return load_crl(crl).public_bytes(Encoding.PEM).decode("ascii")


def install_slot_crl(
    name: str, crl: x509.CertificateRevocationList | str | bytes
) -> Call[RemoteSlotCRL]:
    """POST /v1/slots/{kind}/{label}/crl (``CRLUpload``; DER is sent as PEM)."""
    body = {"crl_pem": _crl_pem(crl)}
    return Call("POST", _slot_path(name, "crl"), _reader(decode.slot_crl, RemoteSlotCRL), body=body)


# -- CSR jobs ------------------------------------------------------------------------------


def request_slot_csr(
    name: str,
    *,
    fields: Mapping[str, Any],
    sign_with: str | None,
    profile: str | None,
) -> Call[RemoteCSRJob]:
    """POST /v1/slots/{kind}/{label}/csr (``CSRIn``; 202 with the queued job).

    fields: the CSR fields by their API names; None values are left out.
    """
    body = _given(**fields, sign_with=sign_with, profile=profile)
    for listed in ("alternative_names", "key_usage"):
        if listed in body:
            body[listed] = list(body[listed])
    return Call("POST", _slot_path(name, "csr"), _reader(decode.csr_job, RemoteCSRJob), body=body)


def get_csr_job(job_id: str) -> Call[RemoteCSRJob]:
    """GET /v1/jobs/{job_id}."""
    return Call("GET", f"/v1/jobs/{_segment(job_id)}", _reader(decode.csr_job, RemoteCSRJob))
