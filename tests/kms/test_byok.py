"""Bring your own key: wrapped material imported under a one-time token; public keys alone."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import hashes, keywrap, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import func, select

from certward.errors import (
    InvalidInput,
    KmsImportInvalid,
    KmsIncorrectKeyUsage,
    KmsInvalidState,
)
from certward.kms import operations
from certward.kms.byok import (
    ImportParameters,
    get_import_parameters,
    import_key_material,
    import_public_key,
    purge_expired_import_tokens,
)
from certward.kms.ciphertext import parse_ciphertext
from certward.kms.keys import describe_key
from certward.kms.material import imported_material
from certward.kms.specs import KeyOrigin, KeySpec, KeyState, KeyUsage
from certward.store.models import KmsImportTokenRow
from tests.kms.conftest import Keys

LIMIT = 4096
OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def wrap(parameters: ImportParameters, material: bytes) -> bytes:
    """What an importer does with the parameters (as for a cloud KMS)."""
    public = serialization.load_pem_public_key(parameters.public_key_pem)
    assert isinstance(public, rsa.RSAPublicKey)
    if parameters.wrapping_algorithm == "RSAES_OAEP_SHA_256":
        return public.encrypt(material, OAEP)
    ephemeral = AESGCM.generate_key(bit_length=256)
    return public.encrypt(ephemeral, OAEP) + keywrap.aes_key_wrap_with_padding(ephemeral, material)


def pkcs8(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.mark.parametrize("algorithm", ["RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_256"])
def test_imported_aes_material_is_the_key_s_material(kms: Keys, algorithm: str) -> None:
    key = kms.create(KeySpec.AES_256, origin=KeyOrigin.EXTERNAL, alias="alias/byok")
    secret = os.urandom(32)
    parameters = get_import_parameters(kms.ctx, "alias/byok", wrapping_algorithm=algorithm)

    imported = import_key_material(
        kms.ctx,
        key.key_id,
        import_token=parameters.import_token,
        encrypted_key_material=wrap(parameters, secret),
    )

    assert (imported.state, imported.primary_version) == (KeyState.ENABLED, 1)
    blob = operations.encrypt(kms.load(key.key_id), plaintext=b"hi", max_message_bytes=LIMIT)
    parsed = parse_ciphertext(blob.ciphertext)
    mine = AESGCM(secret).decrypt(parsed.payload[:12], parsed.payload[12:], parsed.header + b"{}")
    assert mine == b"hi"


def test_an_imported_private_key_signs_as_its_owner_expects(kms: Keys) -> None:
    private = ec.generate_private_key(ec.SECP384R1())
    key = kms.create(KeySpec.EC_P384, origin=KeyOrigin.EXTERNAL)
    parameters = get_import_parameters(
        kms.ctx, key.key_id, wrapping_algorithm="RSA_AES_KEY_WRAP_SHA_256"
    )
    import_key_material(
        kms.ctx,
        key.key_id,
        import_token=parameters.import_token,
        encrypted_key_material=wrap(parameters, pkcs8(private)),
    )

    signed = operations.sign(
        kms.load(key.key_id), algorithm="ECDSA_SHA_384", message=b"m", max_message_bytes=LIMIT
    )

    private.public_key().verify(signed.signature, b"m", ec.ECDSA(hashes.SHA384()))


def test_the_wrapping_key_has_the_size_asked_for(shared_kms: Keys) -> None:
    key = shared_kms.create(KeySpec.AES_256, origin=KeyOrigin.EXTERNAL)

    parameters = get_import_parameters(
        shared_kms.ctx,
        key.key_id,
        wrapping_algorithm="RSAES_OAEP_SHA_256",
        wrapping_spec="RSA_4096",
    )

    public = serialization.load_pem_public_key(parameters.public_key_pem)
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 4096
    assert parameters.wrapping_spec == "RSA_4096"
    assert parameters.expires_at == shared_kms.clock.now + timedelta(days=1)


def test_each_import_is_a_new_primary_version_and_uses_up_its_token(kms: Keys) -> None:
    key = kms.create(KeySpec.HMAC_256, origin=KeyOrigin.EXTERNAL)
    tokens = []
    for _ in range(2):
        parameters = get_import_parameters(
            kms.ctx, key.key_id, wrapping_algorithm="RSAES_OAEP_SHA_256"
        )
        tokens.append(parameters)
        import_key_material(
            kms.ctx,
            key.key_id,
            import_token=parameters.import_token,
            encrypted_key_material=wrap(parameters, os.urandom(32)),
        )

    assert describe_key(kms.ctx, key.key_id).primary_version == 2
    with pytest.raises(KmsImportInvalid, match="unknown, used or expired"):
        import_key_material(
            kms.ctx,
            key.key_id,
            import_token=tokens[0].import_token,
            encrypted_key_material=wrap(tokens[0], os.urandom(32)),
        )


@pytest.mark.parametrize(
    ("spec", "material", "message"),
    [
        (KeySpec.AES_256, b"\0" * 16, "32 bytes, not 16"),
        (KeySpec.HMAC_256, b"\0" * 65, "32-64 bytes, not 65"),
        (KeySpec.HMAC_512, b"\0" * 32, "64-128 bytes, not 32"),
        (KeySpec.EC_P256, b"not a key", "PKCS#8"),
        (KeySpec.EC_P256, "p384", "EC_P384, not EC_P256"),
        (KeySpec.RSA_2048, "p384", "EC_P384, not RSA_2048"),
    ],
    ids=["short-aes", "long-hmac", "short-hmac", "garbage", "other-curve", "other-type"],
)
def test_material_that_does_not_fit_the_spec_is_refused(
    spec: KeySpec, material: bytes | str, message: str
) -> None:
    data = pkcs8(ec.generate_private_key(ec.SECP384R1())) if material == "p384" else material
    assert isinstance(data, bytes)

    with pytest.raises(KmsImportInvalid, match=message):
        imported_material(spec, data)


def test_a_refused_import_changes_nothing_and_keeps_the_token(kms: Keys) -> None:
    key = kms.create(KeySpec.EC_P256, origin=KeyOrigin.EXTERNAL)
    parameters = get_import_parameters(
        kms.ctx, key.key_id, wrapping_algorithm="RSA_AES_KEY_WRAP_SHA_256"
    )

    with pytest.raises(KmsImportInvalid):
        import_key_material(
            kms.ctx,
            key.key_id,
            import_token=parameters.import_token,
            encrypted_key_material=wrap(parameters, b"not a key"),
        )
    assert describe_key(kms.ctx, key.key_id).state is KeyState.PENDING_IMPORT

    private = ec.generate_private_key(ec.SECP256R1())
    imported = import_key_material(
        kms.ctx,
        key.key_id,
        import_token=parameters.import_token,
        encrypted_key_material=wrap(parameters, pkcs8(private)),
    )
    assert (imported.state, imported.primary_version) == (KeyState.ENABLED, 1)


def test_material_wrapped_for_another_token_or_algorithm_does_not_unwrap(kms: Keys) -> None:
    key = kms.create(KeySpec.AES_256, origin=KeyOrigin.EXTERNAL)
    oaep = get_import_parameters(kms.ctx, key.key_id, wrapping_algorithm="RSAES_OAEP_SHA_256")
    keywrapped = get_import_parameters(
        kms.ctx, key.key_id, wrapping_algorithm="RSA_AES_KEY_WRAP_SHA_256"
    )

    for token, wrapped in (
        (oaep.import_token, wrap(keywrapped, os.urandom(32))),
        (keywrapped.import_token, wrap(oaep, os.urandom(32))),
        (oaep.import_token, b"\0" * 384),
    ):
        with pytest.raises(KmsImportInvalid, match="could not be unwrapped"):
            import_key_material(
                kms.ctx, key.key_id, import_token=token, encrypted_key_material=wrapped
            )


def test_an_expired_token_is_refused_and_purged(kms: Keys) -> None:
    key = kms.create(KeySpec.AES_256, origin=KeyOrigin.EXTERNAL)
    parameters = get_import_parameters(kms.ctx, key.key_id, wrapping_algorithm="RSAES_OAEP_SHA_256")
    kms.clock.advance(minutes=kms.ctx.settings.kms.import_token_minutes)

    with pytest.raises(KmsImportInvalid, match="expired"):
        import_key_material(
            kms.ctx,
            key.key_id,
            import_token=parameters.import_token,
            encrypted_key_material=wrap(parameters, os.urandom(32)),
        )
    assert purge_expired_import_tokens(kms.ctx) == 1
    with kms.ctx.database.read() as session:
        assert session.scalar(select(func.count()).select_from(KmsImportTokenRow)) == 0


def test_only_external_keys_take_imports(kms: Keys) -> None:
    key = kms.create(KeySpec.AES_256)

    with pytest.raises(KmsInvalidState, match="origin EXTERNAL"):
        get_import_parameters(kms.ctx, key.key_id, wrapping_algorithm="RSAES_OAEP_SHA_256")
    with pytest.raises(InvalidInput, match="wrapping algorithm"):
        get_import_parameters(kms.ctx, key.key_id, wrapping_algorithm="RSAES_PKCS1_V1_5")


def test_a_public_key_alone_verifies_but_does_not_sign(kms: Keys) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signature = private.sign(b"release.tar", ec.ECDSA(hashes.SHA256()))

    key = import_public_key(kms.ctx, public_key_pem=pem, alias="alias/vendor")
    loaded = kms.load("alias/vendor")

    assert (key.origin, key.spec, key.usage, key.state) == (
        KeyOrigin.PUBLIC_ONLY,
        KeySpec.EC_P256,
        KeyUsage.SIGN_VERIFY,
        KeyState.ENABLED,
    )
    assert operations.verify(
        loaded,
        algorithm="ECDSA_SHA_256",
        signature=signature,
        message=b"release.tar",
        max_message_bytes=LIMIT,
    ).value
    assert operations.get_public_key(loaded).public_key_pem == pem
    with pytest.raises(KmsIncorrectKeyUsage, match="public key only"):
        operations.sign(loaded, algorithm="ECDSA_SHA_256", message=b"x", max_message_bytes=LIMIT)


def test_a_public_rsa_key_encrypts_for_its_owner(kms: Keys) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key = import_public_key(kms.ctx, public_key_pem=pem, usage=KeyUsage.ENCRYPT_DECRYPT)
    loaded = kms.load(key.key_id)

    blob = parse_ciphertext(
        operations.encrypt(loaded, plaintext=b"for you", max_message_bytes=LIMIT).ciphertext
    )

    label = padding.OAEP(
        mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=blob.header + b"{}"
    )
    assert private.decrypt(blob.payload, label) == b"for you"
    with pytest.raises(KmsIncorrectKeyUsage):
        operations.decrypt(loaded, blob)


@pytest.mark.parametrize(
    ("pem", "usage", "error"),
    [
        (
            b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            "SIGN_VERIFY",
            KmsImportInvalid,
        ),
        (b"garbage", "SIGN_VERIFY", KmsImportInvalid),
        ("ed25519", "ENCRYPT_DECRYPT", InvalidInput),
    ],
    ids=["bad-der", "not-pem", "usage-misfit"],
)
def test_bad_public_keys_are_refused(
    shared_kms: Keys, pem: bytes | str, usage: str, error: type[Exception]
) -> None:
    if pem == "ed25519":
        pem = (
            ed25519.Ed25519PrivateKey.generate()
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    assert isinstance(pem, bytes)

    with pytest.raises(error):
        import_public_key(shared_kms.ctx, public_key_pem=pem, usage=KeyUsage(usage))
