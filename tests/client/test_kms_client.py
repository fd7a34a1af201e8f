"""``certward.client.KmsClient`` against a real ``certward serve``: every KMS operation.

One server per module; each test makes its own keys (ids are unique), so tests do
not depend on each other's state.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from certward.client import (
    BatchResult,
    DecryptItem,
    EncryptItem,
    KmsClient,
    RemoteKeyInfo,
    RemoteSignature,
    SignItem,
    VerifyItem,
    read_client_key_file,
    wrap_key_material,
)
from certward.errors import (
    AccessDenied,
    InvalidInput,
    KmsIncorrectKeyUsage,
    KmsInvalidCiphertext,
    KmsInvalidState,
    KmsKeyNotFound,
    KmsUnsupportedAlgorithm,
    KmsVersionRetired,
    MalformedData,
    PasswordError,
    PayloadTooLarge,
)
from tests.client.live_server import LiveServer, running_server

MESSAGE = b"the release tarball, byte for byte\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("kms-client") / "data") as live:
        yield live


@pytest.fixture(scope="module")
def admin(server: LiveServer) -> Iterator[KmsClient]:
    with KmsClient(
        server.url, cert=server.admin_cert, key=server.admin_key, ca=server.ca_file
    ) as client:
        yield client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def new_key(admin: KmsClient, spec: str, usage: str, **options: object) -> RemoteKeyInfo:
    return admin.create_key(spec=spec, usage=usage, **options)  # type: ignore[arg-type]


# -- key management -----------------------------------------------------------------------


def test_create_key_answers_an_enabled_key_with_one_version(admin: KmsClient) -> None:
    alias = f"alias/{unique('app')}"

    key = admin.create_key(
        spec="EC_P256", usage="SIGN_VERIFY", alias=alias, description="release signing",
        tags={"team": "build"},
    )  # fmt: skip

    assert key.key_id.startswith("key-")
    assert (key.state, key.spec, key.usage, key.origin) == (
        "Enabled", "EC_P256", "SIGN_VERIFY", "CERTWARD",
    )  # fmt: skip
    assert key.aliases == (alias,)
    assert key.primary_version == 1
    assert [v.version for v in key.versions] == [1]
    assert (key.description, dict(key.tags)) == ("release signing", {"team": "build"})
    assert len(key.request_id) == 32


def test_describe_key_finds_a_key_by_its_alias(admin: KmsClient) -> None:
    alias = f"alias/{unique('described')}"
    key = new_key(admin, "AES_256", "ENCRYPT_DECRYPT", alias=alias)

    described = admin.describe_key(alias)

    assert described.key_id == key.key_id
    assert described.request_id != key.request_id


def test_list_keys_pages_through_every_key(admin: KmsClient) -> None:
    made = {new_key(admin, "HMAC_256", "GENERATE_VERIFY_MAC").key_id for _ in range(3)}

    seen: set[str] = set()
    page = admin.list_keys(limit=2)
    while True:
        assert len(page) <= 2
        seen |= {item.key_id for item in page}
        if page.next_cursor is None:
            break
        page = admin.list_keys(limit=2, cursor=page.next_cursor)

    assert made <= seen


def test_disable_refuses_use_until_enabled_again(admin: KmsClient) -> None:
    key = new_key(admin, "EC_P256", "SIGN_VERIFY")

    assert admin.disable_key(key.key_id).state == "Disabled"
    with pytest.raises(KmsInvalidState) as refused:
        admin.sign(key.key_id, message=MESSAGE, algorithm="ECDSA_SHA_256")
    assert refused.value.http_status == 409
    assert admin.enable_key(key.key_id).state == "Enabled"
    assert admin.sign(key.key_id, message=MESSAGE, algorithm="ECDSA_SHA_256").signature


def test_scheduled_deletion_can_be_cancelled_back_to_disabled(admin: KmsClient) -> None:
    key = new_key(admin, "AES_256", "ENCRYPT_DECRYPT")

    pending = admin.schedule_key_deletion(key.key_id, pending_window_days=7)
    assert pending.state == "PendingDeletion"
    assert pending.deletion_date is not None
    with pytest.raises(KmsInvalidState):
        admin.encrypt(key.key_id, plaintext=b"x")

    cancelled = admin.cancel_key_deletion(key.key_id)
    assert (cancelled.state, cancelled.deletion_date) == ("Disabled", None)


def test_alias_can_be_moved_to_another_key(admin: KmsClient) -> None:
    alias = f"alias/{unique('moved')}"
    first = new_key(admin, "AES_256", "ENCRYPT_DECRYPT")
    second = new_key(admin, "AES_256", "ENCRYPT_DECRYPT")

    created = admin.create_alias(alias, first.key_id)
    assert (created.alias, created.key_id) == (alias, first.key_id)
    deleted = admin.delete_alias(alias)
    assert deleted.key_id == first.key_id
    admin.create_alias(alias, second.key_id)

    assert admin.describe_key(alias).key_id == second.key_id
    assert alias not in admin.describe_key(first.key_id).aliases


def test_update_key_settings_changes_only_what_is_given(admin: KmsClient) -> None:
    key = new_key(
        admin, "AES_256", "ENCRYPT_DECRYPT", description="before", rotation_period_days=90
    )

    updated = admin.update_key_settings(key.key_id, description="after")

    assert updated.description == "after"
    assert updated.rotation_period_days == 90
    assert updated.next_rotation_at is not None
    turned_off = admin.update_key_settings(key.key_id, rotation_period_days=0)
    assert (turned_off.rotation_period_days, turned_off.description) == (None, "after")


# -- signing ----------------------------------------------------------------------------------


def test_sign_answers_signature_version_and_request_id_as_in_seed_001(admin: KmsClient) -> None:
    key = new_key(admin, "RSA_2048", "SIGN_VERIFY")

    signed = admin.sign(key_id=key.key_id, message=MESSAGE, algorithm="RSA_PSS_SHA_256")

    assert isinstance(signed, RemoteSignature)
    assert (signed.key_id, signed.key_version, signed.algorithm) == (
        key.key_id, 1, "RSA_PSS_SHA_256",
    )  # fmt: skip
    assert isinstance(signed.signature, bytes) and len(signed.signature) == 256
    public = admin.get_public_key(key.key_id).public_key
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(
        signed.signature,
        MESSAGE,
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
        hashes.SHA256(),
    )


def test_verify_says_false_for_a_wrong_signature_instead_of_failing(admin: KmsClient) -> None:
    key = new_key(admin, "RSA_2048", "SIGN_VERIFY")
    signature = admin.sign(key.key_id, message=MESSAGE, algorithm="RSA_PSS_SHA_256").signature

    good = admin.verify(
        key.key_id, message=MESSAGE, signature=signature, algorithm="RSA_PSS_SHA_256"
    )
    bad = admin.verify(
        key.key_id, message=MESSAGE + b"!", signature=signature, algorithm="RSA_PSS_SHA_256"
    )

    assert good.value is True and bool(good)
    assert bad.value is False and not bad
    assert good.request_id != bad.request_id


def test_digest_mode_signs_what_message_mode_verifies(admin: KmsClient) -> None:
    key = new_key(admin, "EC_P256", "SIGN_VERIFY")
    digest = hashlib.sha256(MESSAGE).digest()

    signed = admin.sign(key.key_id, digest=digest, algorithm="ECDSA_SHA_256")

    assert admin.verify(
        key.key_id, message=MESSAGE, signature=signed.signature, algorithm="ECDSA_SHA_256"
    ).value
    public = admin.get_public_key(key.key_id).public_key
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(signed.signature, digest, ec.ECDSA(Prehashed(hashes.SHA256())))


def test_ed25519_signs_messages(admin: KmsClient) -> None:
    key = new_key(admin, "ED25519", "SIGN_VERIFY")

    signed = admin.sign(key.key_id, message="signé, sent as UTF-8", algorithm="ED25519")

    assert len(signed.signature) == 64
    assert admin.verify(
        key.key_id,
        message="signé, sent as UTF-8".encode(),
        signature=signed.signature,
        algorithm="ED25519",
    ).value


def test_rotation_keeps_old_signatures_verifiable_by_version(admin: KmsClient) -> None:
    key = new_key(admin, "EC_P256", "SIGN_VERIFY")
    old = admin.sign(key.key_id, message=MESSAGE, algorithm="ECDSA_SHA_256")

    rotated = admin.rotate_key(key.key_id)
    new = admin.sign(key.key_id, message=MESSAGE, algorithm="ECDSA_SHA_256")

    assert rotated.primary_version == 2
    assert (old.key_version, new.key_version) == (1, 2)
    assert admin.get_public_key(key.key_id, version=1).public_key_pem != (
        admin.get_public_key(key.key_id).public_key_pem
    )
    assert admin.verify(
        key.key_id, message=MESSAGE, signature=old.signature, algorithm="ECDSA_SHA_256",
        key_version=1,
    ).value  # fmt: skip


# -- encryption -------------------------------------------------------------------------------


def test_encrypt_and_decrypt_round_trip_with_a_context(admin: KmsClient) -> None:
    key = new_key(admin, "AES_256", "ENCRYPT_DECRYPT")
    context = {"tenant": "blue", "purpose": "backup"}
    plaintext = os.urandom(1024)

    encrypted = admin.encrypt(key.key_id, plaintext=plaintext, context=context)
    decrypted = admin.decrypt(encrypted.ciphertext, context=context)

    assert encrypted.ciphertext.startswith(b"CWK1")
    assert (encrypted.algorithm, encrypted.key_version) == ("AES_256_GCM", 1)
    assert decrypted.plaintext == plaintext
    assert decrypted.key_id == key.key_id
    assert "plaintext" not in repr(decrypted) or plaintext.hex() not in repr(decrypted)


def test_a_wrong_context_or_a_changed_byte_does_not_decrypt(admin: KmsClient) -> None:
    key = new_key(admin, "AES_256", "ENCRYPT_DECRYPT")
    blob = admin.encrypt(key.key_id, plaintext=b"secret", context={"a": "1"}).ciphertext
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])

    for ciphertext, context in ((blob, {"a": "2"}), (blob, None), (tampered, {"a": "1"})):
        with pytest.raises(KmsInvalidCiphertext) as refused:
            admin.decrypt(ciphertext, context=context)
        assert refused.value.request_id and refused.value.http_status == 400
        assert "secret" not in refused.value.message


def test_decrypt_refuses_a_blob_of_another_key_when_the_key_is_named(admin: KmsClient) -> None:
    one = new_key(admin, "AES_256", "ENCRYPT_DECRYPT")
    other = new_key(admin, "AES_256", "ENCRYPT_DECRYPT")
    blob = admin.encrypt(one.key_id, plaintext=b"x").ciphertext

    with pytest.raises((KmsInvalidCiphertext, InvalidInput)):
        admin.decrypt(blob, key_id=other.key_id)


def test_rotation_old_ciphertext_decrypts_until_its_version_is_retired(admin: KmsClient) -> None:
    key = new_key(admin, "AES_256", "ENCRYPT_DECRYPT")
    old = admin.encrypt(key.key_id, plaintext=b"written under v1")

    admin.rotate_key(key.key_id)
    new = admin.encrypt(key.key_id, plaintext=b"written under v2")
    assert (old.key_version, new.key_version) == (1, 2)
    assert admin.decrypt(old.ciphertext).plaintext == b"written under v1"

    admin.update_key_settings(key.key_id, min_decryption_version=2)

    with pytest.raises(KmsVersionRetired) as retired:
        admin.decrypt(old.ciphertext)
    assert retired.value.http_status == 422
    assert "1" in retired.value.message and "2" in retired.value.message
    assert admin.decrypt(new.ciphertext).plaintext == b"written under v2"


def test_rsa_oaep_ciphertext_made_offline_decrypts_on_the_server(admin: KmsClient) -> None:
    key = new_key(admin, "RSA_2048", "ENCRYPT_DECRYPT")
    public = admin.get_public_key(key.key_id).public_key
    assert isinstance(public, rsa.RSAPublicKey)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)

    raw = public.encrypt(b"made with openssl or anything else", oaep)
    decrypted = admin.decrypt(raw, key_id=key.key_id, algorithm="RSAES_OAEP_SHA_256")

    assert decrypted.plaintext == b"made with openssl or anything else"
    blob = admin.encrypt(key.key_id, plaintext=b"blob form").ciphertext
    assert admin.decrypt(blob).plaintext == b"blob form"


def test_generate_data_key_wraps_what_it_hands_out(admin: KmsClient) -> None:
    key = new_key(admin, "AES_256", "ENCRYPT_DECRYPT")

    data_key = admin.generate_data_key(key.key_id, context={"file": "a"})
    wrapped_only = admin.generate_data_key(key.key_id, key_spec="AES_128", include_plaintext=False)

    assert data_key.plaintext is not None and len(data_key.plaintext) == 32
    assert admin.decrypt(data_key.ciphertext, context={"file": "a"}).plaintext == (
        data_key.plaintext
    )
    assert wrapped_only.plaintext is None
    assert len(admin.decrypt(wrapped_only.ciphertext).plaintext) == 16
    assert data_key.plaintext.hex() not in repr(data_key)


def test_re_encrypt_moves_a_ciphertext_to_another_key(admin: KmsClient) -> None:
    source = new_key(admin, "AES_256", "ENCRYPT_DECRYPT")
    destination = new_key(admin, "AES_256", "ENCRYPT_DECRYPT")
    blob = admin.encrypt(source.key_id, plaintext=b"moved", context={"k": "v"}).ciphertext

    moved = admin.re_encrypt(
        blob, destination_key_id=destination.key_id, source_context={"k": "v"},
        destination_context={"k": "w"},
    )  # fmt: skip

    assert (moved.source_key_id, moved.key_id) == (source.key_id, destination.key_id)
    assert admin.decrypt(moved.ciphertext, context={"k": "w"}).plaintext == b"moved"


# -- MAC, random ---------------------------------------------------------------------------


def test_generate_mac_and_verify_mac(admin: KmsClient) -> None:
    key = new_key(admin, "HMAC_512", "GENERATE_VERIFY_MAC")

    tag = admin.generate_mac(key.key_id, message=MESSAGE, algorithm="HMAC_SHA_512")

    assert len(tag.mac) == 64
    assert admin.verify_mac(key.key_id, message=MESSAGE, mac=tag.mac, algorithm="HMAC_SHA_512")
    assert not admin.verify_mac(
        key.key_id, message=MESSAGE + b".", mac=tag.mac, algorithm="HMAC_SHA_512"
    ).value


def test_generate_random_answers_the_bytes_asked_for(admin: KmsClient) -> None:
    first, second = admin.generate_random(32), admin.generate_random(32)

    assert len(first.random) == 32
    assert first.random != second.random
    assert first.random.hex() not in repr(first)


# -- batch -----------------------------------------------------------------------------------


def test_batch_answers_each_item_and_one_failure_fails_only_itself(admin: KmsClient) -> None:
    signer = new_key(admin, "EC_P256", "SIGN_VERIFY")
    sealer = new_key(admin, "AES_256", "ENCRYPT_DECRYPT")
    messages = [f"item {n}".encode() for n in range(5)]

    signed = admin.batch(
        [SignItem(signer.key_id, "ECDSA_SHA_256", message=m) for m in messages]
        + [SignItem(sealer.key_id, "ECDSA_SHA_256", message=b"wrong usage")]
        + [EncryptItem(sealer.key_id, b"sealed in a batch", context={"n": "1"})]
    )

    assert isinstance(signed, BatchResult) and len(signed) == 7
    assert [outcome.ok for outcome in signed] == [True] * 5 + [False, True]
    failed = signed.results[5]
    assert isinstance(failed.error, KmsIncorrectKeyUsage)
    with pytest.raises(KmsIncorrectKeyUsage):
        failed.unwrap()
    signatures = [outcome.unwrap() for outcome in signed.results[:5]]
    sealed = signed.results[6].unwrap()

    checked = admin.batch(
        [
            VerifyItem(signer.key_id, "ECDSA_SHA_256", s.signature, message=m)  # type: ignore[union-attr]
            for s, m in zip(signatures, reversed(messages), strict=True)
        ]
        + [DecryptItem(sealer.key_id, sealed.ciphertext, context={"n": "1"})]  # type: ignore[union-attr]
    )
    assert [outcome.unwrap().value for outcome in checked.results[:5]] == [  # type: ignore[union-attr]
        False, False, True, False, False,
    ]  # fmt: skip
    assert checked.results[5].unwrap().plaintext == b"sealed in a batch"  # type: ignore[union-attr]


# -- bring your own key ------------------------------------------------------------------------


def test_imported_aes_material_encrypts_like_the_original(admin: KmsClient) -> None:
    key = new_key(admin, "AES_256", "ENCRYPT_DECRYPT", origin="EXTERNAL")
    assert (key.state, key.primary_version) == ("PendingImport", None)
    material = os.urandom(32)

    parameters = admin.get_parameters_for_import(
        key.key_id, wrapping_algorithm="RSAES_OAEP_SHA_256"
    )
    imported = admin.import_key_material(
        key.key_id,
        import_token=parameters.import_token,
        encrypted_key_material=wrap_key_material(parameters, material),
    )

    assert (imported.state, imported.primary_version, imported.origin) == (
        "Enabled", 1, "EXTERNAL",
    )  # fmt: skip
    blob = admin.encrypt(key.key_id, plaintext=b"byok").ciphertext
    assert admin.decrypt(blob).plaintext == b"byok"
    assert parameters.import_token not in repr(parameters)


def test_imported_private_key_signs_for_its_public_key(admin: KmsClient) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    key = new_key(admin, "EC_P256", "SIGN_VERIFY", origin="EXTERNAL")
    parameters = admin.get_parameters_for_import(key.key_id)
    pkcs8 = private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )  # fmt: skip

    admin.import_key_material(
        key.key_id,
        import_token=parameters.import_token,
        encrypted_key_material=wrap_key_material(parameters, pkcs8),
    )
    signature = admin.sign(key.key_id, message=MESSAGE, algorithm="ECDSA_SHA_256").signature

    private.public_key().verify(signature, MESSAGE, ec.ECDSA(hashes.SHA256()))


def test_a_public_key_alone_verifies_but_never_signs(admin: KmsClient) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key = admin.import_public_key(pem, alias=f"alias/{unique('partner')}")
    signature = private.sign(MESSAGE, ec.ECDSA(hashes.SHA256()))

    assert (key.origin, key.spec, key.usage) == ("PUBLIC_ONLY", "EC_P256", "SIGN_VERIFY")
    assert admin.verify(
        key.key_id, message=MESSAGE, signature=signature, algorithm="ECDSA_SHA_256"
    ).value
    with pytest.raises((KmsInvalidState, KmsIncorrectKeyUsage, KmsUnsupportedAlgorithm)):
        admin.sign(key.key_id, message=MESSAGE, algorithm="ECDSA_SHA_256")


# -- access points (seed 001) -------------------------------------------------------------------


def test_access_point_files_sign_and_verify_with_its_key_only(
    admin: KmsClient, server: LiveServer, tmp_path: Path
) -> None:
    own = new_key(admin, "RSA_2048", "SIGN_VERIFY", alias=f"alias/{unique('seed')}")
    other = new_key(admin, "RSA_2048", "SIGN_VERIFY")
    name = unique("KAAP")
    credentials = admin.create_access_point(name, keys=[own.key_id], operations=["sign", "verify"])
    files = credentials.write(tmp_path / "ap")
    assert read_client_key_file(files.client_key_file)[0] == name
    assert credentials.password not in repr(credentials)

    with KmsClient(
        server.url,
        client_key_file=files.client_key_file,
        password=files.password_file.read_text(),
        ca=files.ca_file,
    ) as app:
        signed = app.sign(key_id=own.key_id, message=MESSAGE, algorithm="RSA_PSS_SHA_256")
        verified = app.verify(
            key_id=own.key_id, message=MESSAGE, signature=signed.signature,
            algorithm="RSA_PSS_SHA_256",
        )  # fmt: skip
        assert verified.value and signed.request_id and verified.request_id

        refusals = [
            lambda: app.sign(key_id=other.key_id, message=MESSAGE, algorithm="RSA_PSS_SHA_256"),
            lambda: app.get_public_key(own.key_id),
            lambda: app.rotate_key(own.key_id),
            app.list_keys,
            lambda: app.create_key(spec="AES_256", usage="ENCRYPT_DECRYPT"),
        ]
        for attempt in refusals:
            with pytest.raises(AccessDenied) as refused:
                attempt()
            assert refused.value.http_status == 403 and refused.value.request_id


def test_access_point_client_takes_the_password_file_and_defaults_ca(
    admin: KmsClient, server: LiveServer, tmp_path: Path
) -> None:
    key = new_key(admin, "EC_P256", "SIGN_VERIFY")
    files = admin.create_access_point(unique("app"), keys=[key.key_id], operations=["sign"]).write(
        tmp_path / "ap"
    )

    with KmsClient(
        server.url.removeprefix("https://"),
        client_key_file=files.client_key_file,
        password_file=files.password_file,
    ) as app:
        assert app.sign(key.key_id, message=b"m", algorithm="ECDSA_SHA_256").key_version == 1


def test_from_bundle_presents_a_pkcs12_identity(server: LiveServer) -> None:
    with KmsClient.from_bundle(
        server.admin_p12, server.admin_p12_password, url=server.url, ca=server.ca_file
    ) as client:
        key = client.create_key(spec="HMAC_256", usage="GENERATE_VERIFY_MAC")

    assert isinstance(client, KmsClient)
    assert key.state == "Enabled"


def test_key_usage_lists_each_use_with_its_request_id(admin: KmsClient) -> None:
    key = new_key(admin, "EC_P256", "SIGN_VERIFY")
    signed = admin.sign(key.key_id, message=MESSAGE, algorithm="ECDSA_SHA_256")

    usage = admin.key_usage(key.key_id)

    assert signed.request_id in {event.request_id for event in usage.items}
    assert usage.request_id


# -- refusals --------------------------------------------------------------------------------


def test_an_unknown_key_is_key_not_found_with_the_request_id(admin: KmsClient) -> None:
    with pytest.raises(KmsKeyNotFound) as missing:
        admin.describe_key(f"key-{uuid.uuid4()}")

    assert missing.value.http_status == 404
    assert missing.value.request_id


def test_wrong_usage_wrong_algorithm_and_wrong_digest_are_typed_errors(admin: KmsClient) -> None:
    sealer = new_key(admin, "AES_256", "ENCRYPT_DECRYPT")
    signer = new_key(admin, "EC_P256", "SIGN_VERIFY")

    with pytest.raises(KmsIncorrectKeyUsage):
        admin.sign(sealer.key_id, message=MESSAGE, algorithm="ECDSA_SHA_256")
    with pytest.raises(KmsUnsupportedAlgorithm):
        admin.sign(signer.key_id, message=MESSAGE, algorithm="RSA_PSS_SHA_256")
    with pytest.raises(InvalidInput):
        admin.sign(signer.key_id, digest=b"\x00" * 31, algorithm="ECDSA_SHA_256")


def test_an_oversized_message_is_refused_with_a_pointer_to_digest_mode(admin: KmsClient) -> None:
    signer = new_key(admin, "EC_P256", "SIGN_VERIFY")

    with pytest.raises(PayloadTooLarge) as refused:
        admin.sign(signer.key_id, message=b"x" * 100_000, algorithm="ECDSA_SHA_256")

    assert "digest" in refused.value.message


def test_arguments_are_checked_before_anything_is_sent(admin: KmsClient, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="exactly one of message= and digest="):
        admin.sign("key-x", message=b"m", digest=b"d", algorithm="ECDSA_SHA_256")
    with pytest.raises(InvalidInput, match="at least one setting"):
        admin.update_key_settings("key-x")
    with pytest.raises(InvalidInput):
        admin.batch([])
    with pytest.raises(InvalidInput, match="password"):
        KmsClient("https://127.0.0.1:1", client_key_file=tmp_path / "none.json")
    garbage = tmp_path / "clientKey_x.json"
    garbage.write_text('{"KeyId": "x"}')
    with pytest.raises(MalformedData):
        KmsClient("https://127.0.0.1:1", client_key_file=garbage, password="p")


def test_a_wrong_access_point_password_is_a_password_error(
    admin: KmsClient, server: LiveServer, tmp_path: Path
) -> None:
    key = new_key(admin, "EC_P256", "SIGN_VERIFY")
    files = admin.create_access_point(unique("app"), keys=[key.key_id], operations=["sign"]).write(
        tmp_path / "ap"
    )

    with pytest.raises(PasswordError):
        KmsClient(server.url, client_key_file=files.client_key_file, password="wrong")


def test_signature_from_the_server_verifies_offline_only_for_its_message(
    admin: KmsClient,
) -> None:
    key = new_key(admin, "EC_P384", "SIGN_VERIFY")
    signed = admin.sign(key.key_id, message=MESSAGE, algorithm="ECDSA_SHA_384")
    public = admin.get_public_key(key.key_id).public_key
    assert isinstance(public, ec.EllipticCurvePublicKey)

    public.verify(signed.signature, MESSAGE, ec.ECDSA(hashes.SHA384()))
    with pytest.raises(InvalidSignature):
        public.verify(signed.signature, MESSAGE + b"x", ec.ECDSA(hashes.SHA384()))
