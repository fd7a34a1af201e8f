"""Creating, finding, describing and listing KMS keys, and their aliases."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_der_private_key
from sqlalchemy import select

from certward.errors import InvalidInput, KmsAliasExists, KmsKeyNotFound, NotFound
from certward.kms.aliases import create_alias, delete_alias
from certward.kms.keys import create_key, describe_key, list_keys, parse_key_ref
from certward.kms.material import generate_material
from certward.kms.records import key_material_record_id
from certward.kms.specs import KeyOrigin, KeySpec, KeyState, KeyUsage, check_usage
from certward.store.models import KmsKeyRow, KmsKeyVersionRow
from tests.kms.conftest import START, Keys

VALID = {
    KeySpec.AES_256: [KeyUsage.ENCRYPT_DECRYPT],
    KeySpec.RSA_2048: [KeyUsage.SIGN_VERIFY, KeyUsage.ENCRYPT_DECRYPT],
    KeySpec.RSA_3072: [KeyUsage.SIGN_VERIFY, KeyUsage.ENCRYPT_DECRYPT],
    KeySpec.RSA_4096: [KeyUsage.SIGN_VERIFY, KeyUsage.ENCRYPT_DECRYPT],
    KeySpec.EC_P256: [KeyUsage.SIGN_VERIFY],
    KeySpec.EC_P384: [KeyUsage.SIGN_VERIFY],
    KeySpec.EC_SECP256K1: [KeyUsage.SIGN_VERIFY],
    KeySpec.ED25519: [KeyUsage.SIGN_VERIFY],
    KeySpec.HMAC_256: [KeyUsage.GENERATE_VERIFY_MAC],
    KeySpec.HMAC_512: [KeyUsage.GENERATE_VERIFY_MAC],
}
PAIRS = [(spec, usage) for spec, usages in VALID.items() for usage in usages]
WRONG_PAIRS = [
    (spec, usage)
    for spec, usage in itertools.product(KeySpec, KeyUsage)
    if usage not in VALID[spec]
]


def test_every_spec_and_usage_makes_an_enabled_key_with_version_1(kms: Keys) -> None:
    for spec, usage in PAIRS:
        key = kms.create(spec, usage, description="for a test", tags={"team": "pki"})

        assert key.key_id.startswith("key-")
        assert (key.spec, key.usage, key.origin, key.state) == (
            spec,
            usage,
            KeyOrigin.CERTWARD,
            KeyState.ENABLED,
        )
        assert key.primary_version == 1
        assert [v.version for v in key.versions] == [1]
        assert key.versions[0].created_at == START
        assert (key.description, dict(key.tags)) == ("for a test", {"team": "pki"})
        assert describe_key(kms.ctx, key.key_id) == key


@pytest.mark.parametrize(("spec", "usage"), WRONG_PAIRS, ids=str)
def test_a_usage_the_spec_cannot_have_is_refused(spec: KeySpec, usage: KeyUsage) -> None:
    with pytest.raises(InvalidInput, match=f"{spec.value} keys are for"):
        check_usage(spec, usage)


def test_a_refused_key_stores_nothing(kms: Keys) -> None:
    with pytest.raises(InvalidInput):
        create_key(kms.ctx, spec=KeySpec.ED25519, usage=KeyUsage.ENCRYPT_DECRYPT)
    for options in BAD_OPTIONS:
        with pytest.raises(InvalidInput):
            kms.create(KeySpec.EC_P256, **options)

    assert list_keys(kms.ctx).items == ()


@pytest.mark.parametrize("spec", list(KeySpec), ids=str)
def test_generated_material_has_the_spec_s_type_and_size(spec: KeySpec) -> None:
    material = generate_material(spec)

    assert material.secret is not None
    if spec in (KeySpec.AES_256, KeySpec.HMAC_256):
        assert (len(material.secret), material.public_der) == (32, None)
    elif spec is KeySpec.HMAC_512:
        assert (len(material.secret), material.public_der) == (64, None)
    else:
        key = load_der_private_key(material.secret, password=None)
        assert material.public_der is not None
        if spec.is_rsa:
            assert isinstance(key, rsa.RSAPrivateKey)
            assert key.key_size == int(spec.value.split("_")[1])
        elif spec is KeySpec.ED25519:
            assert isinstance(key, ed25519.Ed25519PrivateKey)
        else:
            assert isinstance(key, ec.EllipticCurvePrivateKey)
            curve = {"EC_P256": "secp256r1", "EC_P384": "secp384r1", "EC_SECP256K1": "secp256k1"}
            assert key.curve.name == curve[spec.value]


def test_material_is_sealed_at_rest_under_the_version_s_record(kms: Keys) -> None:
    key = kms.create(KeySpec.AES_256)

    with kms.ctx.database.read() as session:
        version = session.scalar(select(KmsKeyVersionRow))
    assert version is not None and version.material_sealed is not None
    record = f"{key.key_id}/1"
    assert version.record == record
    secret = kms.ctx.keystore.open(
        version.material_sealed, record_id=key_material_record_id(record)
    )
    assert len(secret) == 32
    assert secret not in version.material_sealed


def test_an_external_key_waits_for_its_material(kms: Keys) -> None:
    key = kms.create(KeySpec.AES_256, origin=KeyOrigin.EXTERNAL)

    assert (key.origin, key.state) == (KeyOrigin.EXTERNAL, KeyState.PENDING_IMPORT)
    assert (key.primary_version, key.versions, key.min_decryption_version) == (None, (), None)


BAD_OPTIONS: list[dict[str, Any]] = [
    {"description": "x" * 1001},
    {"tags": {f"t{i}": "v" for i in range(51)}},
    {"tags": {"": "v"}},
    {"rotation_period_days": 4000},
    {"alias": "alias/with space"},
    {"alias": "signing"},
]


@pytest.mark.parametrize(
    ("options", "message"),
    list(
        zip(
            BAD_OPTIONS,
            [
                "description",
                "at most 50 tags",
                "tag name",
                "rotation_period_days",
                "alias",
                "alias",
            ],
            strict=True,
        )
    ),
)
def test_bad_options_are_refused_with_what_is_wrong(
    shared_kms: Keys, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        shared_kms.create(KeySpec.EC_P256, **options)


def test_a_key_is_found_by_its_id_and_by_each_alias_form(shared_kms: Keys) -> None:
    key = shared_kms.create(KeySpec.EC_P256, alias="alias/signing")

    for ref in (key.key_id, "alias/signing", "alias:signing"):
        assert describe_key(shared_kms.ctx, ref).key_id == key.key_id
    assert key.aliases == ("alias/signing",)


@pytest.mark.parametrize("ref", ["key-not-a-uuid", "signing", "", "alias/", "alias/a/b"])
def test_a_malformed_key_reference_is_invalid_input(ref: str) -> None:
    with pytest.raises(InvalidInput):
        parse_key_ref(ref)


def test_an_unknown_key_is_not_found(shared_kms: Keys) -> None:
    with pytest.raises(KmsKeyNotFound):
        describe_key(shared_kms.ctx, "key-00000000-0000-4000-8000-000000000000")
    with pytest.raises(KmsKeyNotFound):
        describe_key(shared_kms.ctx, "alias/nothing")


def test_an_alias_names_one_key_only(kms: Keys) -> None:
    first = kms.create(KeySpec.EC_P256, alias="alias/app")
    second = kms.create(KeySpec.EC_P256)

    with pytest.raises(KmsAliasExists):
        create_alias(kms.ctx, "alias/app", second.key_id)
    with pytest.raises(KmsAliasExists):
        kms.create(KeySpec.EC_P256, alias="alias/app")

    assert describe_key(kms.ctx, "alias/app").key_id == first.key_id
    assert len(list_keys(kms.ctx).items) == 2  # the refused create stored nothing


def test_aliases_move_by_delete_and_create(kms: Keys) -> None:
    first = kms.create(KeySpec.EC_P256, alias="alias/current")
    second = kms.create(KeySpec.EC_P256)

    removed = delete_alias(kms.ctx, "alias/current")
    added = create_alias(kms.ctx, "alias/current", second.key_id)

    assert (removed.key_id, added.key_id) == (first.key_id, second.key_id)
    assert describe_key(kms.ctx, "alias/current").key_id == second.key_id
    assert describe_key(kms.ctx, first.key_id).aliases == ()
    with pytest.raises(NotFound):
        delete_alias(kms.ctx, "alias/never")


def test_keys_are_listed_newest_first_in_pages(kms: Keys) -> None:
    made = [kms.create(KeySpec.AES_256).key_id for _ in range(5)]

    first = list_keys(kms.ctx, limit=2)
    second = list_keys(kms.ctx, limit=2, cursor=first.next_cursor)
    third = list_keys(kms.ctx, limit=2, cursor=second.next_cursor)

    listed = [k.key_id for page in (first, second, third) for k in page.items]
    assert listed == made[::-1]
    assert third.next_cursor is None


def test_the_key_row_holds_no_material(kms: Keys) -> None:
    kms.create(KeySpec.HMAC_256)

    with kms.ctx.database.read() as session:
        row = session.scalar(select(KmsKeyRow))
    assert row is not None
    assert all(not isinstance(value, bytes) for value in vars(row).values() if value is not None)
