"""What ``certward slot`` talks to: the services on a data dir, or ``/v1/slots`` on a server.

Both answer with the same JSON documents (the shapes of the HTTP API), so the
commands print the same text and ``--json`` either way. Local changes are
audited as ``local:<user>``.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

from certward.cli.state import CLIState

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
            return list(self._remote("GET", "/v1/slots"))
        from certward.certs.slots import list_slots

        return [_slot_document(spec) for spec in list_slots(self.state.context())]

    def show(self, name: str) -> Document:
        if self.state.server is not None:
            slot = self._remote("GET", f"/v1/slots/{name}")
            slot["certificates"] = self._remote("GET", f"/v1/slots/{name}/certificates")
            return dict(slot)
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
            return dict(self._remote("POST", "/v1/slots", {"name": name, **settings}))
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
            self._remote("DELETE", f"/v1/slots/{name}")
            return
        from certward.certs.slot_removal import remove_slot

        actor, audit = self._audit("slot.remove", name)
        remove_slot(self.state.context(), name, actor=actor, extra_rows=audit)

    def install(self, name: str, upload: Document) -> Document:
        if self.state.server is not None:
            return dict(self._remote("POST", f"/v1/slots/{name}/certificates", upload))
        from certward.certs.manager import install_certificate

        actor, audit = self._audit("slot.install", name)
        installed = install_certificate(
            self.state.context(), name, actor=actor, extra_rows=audit, **_upload_args(upload)
        )
        return _certificate_document(installed)

    def replace(self, name: str, cert_id: str, upload: Document) -> Document:
        if self.state.server is not None:
            path = f"/v1/slots/{name}/certificates/{cert_id}"
            return dict(self._remote("PUT", path, upload))
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
            return dict(self._remote("DELETE", f"/v1/slots/{name}/certificates/{cert_id}"))
        from certward.certs.manager import delete_certificate

        actor, audit = self._audit("slot.delete", name)
        fallback = delete_certificate(
            self.state.context(), name, cert_id, actor=actor, extra_rows=audit
        )
        replacement = _certificate_document(fallback) if fallback is not None else None
        return {"deleted": cert_id, "replacement": replacement}

    def install_crl(self, name: str, data: bytes) -> Document:
        if self.state.server is not None:
            body = {"crl_pem": _crl_text(data)}
            return dict(self._remote("POST", f"/v1/slots/{name}/crl", body))
        from certward.certs.manager import install_crl

        actor, audit = self._audit("slot.crl_install", name)
        crl = install_crl(self.state.context(), name, data, actor=actor, extra_rows=audit)
        return {
            "slot": crl.slot,
            "file_name": crl.file_name,
            "issuer": crl.issuer,
            "crl_number": str(crl.crl_number) if crl.crl_number is not None else None,
            "this_update": crl.this_update,
            "next_update": crl.next_update,
            "installed_at": crl.installed_at,
        }

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

    def request(self, method: str, path: str, body: Document | None = None) -> Any:
        """Send one request to the server (remote mode only); the decoded JSON answer."""
        return self._remote(method, path, body)

    def _remote(self, method: str, path: str, body: Document | None = None) -> Any:
        from certward.client import KmsClient
        from certward.client._calls import Call
        from certward.errors import InvalidInput

        server = self.state.server
        assert server is not None
        if path.count("/") < 2 or "//" in path or ".." in path:
            raise InvalidInput(f"bad slot name in {path}")
        client = KmsClient(server.url, cert=server.cert, key=server.key, ca=server.ca)
        try:
            call: Call[Any] = Call(
                method,  # type: ignore[arg-type]
                path,
                lambda response, _request_id: response.json() if response.content else None,
                body=body,
            )
            return client._send(call)
        finally:
            client.close()


def _crl_text(data: bytes) -> str:
    if b"-----BEGIN" in data:
        return data.decode("ascii", "replace")
    from certward.crypto.formats import crl_pem, load_crl

    load_crl(data)  # a garbage DER file fails here, with the usual message
    return crl_pem(data).decode("ascii")


def _upload_args(upload: Document) -> Document:
    key = upload.get("key_pem")
    password = upload.get("password")
    return {
        "pem": upload["certificate_pem"].encode(),
        "key_pem": key.encode() if key else None,
        "password": password.encode() if password else None,
    }


def _slot_document(spec: Any) -> Document:
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


def _certificate_document(certificate: Any) -> Document:
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
