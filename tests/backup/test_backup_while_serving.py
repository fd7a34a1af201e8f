"""A backup taken while ``certward serve`` runs restores into a service that carries on.

The restored service (a fresh data dir) verifies a signature made before the
backup, decrypts a ciphertext made before it, and serves the same CRL.
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import httpx

from tests.server.service import run_certward, running_service

PASSPHRASE = "correct horse battery staple\n"
MESSAGE = base64.b64encode(b"signed before the backup").decode()
SECRET = base64.b64encode(b"encrypted before the backup").decode()


def _ok(response: httpx.Response) -> dict[str, object]:
    assert response.is_success, response.text
    body: dict[str, object] = response.json()
    return body


def test_a_backup_of_a_running_service_restores_keys_signatures_and_the_crl(
    tmp_path: Path,
) -> None:
    original_dir, restored_dir = tmp_path / "original", tmp_path / "restored"
    archive, passphrase = tmp_path / "certward.cwb", tmp_path / "backup.pass"
    passphrase.write_text(PASSPHRASE)
    identities = tmp_path / "admin"

    with running_service(original_dir, log=tmp_path / "original.log") as original:
        with original.client() as api:
            signer = _ok(api.post("/v1/kms/keys", json={"spec": "EC_P256", "usage": "SIGN_VERIFY"}))
            sealer = _ok(
                api.post("/v1/kms/keys", json={"spec": "AES_256", "usage": "ENCRYPT_DECRYPT"})
            )
            signature = _ok(
                api.post(
                    f"/v1/kms/keys/{signer['key_id']}/sign",
                    json={"message": MESSAGE, "algorithm": "ECDSA_SHA_256"},
                )
            )["signature"]
            ciphertext = _ok(
                api.post(f"/v1/kms/keys/{sealer['key_id']}/encrypt", json={"plaintext": SECRET})
            )["ciphertext"]
            issued = _ok(
                api.post(
                    "/v1/certificates",
                    json={"ca": "issuing", "profile": "client", "common_name": "leaver"},
                )
            )
            _ok(
                api.post(
                    f"/v1/certificates/{issued['serial']}/revoke",
                    params={"wait_for_crl": "true"},
                    json={"reason": "superseded"},
                )
            )
            # The CRL that lists the revocation (published in the background, waited for).
            crl = api.get("/ca/issuing/crl").content

            # Online: the service keeps answering while the backup is taken.
            backup = run_certward(
                "backup", "--out", archive, "--passphrase-file", passphrase, data_dir=original_dir
            )
            assert backup.returncode == 0, backup.stderr
            assert api.get("/v1/whoami").status_code == 200
        shutil.copytree(original.admin_dir, identities)

    restore = run_certward(
        "restore", archive, "--passphrase-file", passphrase, data_dir=restored_dir
    )
    assert restore.returncode == 0, restore.stderr
    # The admin bundle is the operator's to keep (the archive holds no client key).
    shutil.copytree(identities, restored_dir / "admin")
    with (
        running_service(restored_dir, log=tmp_path / "restored.log") as restored,
        restored.client() as api,
    ):
        verified = _ok(
            api.post(
                f"/v1/kms/keys/{signer['key_id']}/verify",
                json={"message": MESSAGE, "signature": signature, "algorithm": "ECDSA_SHA_256"},
            )
        )
        decrypted = _ok(api.post("/v1/kms/decrypt", json={"ciphertext": ciphertext}))
        served = api.get("/ca/issuing/crl").content
        certificate = _ok(api.get(f"/v1/certificates/{issued['serial']}"))

    assert verified["value"] is True
    assert decrypted["plaintext"] == SECRET
    assert served == crl
    assert certificate["status"] == "revoked"
