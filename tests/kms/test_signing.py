"""Signing and verifying: every algorithm, message or digest mode, checked by other tools too."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from certward.errors import (
    InvalidInput,
    KmsIncorrectKeyUsage,
    KmsUnsupportedAlgorithm,
    PayloadTooLarge,
)
from certward.kms import operations
from certward.kms.keys import LoadedKey
from certward.kms.specs import KeySpec, KeyUsage
from tests.kms.conftest import Keys

LIMIT = 4096
MESSAGE = b"the quarterly report, final version\n"
SIGNING = [
    (KeySpec.RSA_2048, "RSA_PSS_SHA_256"),
    (KeySpec.RSA_2048, "RSA_PSS_SHA_384"),
    (KeySpec.RSA_2048, "RSA_PKCS1_SHA_256"),
    (KeySpec.RSA_2048, "RSA_PKCS1_SHA_384"),
    (KeySpec.RSA_3072, "RSA_PSS_SHA_256"),
    (KeySpec.RSA_4096, "RSA_PKCS1_SHA_384"),
    (KeySpec.EC_P256, "ECDSA_SHA_256"),
    (KeySpec.EC_P384, "ECDSA_SHA_384"),
    (KeySpec.EC_SECP256K1, "ECDSA_SHA_256"),
    (KeySpec.ED25519, "ED25519"),
]
HASHES = {"256": hashes.SHA256(), "384": hashes.SHA384()}


@pytest.fixture(scope="module")
def signing_keys(shared_kms: Keys) -> dict[KeySpec, LoadedKey]:
    """One SIGN_VERIFY key per asymmetric spec."""
    return {
        spec: shared_kms.load(shared_kms.create(spec, KeyUsage.SIGN_VERIFY).key_id)
        for spec in {spec for spec, _ in SIGNING}
    }


def public_key_of(key: LoadedKey) -> object:
    return load_pem_public_key(operations.get_public_key(key).public_key_pem)


def verify_independently(public: object, algorithm: str, signature: bytes, message: bytes) -> None:
    """Verify with pyca/cryptography alone (raises InvalidSignature when wrong)."""
    digest = HASHES.get(algorithm[-3:])
    if isinstance(public, rsa.RSAPublicKey):
        assert digest is not None
        pad: padding.AsymmetricPadding = (
            padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
            if "PSS" in algorithm
            else padding.PKCS1v15()
        )
        public.verify(signature, message, pad, digest)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        assert digest is not None
        public.verify(signature, message, ec.ECDSA(digest))
    else:
        assert isinstance(public, ed25519.Ed25519PublicKey)
        public.verify(signature, message)


@pytest.mark.parametrize(("spec", "algorithm"), SIGNING, ids=str)
def test_a_signature_verifies_here_and_with_the_public_key_alone(
    signing_keys: dict[KeySpec, LoadedKey], spec: KeySpec, algorithm: str
) -> None:
    key = signing_keys[spec]

    signed = operations.sign(key, algorithm=algorithm, message=MESSAGE, max_message_bytes=LIMIT)
    checked = operations.verify(
        key,
        algorithm=algorithm,
        signature=signed.signature,
        message=MESSAGE,
        max_message_bytes=LIMIT,
    )

    assert (signed.key_id, signed.key_version, signed.algorithm) == (key.key_id, 1, algorithm)
    assert checked.value is True
    verify_independently(public_key_of(key), algorithm, signed.signature, MESSAGE)


@pytest.mark.parametrize(("spec", "algorithm"), SIGNING, ids=str)
def test_a_changed_message_or_signature_verifies_false_not_an_error(
    signing_keys: dict[KeySpec, LoadedKey], spec: KeySpec, algorithm: str
) -> None:
    key = signing_keys[spec]
    signature = operations.sign(
        key, algorithm=algorithm, message=MESSAGE, max_message_bytes=LIMIT
    ).signature
    damaged = bytes([signature[0] ^ 1]) + signature[1:]

    for message, candidate in ((MESSAGE + b"!", signature), (MESSAGE, damaged), (MESSAGE, b"")):
        result = operations.verify(
            key,
            algorithm=algorithm,
            signature=candidate,
            message=message,
            max_message_bytes=LIMIT,
        )
        assert result.value is False
        assert result.key_version == 1


@pytest.mark.parametrize(("spec", "algorithm"), [s for s in SIGNING if s[1] != "ED25519"], ids=str)
def test_a_digest_signed_verifies_against_the_whole_message(
    signing_keys: dict[KeySpec, LoadedKey], spec: KeySpec, algorithm: str
) -> None:
    key = signing_keys[spec]
    digest = hashlib.new(f"sha{algorithm[-3:]}", MESSAGE).digest()

    signed = operations.sign(key, algorithm=algorithm, digest=digest, max_message_bytes=LIMIT)

    verify_independently(public_key_of(key), algorithm, signed.signature, MESSAGE)
    assert operations.verify(
        key,
        algorithm=algorithm,
        signature=signed.signature,
        digest=digest,
        max_message_bytes=LIMIT,
    ).value
    with pytest.raises(InvalidSignature):
        verify_independently(public_key_of(key), algorithm, signed.signature, MESSAGE + b"x")


def test_rsa_pss_signatures_are_randomised_with_a_digest_long_salt(
    signing_keys: dict[KeySpec, LoadedKey],
) -> None:
    key = signing_keys[KeySpec.RSA_2048]
    public = public_key_of(key)
    assert isinstance(public, rsa.RSAPublicKey)

    first, second = (
        operations.sign(
            key, algorithm="RSA_PSS_SHA_256", message=MESSAGE, max_message_bytes=LIMIT
        ).signature
        for _ in range(2)
    )

    assert first != second
    strict = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    public.verify(first, MESSAGE, strict, hashes.SHA256())
    with pytest.raises(InvalidSignature):
        wrong_salt = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=20)
        public.verify(first, MESSAGE, wrong_salt, hashes.SHA256())


@pytest.mark.parametrize(
    ("spec", "algorithm"),
    [
        (KeySpec.EC_P256, "ECDSA_SHA_384"),
        (KeySpec.EC_P384, "ECDSA_SHA_256"),
        (KeySpec.EC_P256, "RSA_PSS_SHA_256"),
        (KeySpec.RSA_2048, "ECDSA_SHA_256"),
        (KeySpec.ED25519, "ECDSA_SHA_256"),
        (KeySpec.RSA_2048, "RSA_PSS_SHA_512"),
        (KeySpec.EC_P256, "ecdsa_sha_256"),
    ],
    ids=str,
)
def test_an_algorithm_the_key_does_not_sign_with_is_unsupported(
    signing_keys: dict[KeySpec, LoadedKey], spec: KeySpec, algorithm: str
) -> None:
    key = signing_keys[spec]
    for call in (operations.sign, operations.verify):
        options = {"signature": b"x"} if call is operations.verify else {}
        with pytest.raises(KmsUnsupportedAlgorithm, match=r"ECDSA|RSA|ED25519"):
            call(key, algorithm=algorithm, message=MESSAGE, max_message_bytes=LIMIT, **options)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("spec", "usage"),
    [(KeySpec.RSA_2048, KeyUsage.ENCRYPT_DECRYPT), (KeySpec.AES_256, KeyUsage.ENCRYPT_DECRYPT)],
    ids=str,
)
def test_signing_with_a_key_of_another_usage_is_refused(
    shared_kms: Keys, spec: KeySpec, usage: KeyUsage
) -> None:
    key = shared_kms.load(shared_kms.create(spec, usage).key_id)

    with pytest.raises(KmsIncorrectKeyUsage, match="SIGN_VERIFY"):
        operations.sign(key, algorithm="RSA_PSS_SHA_256", message=MESSAGE, max_message_bytes=LIMIT)
    with pytest.raises(KmsIncorrectKeyUsage):
        operations.verify(
            key,
            algorithm="RSA_PSS_SHA_256",
            message=MESSAGE,
            signature=b"x",
            max_message_bytes=LIMIT,
        )


@pytest.mark.parametrize(
    ("spec", "algorithm", "options", "message"),
    [
        (KeySpec.EC_P256, "ECDSA_SHA_256", {"digest": b"\0" * 31}, "SHA256 digest is 32 bytes"),
        (KeySpec.EC_P384, "ECDSA_SHA_384", {"digest": b"\0" * 32}, "SHA384 digest is 48 bytes"),
        (KeySpec.RSA_2048, "RSA_PSS_SHA_256", {"digest": b"\0" * 48}, "is 32 bytes, not 48"),
        (KeySpec.ED25519, "ED25519", {"digest": b"\0" * 32}, "no digest mode"),
        (KeySpec.EC_P256, "ECDSA_SHA_256", {"message": b"m", "digest": b"\0" * 32}, "exactly one"),
        (KeySpec.EC_P256, "ECDSA_SHA_256", {}, "exactly one"),
    ],
    ids=["short", "p384-short", "long", "ed25519-digest", "both", "neither"],
)
def test_bad_signing_input_is_invalid_input(
    signing_keys: dict[KeySpec, LoadedKey],
    spec: KeySpec,
    algorithm: str,
    options: dict[str, bytes],
    message: str,
) -> None:
    with pytest.raises(InvalidInput, match=message):
        operations.sign(signing_keys[spec], algorithm=algorithm, max_message_bytes=LIMIT, **options)


def test_a_message_over_the_limit_points_to_digest_mode(
    signing_keys: dict[KeySpec, LoadedKey],
) -> None:
    key = signing_keys[KeySpec.EC_P256]

    with pytest.raises(PayloadTooLarge, match=r"4097 bytes.*limit of 4096.*digest") as raised:
        operations.sign(
            key, algorithm="ECDSA_SHA_256", message=b"x" * 4097, max_message_bytes=LIMIT
        )

    assert raised.value.code == "input.too_large"
    at_limit = operations.sign(
        key, algorithm="ECDSA_SHA_256", message=b"x" * 4096, max_message_bytes=LIMIT
    )
    assert at_limit.key_version == 1


def test_verifying_an_unknown_version_is_invalid_input(
    signing_keys: dict[KeySpec, LoadedKey],
) -> None:
    with pytest.raises(InvalidInput, match="no version 7"):
        operations.verify(
            signing_keys[KeySpec.EC_P256],
            algorithm="ECDSA_SHA_256",
            signature=b"x",
            message=MESSAGE,
            key_version=7,
            max_message_bytes=LIMIT,
        )


# -- interop: what openssl says about our signatures ------------------------------------


def _write(directory: Path, key: LoadedKey, algorithm: str) -> tuple[Path, Path, Path]:
    data, signature, public = (
        directory / "report.txt",
        directory / "report.sig",
        directory / "pub.pem",
    )
    data.write_bytes(MESSAGE)
    signature.write_bytes(
        operations.sign(
            key, algorithm=algorithm, message=MESSAGE, max_message_bytes=LIMIT
        ).signature
    )
    public.write_bytes(operations.get_public_key(key).public_key_pem)
    return data, signature, public


OPENSSL_VERIFY = {
    "RSA_PSS_SHA_256": [
        "dgst",
        "-sha256",
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        "rsa_pss_saltlen:32",
        "-verify",
        "{public}",
        "-signature",
        "{signature}",
        "{data}",
    ],
    "ECDSA_SHA_256": [
        "dgst",
        "-sha256",
        "-verify",
        "{public}",
        "-signature",
        "{signature}",
        "{data}",
    ],
    "ED25519": [
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        "{public}",
        "-rawin",
        "-in",
        "{data}",
        "-sigfile",
        "{signature}",
    ],
}


@pytest.mark.interop
@pytest.mark.parametrize(
    ("spec", "algorithm"),
    [
        (KeySpec.RSA_2048, "RSA_PSS_SHA_256"),
        (KeySpec.EC_P256, "ECDSA_SHA_256"),
        (KeySpec.ED25519, "ED25519"),
    ],
    ids=str,
)
def test_openssl_verifies_our_signature_and_refuses_a_changed_byte(
    signing_keys: dict[KeySpec, LoadedKey],
    openssl: str,
    tmp_path: Path,
    spec: KeySpec,
    algorithm: str,
) -> None:
    data, signature, public = _write(tmp_path, signing_keys[spec], algorithm)
    paths = {"data": data, "signature": signature, "public": public}
    command = [openssl, *(arg.format(**paths) for arg in OPENSSL_VERIFY[algorithm])]

    good = subprocess.run(command, capture_output=True, text=True, check=False)
    data.write_bytes(MESSAGE.replace(b"final", b"fInal"))
    bad = subprocess.run(command, capture_output=True, text=True, check=False)

    assert good.returncode == 0, good.stdout + good.stderr
    assert "Verified OK" in good.stdout or "Signature Verified Successfully" in good.stdout
    assert bad.returncode != 0
