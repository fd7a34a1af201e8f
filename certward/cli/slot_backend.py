"""What ``certward slot`` talks to: the services on a data dir, or ``/v1/slots`` on a server.

Both answer with the same JSON documents (the shapes of the HTTP API), so the
commands print the same text and ``--json`` either way. Local changes are
audited as ``local:<user>``; remote ones go through the SDK's slot methods.
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from certward.cli.state import CLIState

if TYPE_CHECKING:
    from certward.certs.certificates import SlotCertificate
    from certward.certs.crl import SlotCRL
    from certward.certs.jobs import CSRJob
    from certward.certs.slots import SlotSpec
    from certward.client import KmsClient

__all__ = ["Document", "SlotBackend", "read_file"]

Document = dict[str, Any]


def read_file(path: Path, what: str) -> bytes:
    from certward.errors import InvalidInput

    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {what} {path}: {exc.strerror}") from None


class SlotBackend:
    """The slot operations of one invocation, on the data dir or on a server."""

    def __init__(self, state: CLIState) -> None:
        self.state = state

    # -- reads -------------------------------------------------------------------------

    def all(self) -> list[Document]:
        if self.state.server is not None:
            with self._client() as client:
                return [_as_sent(_slot_document(spec)) for spec in client.list_slots()]
        from certward.certs.slots import list_slots

        return [_slot_document(spec) for spec in list_slots(self.state.context())]

    def show(self, name: str) -> Document:
        if self.state.server is not None:
            with self._client() as client:
                slot = _slot_document(client.get_slot(name))
                certificates = client.slot_certificates(name)
            slot["certificates"] = [_certificate_document(c) for c in certificates]
            return _as_sent(slot)
        from certward.certs.manager import list_certificates
        from certward.certs.slots import get_slot

        context = self.state.context()
        document = _slot_document(get_slot(context, name))
        document["certificates"] = [
            _certificate_document(c) for c in list_certificates(context, name)
        ]
        return document

    # -- changes -----------------------------------------------------------------------

    def add(self, name: str, settings: Document) -> Document:
        if self.state.server is not None:
            with self._client() as client:
                return _as_sent(_slot_document(client.add_slot(name, **_slot_options(settings))))
        from certward.certs.slots import create_slot
        from certward.config import SlotSettings
        from certward.errors import ConfigError

        try:
            parsed = SlotSettings.model_validate(settings)
        except ValueError as exc:
            raise ConfigError(f"slot {name}: {str(exc).splitlines()[-1].strip()}") from None
        actor, audit = self._audit("slot.create", name)
        return _slot_document(
            create_slot(self.state.context(), name, parsed, actor=actor, extra_rows=audit)
        )

    def remove(self, name: str) -> None:
        if self.state.server is not None:
            with self._client() as client:
                client.remove_slot(name)
            return
        from certward.certs.slot_removal import remove_slot

        actor, audit = self._audit("slot.remove", name)
        remove_slot(self.state.context(), name, actor=actor, extra_rows=audit)

    def install(self, name: str, upload: Document) -> Document:
        if self.state.server is not None:
            with self._client() as client:
                answer = client.install_slot_certificate(
                    name,
                    upload["certificate_pem"],
                    key_pem=upload.get("key_pem"),
                    password=upload.get("password"),
                )
            return _as_sent(_certificate_document(answer))
        from certward.certs.manager import install_certificate

        actor, audit = self._audit("slot.install", name)
        installed = install_certificate(
            self.state.context(), name, actor=actor, extra_rows=audit, **_upload_args(upload)
        )
        return _certificate_document(installed)

    def replace(self, name: str, cert_id: str, upload: Document) -> Document:
        if self.state.server is not None:
            with self._client() as client:
                answer = client.replace_slot_certificate(
                    name,
                    cert_id,
                    upload["certificate_pem"],
                    key_pem=upload.get("key_pem"),
                    password=upload.get("password"),
                )
            return _as_sent(_certificate_document(answer))
        from certward.certs.manager import replace_certificate

        actor, audit = self._audit("slot.replace", name)
        replaced = replace_certificate(
            self.state.context(),
            name,
            cert_id,
            actor=actor,
            extra_rows=audit,
            **_upload_args(upload),
        )
        return _certificate_document(replaced)

    def delete(self, name: str, cert_id: str) -> Document:
        if self.state.server is not None:
            with self._client() as client:
                deletion = client.delete_slot_certificate(name, cert_id)
            return _as_sent(_deletion_document(deletion.deleted, deletion.replacement))
        from certward.certs.manager import delete_certificate

        actor, audit = self._audit("slot.delete", name)
        fallback = delete_certificate(
            self.state.context(), name, cert_id, actor=actor, extra_rows=audit
        )
        return _deletion_document(cert_id, fallback)

    def install_crl(self, name: str, data: bytes) -> Document:
        if self.state.server is not None:
            with self._client() as client:
                return _as_sent(_crl_document(client.install_slot_crl(name, data)))
        from certward.certs.manager import install_crl

        actor, audit = self._audit("slot.crl_install", name)
        crl = install_crl(self.state.context(), name, data, actor=actor, extra_rows=audit)
        return _crl_document(crl)

    def request_csr_remotely(
        self,
        name: str,
        fields: Mapping[str, Any],
        *,
        sign_with: str | None,
        profile: str | None,
        timeout: float,
        poll_interval: float,
    ) -> Document:
        """Start a CSR job on the server and wait for it (``slot csr`` runs local jobs itself).

        The job as the API shows it, as it is when done or when ``timeout`` has passed.
        """
        with self._client() as client:
            job = client.request_slot_csr(name, **fields, sign_with=sign_with, profile=profile)
            done = client.wait_for_csr_job(job.id, timeout=timeout, poll_interval=poll_interval)
        return _as_sent(_job_document(done))

    # -- plumbing ----------------------------------------------------------------------

    def _audit(self, action: str, target: str) -> tuple[str, list[Any]]:
        from certward.access.audit import audit_row

        actor = f"local:{getpass.getuser()}"
        row = audit_row(
            self.state.context(),
            principal=actor,
            action=action,
            target=target,
            result="ok",
            request_id=None,
        )
        return actor, [row]

    def _client(self) -> KmsClient:
        from certward.client import KmsClient

        server = self.state.server
        assert server is not None
        return KmsClient(server.url, cert=server.cert, key=server.key, ca=server.ca)


def _as_sent(document: Document) -> Document:
    # Remote documents keep the text the API sends: times as pydantic writes them
    # ("...Z"), where local ones print Python's isoformat.
    from pydantic_core import to_jsonable_python

    sent: Document = to_jsonable_python(document)
    return sent


_RELOAD_OPTIONS = {
    "command": "reload_command",
    "pid_file": "reload_pid_file",
    "signal": "reload_signal",
    "url": "reload_url",
    "timeout_seconds": "reload_timeout",
}


def _slot_options(settings: Document) -> Document:
    """``slot add``'s settings (the API's SlotCreate shape) as ``Client.add_slot`` options."""
    options = {key: value for key, value in settings.items() if key != "reload"}
    for key, value in (settings.get("reload") or {}).items():
        options[_RELOAD_OPTIONS[key]] = value
    return options


def _upload_args(upload: Document) -> Document:
    key = upload.get("key_pem")
    password = upload.get("password")
    return {
        "pem": upload["certificate_pem"].encode(),
        "key_pem": key.encode() if key else None,
        "password": password.encode() if password else None,
    }


def _slot_document(spec: SlotSpec) -> Document:
    reload = spec.reload
    return {
        "name": spec.name,
        "kind": spec.kind.value,
        "directory": str(spec.directory),
        "cert_file": spec.cert_file,
        "key_file": spec.key_file,
        "mode_dir": f"{spec.mode_dir:04o}",
        "mode_file": f"{spec.mode_file:04o}",
        "owner": spec.owner,
        "key_types": list(spec.key_types),
        "max_certificates": spec.capacity,
        "lookup_hash_directory": spec.lookup_hash_directory,
        "crl_enabled": spec.crl_enabled,
        "host_name": spec.host_name,
        "truststore": spec.truststore,
        "reload": {
            "kind": reload.kind,
            "command": list(reload.command),
            "pid_file": str(reload.pid_file) if reload.pid_file else None,
            "signal": reload.signal,
            "url": reload.url,
            "timeout_seconds": reload.timeout_seconds,
        },
        "source": spec.source,
    }


def _deletion_document(deleted: str, replacement: SlotCertificate | None) -> Document:
    document = _certificate_document(replacement) if replacement is not None else None
    return {"deleted": deleted, "replacement": document}


def _crl_document(crl: SlotCRL) -> Document:
    return {
        "slot": crl.slot,
        "file_name": crl.file_name,
        "issuer": crl.issuer,
        "crl_number": str(crl.crl_number) if crl.crl_number is not None else None,
        "this_update": crl.this_update,
        "next_update": crl.next_update,
        "installed_at": crl.installed_at,
    }


def _job_document(job: CSRJob) -> Document:
    error = None
    if job.error_code is not None:
        error = {"code": job.error_code, "message": job.error_message or ""}
    return {
        "id": job.id,
        "slot": job.slot,
        "state": job.state.value,
        "key_type": job.key_type,
        "request": job.request,
        "csr_pem": job.csr_pem,
        "sign_with": job.sign_with,
        "profile": job.profile,
        "certificate_id": job.certificate_id,
        "error": error,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }


def _certificate_document(certificate: SlotCertificate) -> Document:
    return {
        "slot": certificate.slot,
        "id": certificate.id,
        "subject": certificate.subject,
        "issuer": certificate.issuer,
        "serial": certificate.serial,
        "not_before": certificate.not_before,
        "not_after": certificate.not_after,
        "key_usage": list(certificate.key_usage),
        "fingerprint_sha256": certificate.fingerprint_sha256,
        "installed_at": certificate.installed_at,
        "certificate_pem": certificate.pem.decode("ascii"),
    }
