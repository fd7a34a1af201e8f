"""``certward kms``: the same commands on the data dir and through ``--server``.

Each behaviour runs in both modes (``kms`` is parametrised: ``local`` on a data dir,
``remote`` as the admin of a real ``certward serve``); refusals are checked locally
against a snapshot of the whole data dir.
"""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12 as pkcs12_module

from certward.client import KmsClient, read_client_key_file
from certward.errors import AccessDenied
from tests.cli.kms_runner import Kms, assert_one_line_error
from tests.cli.runner import Certward, snapshot
from tests.client.live_server import LiveServer, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("kms-cli") / "data") as live:
        yield live


@pytest.fixture(scope="module")
def local_kms(pki_template: Certward, tmp_path_factory: pytest.TempPathFactory) -> Kms:
    return Kms("local", pki_template.copy(tmp_path_factory.mktemp("kms-local") / "data").data_dir)


@pytest.fixture(scope="module")
def remote_kms(server: LiveServer) -> Kms:
    return Kms("remote", server.data_dir.parent / "absent", tuple(server.cli_options()))


@pytest.fixture(params=["local", "remote"])
def kms(request: pytest.FixtureRequest) -> Kms:
    runner: Kms = request.getfixturevalue(f"{request.param}_kms")
    return runner


# -- keys -------------------------------------------------------------------------------------


def test_create_key_prints_the_id_and_describe_key_finds_it_by_alias(kms: Kms) -> None:
    alias = f"alias/app-{os.urandom(4).hex()}"
    key_id = kms.key("EC_P256", "SIGN_VERIFY", "--alias", alias, "--description", "release")

    described = kms.json("describe-key", alias)

    assert described["key_id"] == key_id
    assert (described["spec"], described["usage"], described["state"]) == (
        "EC_P256", "SIGN_VERIFY", "Enabled",
    )  # fmt: skip
    assert described["aliases"] == [alias]
    assert described["description"] == "release"
    assert [v["version"] for v in described["versions"]] == [1]
    assert key_id in {item["key_id"] for item in kms.json("list-keys", "--limit", "1000")["items"]}


def test_an_alias_moves_from_key_to_key(remote_kms: Kms) -> None:
    kms = remote_kms
    alias = f"alias/moving-{os.urandom(4).hex()}"
    first = kms.key("AES_256", "ENCRYPT_DECRYPT", "--alias", alias)
    second = kms.key("AES_256", "ENCRYPT_DECRYPT")

    deleted = kms.json("delete-alias", alias)
    created = kms.run("create-alias", alias, second).stdout

    assert deleted == {"alias": alias, "key_id": first}
    assert created.strip() == f"{alias} -> {second}"
    assert kms.json("describe-key", alias)["key_id"] == second


def test_key_json_is_the_same_document_locally_and_remotely(
    local_kms: Kms, remote_kms: Kms
) -> None:
    made = [
        runner.json("create-key", "--spec", "HMAC_256", "--usage", "GENERATE_VERIFY_MAC",
                    "--rotation-days", "30", "--tag", "team=build")
        for runner in (local_kms, remote_kms)
    ]  # fmt: skip

    local, remote = made
    assert local.keys() == remote.keys()
    for field in ("spec", "usage", "origin", "state", "tags", "rotation_period_days"):
        assert local[field] == remote[field]
    assert local["tags"] == {"team": "build"}


def test_lifecycle_disable_enable_schedule_and_cancel_deletion(remote_kms: Kms) -> None:
    kms = remote_kms
    key_id = kms.key("AES_256", "ENCRYPT_DECRYPT")

    assert kms.json("disable", key_id)["state"] == "Disabled"
    assert kms.json("enable", key_id)["state"] == "Enabled"
    pending = kms.json("schedule-deletion", key_id, "--days", "7")
    assert (pending["state"], pending["deletion_date"] is not None) == ("PendingDeletion", True)
    assert kms.json("cancel-deletion", key_id)["state"] == "Disabled"
    assert "state:                  Disabled" in kms.run("describe-key", key_id).stdout


# -- sign and verify files ----------------------------------------------------------------------


