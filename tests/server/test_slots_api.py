"""``/v1/slots`` over real mutual TLS: each slot kind install → replace → delete, access, audit."""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.serialization import Encoding

from tests.certs.factory import TestCA
from tests.certs.standin import running_standin, wait_for_content
from tests.server.service import Service, assert_error


def _label() -> str:
    return uuid.uuid4().hex[:10]


def _create(api: httpx.Client, name: str, directory: Path, **settings: Any) -> dict[str, Any]:
    response = api.post("/v1/slots", json={"name": name, "directory": str(directory), **settings})
    assert response.status_code == 201, response.text
    return dict(response.json())


def _files(directory: Path) -> dict[str, bytes | str]:
    return {
        name: os.readlink(directory / name)
        if (directory / name).is_symlink()
        else (directory / name).read_bytes()
        for name in sorted(os.listdir(directory))
    }


def test_server_slot_install_replace_delete_reloads_the_service(
    service: Service, tmp_path: Path
) -> None:
    ca = TestCA("API Root")
    slot = f"server/web-{_label()}"
    directory = tmp_path / "web"
    with running_standin(tmp_path, directory) as (pid_file, marker), service.client() as api:
        _create(
            api, slot, directory, host_name="web.example.test", reload={"pid_file": str(pid_file)}
        )
        first = ca.issue("web.example.test")

        installed = api.post(
            f"/v1/slots/{slot}/certificates", json={"certificate_pem": first.bundle_pem.decode()}
        )
        assert installed.status_code == 201, installed.text
        wait_for_content(marker, first.chain_pem)
        cert_id = installed.json()["id"]
        assert stat.S_IMODE((directory / "key.pem").stat().st_mode) == 0o400

        second = ca.issue("web.example.test", key="rsa")
        replaced = api.put(
            f"/v1/slots/{slot}/certificates/{cert_id}",
            json={
                "certificate_pem": second.chain_pem.decode(),
                "key_pem": second.key_pem.decode(),
            },
        )
        assert replaced.status_code == 200, replaced.text
        wait_for_content(marker, second.chain_pem)

        deleted = api.delete(f"/v1/slots/{slot}/certificates/{replaced.json()['id']}")
        assert deleted.status_code == 200, deleted.text
        replacement = deleted.json()["replacement"]
        assert replacement["subject"] == replacement["issuer"] == "CN=web.example.test"
        wait_for_content(marker, replacement["certificate_pem"].encode())
        listed = api.get(f"/v1/slots/{slot}/certificates").json()
        assert [c["id"] for c in listed] == [replacement["id"]]


def test_client_slot_install_replace_delete(service: Service, tmp_path: Path) -> None:
    ca = TestCA("LDAP Root")
    slot = f"client/ldap-{_label()}"
    directory = tmp_path / "ldap"
    ran = tmp_path / "ran"
    with service.client() as api:
        _create(api, slot, directory, reload={"command": ["/bin/sh", "-c", f"echo x >> {ran}"]})
        first = ca.issue("ldap-client", client=True)
        cert_id = api.post(
            f"/v1/slots/{slot}/certificates", json={"certificate_pem": first.bundle_pem.decode()}
        ).json()["id"]
        second = ca.issue("ldap-client-2", client=True)
        new_id = api.put(
            f"/v1/slots/{slot}/certificates/{cert_id}",
            json={"certificate_pem": second.bundle_pem.decode()},
        ).json()["id"]
        assert (directory / "cert.pem").read_bytes() == second.chain_pem

        deleted = api.delete(f"/v1/slots/{slot}/certificates/{new_id}")

        assert deleted.json() == {"deleted": new_id, "replacement": None}
        assert _files(directory) == {}
        assert ran.read_text() == "x\nx\nx\n"


