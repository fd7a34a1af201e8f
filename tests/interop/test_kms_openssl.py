"""KMS signatures and ciphertexts against the real openssl, both ways, and the seed-001 flow.

Signatures made by ``certward kms sign-file`` verify with ``openssl dgst`` /
``openssl pkeyutl`` exactly as the issue states them; signatures and ciphertexts
made by openssl are accepted by certward; and an application access point signs
over a real ``certward serve`` with nothing but its three files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from certward.client import KmsClient
from certward.errors import AccessDenied
from tests.cli.kms_runner import Kms
from tests.cli.runner import shared_pki
from tests.client.live_server import LiveServer, running_server
from tests.interop.openssl_processes import run_tool

pytestmark = pytest.mark.interop

PSS_SHA256 = ("-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32")


@pytest.fixture(scope="module")
def kms(tmp_path_factory: pytest.TempPathFactory) -> Kms:
    """A data dir of its own (a copy of the session's PKI) for ``certward kms``."""
    data = shared_pki(tmp_path_factory).copy(tmp_path_factory.mktemp("kms-interop") / "data")
    return Kms("local", data.data_dir)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("kms-seed-001") / "data") as live:
        yield live


def signed_file(kms: Kms, directory: Path, spec: str, algorithm: str) -> tuple[Path, Path, Path]:
    """A file signed by a new ``spec`` key through the CLI: (file, signature, public key PEM)."""
    key_id = kms.key(spec, "SIGN_VERIFY")
    document = directory / "release.tar"
    document.write_bytes(os.urandom(50_000))
    signature, public = directory / "release.tar.sig", directory / "pub.pem"
    kms.run("sign-file", document, "--key", key_id, "--algorithm", algorithm,
            "--out", signature)  # fmt: skip
    kms.run("get-public-key", key_id, "--out", public)
    return document, signature, public


def flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_rsa_pss_sha256_signature_verifies_with_openssl_dgst_until_a_byte_changes(
    kms: Kms, openssl: str, tmp_path: Path
) -> None:
    document, signature, public = signed_file(kms, tmp_path, "RSA_2048", "RSA_PSS_SHA_256")

    accepted = run_tool(openssl, "dgst", *PSS_SHA256, "-verify", public,
                        "-signature", signature, document)  # fmt: skip
    flip_one_byte(document)
    refused = run_tool(openssl, "dgst", *PSS_SHA256, "-verify", public,
                       "-signature", signature, document)  # fmt: skip

    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert accepted.stdout.strip() == "Verified OK"
    assert refused.returncode == 1
    assert "Verification failure" in refused.stdout + refused.stderr


def test_ecdsa_sha256_signature_verifies_with_openssl_dgst(
    kms: Kms, openssl: str, tmp_path: Path
) -> None:
    document, signature, public = signed_file(kms, tmp_path, "EC_P256", "ECDSA_SHA_256")

    accepted = run_tool(openssl, "dgst", "-sha256", "-verify", public,
                        "-signature", signature, document)  # fmt: skip
    flip_one_byte(document)
    refused = run_tool(openssl, "dgst", "-sha256", "-verify", public,
                       "-signature", signature, document)  # fmt: skip

    assert accepted.stdout.strip() == "Verified OK", accepted.stderr
    assert refused.returncode == 1


def test_ed25519_signature_verifies_with_openssl_pkeyutl_rawin(
    kms: Kms, openssl: str, tmp_path: Path
) -> None:
    key_id = kms.key("ED25519", "SIGN_VERIFY")
    document, signature, public = tmp_path / "msg", tmp_path / "msg.sig", tmp_path / "pub.pem"
    document.write_bytes(b"Ed25519 signs the message itself\n")
    kms.run("sign-file", document, "--key", key_id, "--algorithm", "ED25519", "--out", signature)
    kms.run("get-public-key", key_id, "--out", public)

    accepted = run_tool(openssl, "pkeyutl", "-verify", "-pubin", "-inkey", public, "-rawin",
                        "-in", document, "-sigfile", signature)  # fmt: skip
    flip_one_byte(document)
    refused = run_tool(openssl, "pkeyutl", "-verify", "-pubin", "-inkey", public, "-rawin",
                       "-in", document, "-sigfile", signature)  # fmt: skip

    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "Signature Verified Successfully" in accepted.stdout
    assert refused.returncode != 0