def test_sign_file_and_verify_file_hold_until_one_byte_changes(kms: Kms, tmp_path: Path) -> None:
    key_id = kms.key("RSA_2048", "SIGN_VERIFY")
    signed = tmp_path / "release.tar"
    signed.write_bytes(os.urandom(200_000))  # bigger than any message limit: digest mode
    signature = tmp_path / "release.tar.sig"

    made = kms.json("sign-file", signed, "--key", key_id, "--algorithm", "RSA_PSS_SHA_256",
                    "--out", signature)  # fmt: skip
    valid = kms.run("verify-file", signed, "--signature", signature, "--key", key_id,
                    "--algorithm", "RSA_PSS_SHA_256")  # fmt: skip
    data = bytearray(signed.read_bytes())
    data[1234] ^= 0x01
    signed.write_bytes(bytes(data))
    invalid = kms.run("verify-file", signed, "--signature", signature, "--key", key_id,
                      "--algorithm", "RSA_PSS_SHA_256", check=False)  # fmt: skip

    assert (made["key_id"], made["key_version"]) == (key_id, 1)
    assert len(signature.read_bytes()) == 256
    assert valid.returncode == 0 and "signature valid" in valid.stdout
    assert_one_line_error(invalid, "kms.signature_invalid", exit_code=1)


def test_verify_file_with_a_public_key_needs_no_server_and_no_data_dir(tmp_path: Path) -> None:
    private = ec.generate_private_key(ec.SECP384R1())
    document = tmp_path / "doc.txt"
    document.write_text("offline check\n")
    signature, public = tmp_path / "doc.sig", tmp_path / "pub.pem"
    signature.write_bytes(private.sign(document.read_bytes(), ec.ECDSA(hashes.SHA384())))
    public.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    offline = Kms("offline", tmp_path / "no-data-dir")

    valid = offline.json("verify-file", document, "--signature", signature,
                         "--public-key", public, "--algorithm", "ECDSA_SHA_384")  # fmt: skip
    document.write_text("offline check, changed\n")
    invalid = offline.run("verify-file", document, "--signature", signature,
                          "--public-key", public, "--algorithm", "ECDSA_SHA_384",
                          check=False)  # fmt: skip

    assert valid["valid"] is True
    assert_one_line_error(invalid, "kms.signature_invalid", exit_code=1)
    assert not (tmp_path / "no-data-dir").exists()


def test_get_public_key_prints_pem_of_each_version(remote_kms: Kms) -> None:
    kms = remote_kms
    key_id = kms.key("EC_P256", "SIGN_VERIFY")
    first = kms.run("get-public-key", key_id).stdout

    rotated = kms.json("rotate", key_id)
    second = kms.json("get-public-key", key_id)

    assert first.startswith("-----BEGIN PUBLIC KEY-----")
    assert rotated["primary_version"] == 2
    assert second["key_version"] == 2 and second["public_key_pem"] != first
    assert kms.run("get-public-key", key_id, "--version", "1").stdout == first


def test_an_imported_public_key_verifies_signatures_made_outside(kms: Kms, tmp_path: Path) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = tmp_path / "partner.pem"
    pem.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    document, signature = tmp_path / "doc", tmp_path / "doc.sig"
    document.write_bytes(b"from a partner")
    signature.write_bytes(private.sign(b"from a partner", ec.ECDSA(hashes.SHA256())))

    key_id = kms.run("import-public-key", pem).stdout.strip()
    checked = kms.json("verify-file", document, "--signature", signature, "--key", key_id,
                       "--algorithm", "ECDSA_SHA_256")  # fmt: skip

    assert checked["valid"] is True
    assert kms.json("describe-key", key_id)["origin"] == "PUBLIC_ONLY"


# -- encrypt and decrypt --------------------------------------------------------------------------


def test_encrypt_and_decrypt_are_binary_safe_and_bound_to_the_context(
    kms: Kms, tmp_path: Path
) -> None:
    key_id = kms.key("AES_256", "ENCRYPT_DECRYPT")
    plaintext = bytes(range(256)) * 4 + b"\x00\r\n\xff"
    sealed = tmp_path / "sealed.bin"

    kms.run_binary("encrypt", key_id, "--out", sealed, "--context", "tenant=blue",
                   "--context", "purpose=test", stdin=plaintext)  # fmt: skip
    opened = kms.run_binary("decrypt", "--in", sealed, "--context", "purpose=test",
                            "--context", "tenant=blue")  # fmt: skip
    refused = kms.run("decrypt", "--in", sealed, "--out", tmp_path / "never",
                      "--context", "tenant=red", "--context", "purpose=test",
                      check=False)  # fmt: skip

    assert sealed.read_bytes().startswith(b"CWK1")
    assert opened.stdout == plaintext
    assert_one_line_error(refused, "kms.invalid_ciphertext", exit_code=2)
    assert not (tmp_path / "never").exists()