def test_authority_slot_install_replace_delete_with_crls(
    service: Service, tmp_path: Path, openssl: str
) -> None:
    import subprocess

    roots = [TestCA("Peer Root A"), TestCA("Peer Root B")]
    slot = f"authority/peers-{_label()}"
    directory = tmp_path / "peers"
    with service.client() as api:
        _create(api, slot, directory, lookup_hash_directory=True, crl_enabled=True)
        cert_id = api.post(
            f"/v1/slots/{slot}/certificates", json={"certificate_pem": roots[0].cert_pem.decode()}
        ).json()["id"]
        replaced = api.put(
            f"/v1/slots/{slot}/certificates/{cert_id}",
            json={"certificate_pem": roots[1].cert_pem.decode()},
        )
        assert replaced.status_code == 200, replaced.text
        peer = roots[1].issue("peer", client=True)
        crl = roots[1].crl((peer.certificate,)).public_bytes(Encoding.PEM).decode()
        added = api.post(f"/v1/slots/{slot}/crl", json={"crl_pem": crl})
        assert added.status_code == 201, added.text
        (tmp_path / "peer.pem").write_bytes(peer.cert_pem)
        verdict = subprocess.run(
            [
                openssl,
                "verify",
                "-crl_check",
                "-CApath",
                str(directory),
                str(tmp_path / "peer.pem"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert "certificate revoked" in verdict.stdout + verdict.stderr

        deleted = api.delete(f"/v1/slots/{slot}/certificates/{replaced.json()['id']}")

        assert deleted.status_code == 200
        assert [name for name in _files(directory) if ".r" not in name] == []


def test_bad_uploads_are_400_and_change_nothing(service: Service, tmp_path: Path) -> None:
    ca = TestCA("Bad Root")
    slot = f"server/bad-{_label()}"
    directory = tmp_path / "bad"
    with service.client() as api:
        _create(api, slot, directory)
        api.post(
            f"/v1/slots/{slot}/certificates",
            json={"certificate_pem": ca.issue().bundle_pem.decode()},
        )
        before = _files(directory)
        cases = {
            "certificate.invalid": "",
            "certificate.key_mismatch": (ca.issue().chain_pem + ca.issue().key_pem).decode(),
            "slot.not_allowed": ca.issue().bundle_pem.decode(),
        }
        for code, pem in cases.items():
            response = api.post(f"/v1/slots/{slot}/certificates", json={"certificate_pem": pem})
            assert_error(response, 400, code)

        assert_error(api.get(f"/v1/slots/server/missing-{_label()}"), 404, "slot.not_found")
        assert_error(
            api.delete(f"/v1/slots/{slot}/certificates/0000000000000000"),
            404,
            "slot.certificate_not_found",
        )
    assert _files(directory) == before


def test_certs_manage_is_scoped_to_slot_names_and_changes_are_audited(
    service: Service, tmp_path: Path
) -> None:
    ca = TestCA("Scoped Root")
    label = _label()
    mine, other = f"server/team-{label}", f"server/other-{label}"
    with service.client() as api:
        _create(api, mine, tmp_path / "mine")
        _create(api, other, tmp_path / "other")
    operator = service.create_principal(
        tmp_path / "operator",
        grants=[{"permission": "certs.manage", "resources": [f"server/team-{label}"]}],
    )
    upload = {"certificate_pem": ca.issue().bundle_pem.decode()}

    with service.client(operator) as api:
        assert [s["name"] for s in api.get("/v1/slots").json()] == [mine]
        assert api.post(f"/v1/slots/{mine}/certificates", json=upload).status_code == 201
        assert_error(
            api.post(f"/v1/slots/{other}/certificates", json=upload), 403, "auth.forbidden"
        )
        refused = api.post("/v1/slots", json={"name": f"server/x-{label}", "directory": "/tmp/x"})
        assert_error(refused, 403, "auth.forbidden")

    with service.client() as api:
        events = api.get("/v1/audit", params={"action": "slot.install"}).json()["items"]
    outcomes = {(e["principal"], e["target"], e["result"]) for e in events}
    assert (operator.name, mine, "ok") in outcomes
    assert (operator.name, other, "auth.forbidden") in outcomes