def test_openssl_rsa_pss_signature_verifies_in_certward_online_and_offline(
    kms: Kms, openssl: str, tmp_path: Path
) -> None:
    private, public = tmp_path / "partner.key", tmp_path / "partner.pem"
    document, signature = tmp_path / "doc", tmp_path / "doc.sig"
    document.write_bytes(os.urandom(10_000))
    run_tool(openssl, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
             "-out", private)  # fmt: skip
    run_tool(openssl, "pkey", "-in", private, "-pubout", "-out", public)
    made = run_tool(openssl, "dgst", *PSS_SHA256, "-sign", private, "-out", signature, document)
    assert made.returncode == 0, made.stderr

    key_id = kms.run("import-public-key", public).stdout.strip()
    online = kms.json("verify-file", document, "--signature", signature, "--key", key_id,
                      "--algorithm", "RSA_PSS_SHA_256")  # fmt: skip
    offline = Kms("offline", tmp_path / "no-data-dir").run(
        "verify-file", document, "--signature", signature, "--public-key", public,
        "--algorithm", "RSA_PSS_SHA_256",
    )  # fmt: skip

    assert online["valid"] is True
    assert offline.returncode == 0 and "signature valid" in offline.stdout


def test_seed_001_access_point_signs_over_a_real_server_and_openssl_agrees(
    server: LiveServer, openssl: str, tmp_path: Path
) -> None:
    admin = Kms("remote", tmp_path / "absent", tuple(server.cli_options()))
    key_id = admin.key("RSA_2048", "SIGN_VERIFY", "--alias", "alias/seed-001")
    other = admin.key("RSA_2048", "SIGN_VERIFY")
    admin.run("create-access-point", "KAAP", "--key", "alias/seed-001",
              "--allow", "sign,verify", "--out", tmp_path / "KAAP")  # fmt: skip
    document = tmp_path / "server.key"
    document.write_text("the file to protect, as in the seed\n")

    with KmsClient(
        server.url,
        client_key_file=tmp_path / "KAAP" / "clientKey_KAAP.json",
        password=(tmp_path / "KAAP" / "clientKey_KAAP.password").read_text(),
        ca=tmp_path / "KAAP" / "ca.pem",
    ) as client:
        message = document.read_bytes()
        signed = client.sign(key_id=key_id, message=message, algorithm="RSA_PSS_SHA_256")
        verified = client.verify(
            key_id=key_id, message=message, signature=signed.signature, algorithm="RSA_PSS_SHA_256"
        )
        with pytest.raises(AccessDenied) as other_key:
            client.sign(key_id=other, message=b"x", algorithm="RSA_PSS_SHA_256")
        with pytest.raises(AccessDenied) as other_operation:
            client.get_public_key(key_id)

    (tmp_path / "f.sig").write_bytes(signed.signature)
    (tmp_path / "pub.pem").write_text(admin.run("get-public-key", key_id).stdout)
    checked = run_tool(openssl, "dgst", *PSS_SHA256, "-verify", tmp_path / "pub.pem",
                       "-signature", tmp_path / "f.sig", document)  # fmt: skip

    assert (signed.key_version, verified.value) == (1, True)
    assert signed.request_id and verified.request_id and signed.request_id != verified.request_id
    assert other_key.value.http_status == other_operation.value.http_status == 403
    assert checked.stdout.strip() == "Verified OK", checked.stderr


def test_rsa_oaep_ciphertext_from_openssl_decrypts_in_certward(
    server: LiveServer, openssl: str, tmp_path: Path
) -> None:
    with KmsClient(
        server.url, cert=server.admin_cert, key=server.admin_key, ca=server.ca_file
    ) as admin:
        key = admin.create_key(spec="RSA_3072", usage="ENCRYPT_DECRYPT")
        public = tmp_path / "pub.pem"
        public.write_bytes(admin.get_public_key(key.key_id).public_key_pem)
        (tmp_path / "secret").write_bytes(b"sealed by openssl")
        made = run_tool(openssl, "pkeyutl", "-encrypt", "-pubin", "-inkey", public,
                        "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256",
                        "-pkeyopt", "rsa_mgf1_md:sha256",
                        "-in", tmp_path / "secret", "-out", tmp_path / "secret.enc")  # fmt: skip
        assert made.returncode == 0, made.stderr

        opened = admin.decrypt(
            (tmp_path / "secret.enc").read_bytes(),
            key_id=key.key_id,
            algorithm="RSAES_OAEP_SHA_256",
        )

    assert opened.plaintext == b"sealed by openssl"