def test_rotation_old_ciphertext_decrypts_until_min_decryption_version_retires_it(
    kms: Kms, tmp_path: Path
) -> None:
    key_id = kms.key("AES_256", "ENCRYPT_DECRYPT")
    source = tmp_path / "v1.txt"
    source.write_bytes(b"written under version 1")
    sealed = tmp_path / "v1.sealed"
    kms.run("encrypt", key_id, "--in", source, "--out", sealed)

    kms.run("rotate", key_id)
    after_rotation = kms.json("decrypt", "--in", sealed)
    kms.run("settings", key_id, "--min-decryption-version", "2")
    retired = kms.run("decrypt", "--in", sealed, "--out", tmp_path / "out", check=False)

    assert after_rotation["key_version"] == 1
    assert base64.b64decode(after_rotation["plaintext"]) == b"written under version 1"
    assert_one_line_error(retired, "kms.version_retired", exit_code=5)
    assert "min_decryption_version is 2" in retired.stderr


def test_generate_data_key_writes_the_wrapped_key_and_the_clear_one_0600(
    local_kms: Kms, tmp_path: Path
) -> None:
    kms = local_kms
    key_id = kms.key("AES_256", "ENCRYPT_DECRYPT")
    wrapped, clear = tmp_path / "dk.enc", tmp_path / "dk.bin"

    made = kms.json("generate-data-key", key_id, "--out", wrapped, "--plaintext-out", clear,
                    "--context", "file=a")  # fmt: skip
    opened = kms.run_binary("decrypt", "--in", wrapped, "--context", "file=a")

    assert made["key_id"] == key_id
    assert len(clear.read_bytes()) == 32 and opened.stdout == clear.read_bytes()
    assert stat.S_IMODE(clear.stat().st_mode) == 0o600


def test_random_prints_base64_of_the_bytes_asked_for(remote_kms: Kms) -> None:
    printed = remote_kms.run("random", "24").stdout.strip()

    assert len(base64.b64decode(printed)) == 24


# -- access points (seed 001) ---------------------------------------------------------------------


def test_create_access_point_writes_the_three_files_the_sdk_reads(
    remote_kms: Kms, server: LiveServer, tmp_path: Path
) -> None:
    own = remote_kms.key("RSA_2048", "SIGN_VERIFY")
    other = remote_kms.key("RSA_2048", "SIGN_VERIFY")
    out = tmp_path / "KAAP"

    made = remote_kms.json("create-access-point", "KAAP", "--key", own,
                           "--allow", "sign,verify", "--out", out)  # fmt: skip

    files = [out / "clientKey_KAAP.json", out / "clientKey_KAAP.password", out / "ca.pem"]
    assert [made["client_key_file"], made["password_file"], made["ca_file"]] == [
        str(path) for path in files
    ]
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert stat.S_IMODE(files[1].stat().st_mode) == 0o600
    with KmsClient(
        server.url, client_key_file=files[0], password=files[1].read_text(), ca=files[2]
    ) as app:
        signed = app.sign(key_id=own, message=b"seed 001", algorithm="RSA_PSS_SHA_256")
        assert signed.key_version == 1 and signed.request_id
        with pytest.raises(AccessDenied):
            app.sign(key_id=other, message=b"seed 001", algorithm="RSA_PSS_SHA_256")
        with pytest.raises(AccessDenied):
            app.generate_data_key(own)


def test_create_access_point_works_on_the_data_dir_too(local_kms: Kms, tmp_path: Path) -> None:
    key_id = local_kms.key("EC_P256", "SIGN_VERIFY")

    printed = local_kms.run("create-access-point", "local-app", "--key", key_id,
                            "--allow", "sign", "--out", tmp_path / "ap").stdout  # fmt: skip

    assert "access point local-app may sign" in printed
    name, pkcs12 = read_client_key_file(tmp_path / "ap" / "clientKey_local-app.json")
    assert name == "local-app"
    password = (tmp_path / "ap" / "clientKey_local-app.password").read_bytes()
    key, certificate, _ = pkcs12_module.load_key_and_certificates(pkcs12, password)
    assert key is not None and certificate is not None
    assert (tmp_path / "ap" / "ca.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_key_audit_lists_each_use_with_its_request_id(remote_kms: Kms, tmp_path: Path) -> None:
    key_id = remote_kms.key("EC_P256", "SIGN_VERIFY")
    document = tmp_path / "doc"
    document.write_bytes(b"audited")
    remote_kms.run("sign-file", document, "--key", key_id, "--algorithm", "ECDSA_SHA_256",
                   "--out", tmp_path / "doc.sig")  # fmt: skip

    events = remote_kms.json("audit", key_id)["items"]

    assert "kms.sign" in {event["action"] for event in events}
    assert all(event["request_id"] for event in events)


# -- refusals: one line, non-zero exit, nothing changed ------------------------------------------


@pytest.fixture(scope="module")
def refusing(pki_template: Certward, tmp_path_factory: pytest.TempPathFactory) -> Kms:
    """A data dir with alias/signer (EC_P256), alias/sealer (AES_256) and alias/off (disabled)."""
    kms = Kms("local", pki_template.copy(tmp_path_factory.mktemp("kms-refused") / "data").data_dir)
    kms.key("EC_P256", "SIGN_VERIFY", "--alias", "alias/signer")
    kms.key("AES_256", "ENCRYPT_DECRYPT", "--alias", "alias/sealer")
    kms.run("disable", kms.key("AES_256", "ENCRYPT_DECRYPT", "--alias", "alias/off"))
    return kms


@pytest.mark.parametrize(
    ("args", "code", "exit_code"),
    [
        (("create-key", "--spec", "AES_512", "--usage", "ENCRYPT_DECRYPT"), "input.invalid", 2),
        (("create-key", "--spec", "EC_P256", "--usage", "SIGN_VERIFY", "--alias", "alias/signer"),
         "kms.alias_exists", 4),
        (("describe-key", "key-00000000-0000-4000-8000-000000000000"), "kms.key_not_found", 3),
        (("encrypt", "alias/signer", "--in", "{file}", "--out", "{out}"), "kms.incorrect_usage", 5),
        (("encrypt", "alias/off", "--in", "{file}", "--out", "{out}"), "kms.invalid_state", 4),
        (("sign-file", "{file}", "--key", "alias/signer", "--algorithm", "RSA_PSS_SHA_256",
          "--out", "{out}"), "kms.unsupported_algorithm", 2),
        (("sign-file", "{file}", "--key", "alias/signer", "--algorithm", "ECDSA_SHA_256",
          "--out", "{existing}"), "conflict", 4),
        (("encrypt", "alias/sealer", "--in", "{file}", "--out", "{out}", "--context", "nokey"),
         "input.invalid", 2),
        (("encrypt", "alias/sealer", "--in", "{big}", "--out", "{out}"), "input.too_large", 2),
        (("create-access-point", "app", "--key", "alias/signer", "--allow", "sign,fly",
          "--out", "{dir}"), "input.invalid", 2),
    ],
    ids=lambda value: "-".join(value[:2]) if isinstance(value, tuple) else None,
)  # fmt: skip
def test_refused_commands_change_nothing(
    refusing: Kms, tmp_path: Path, args: tuple[str, ...], code: str, exit_code: int
) -> None:
    (tmp_path / "file").write_bytes(b"some input")
    (tmp_path / "existing").write_bytes(b"keep me")
    (tmp_path / "big").write_bytes(b"x" * 100_000)
    names = {name: tmp_path / name for name in ("file", "out", "existing", "big", "dir")}
    command = [part.format(**names) for part in args]
    before = (snapshot(refusing.data_dir), snapshot(tmp_path))

    refused = refusing.run(*command, check=False)

    assert_one_line_error(refused, code, exit_code)
    assert (snapshot(refusing.data_dir), snapshot(tmp_path)) == before
