"""Application access points: a principal held to some keys and operations, and its bundle."""

from __future__ import annotations

import base64

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

from certward.access.grants import Grant, Permission, is_allowed
from certward.access.principals import list_principals
from certward.errors import InvalidInput, KmsKeyNotFound
from certward.kms.access_points import create_access_point
from certward.kms.permissions import may_use_key
from certward.kms.specs import KeySpec
from tests.kms.conftest import Keys
from tests.support.pki import PKI


@pytest.fixture
def pki_kms(kms: Keys) -> Keys:
    PKI.create(kms.ctx)
    return kms


def test_the_bundle_is_a_password_protected_client_identity_and_the_root(pki_kms: Keys) -> None:
    key = pki_kms.create(KeySpec.RSA_2048, alias="alias/files")

    point = create_access_point(
        pki_kms.ctx,
        name="billing-app",
        key_refs=["alias/files"],
        operations=["sign", "verify"],
        ca_name="issuing",
    )

    assert point.client_key["KeyId"] == "billing-app"
    data = base64.b64decode(point.client_key["PrivateKeyData"])
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(data, b"wrong")
    private, certificate, chain = pkcs12.load_key_and_certificates(data, point.password.encode())
    assert private is not None and certificate is not None
    assert certificate.subject.rfc4514_string() == "CN=billing-app"
    root = x509.load_pem_x509_certificate(point.ca_pem)
    assert root.subject == root.issuer and root in chain
    assert point.key_ids == (key.key_id,)
    assert point.principal.grants == (
        Grant(Permission.KMS_USE, resources=(key.key_id,), operations=("sign", "verify")),
    )


def test_the_grant_allows_its_keys_and_operations_only(pki_kms: Keys) -> None:
    mine = pki_kms.create(KeySpec.EC_P256, alias="alias/mine")
    other = pki_kms.create(KeySpec.EC_P256)

    grants = create_access_point(
        pki_kms.ctx, name="app", key_refs=[mine.key_id], operations=["sign"], ca_name="issuing"
    ).principal.grants

    assert may_use_key(grants, Permission.KMS_USE, (mine.key_id, "alias/mine"), operation="sign")
    assert not may_use_key(grants, Permission.KMS_USE, (mine.key_id,), operation="decrypt")
    assert not may_use_key(grants, Permission.KMS_USE, (other.key_id,), operation="sign")
    assert not is_allowed(grants, Permission.KMS_MANAGE)


@pytest.mark.parametrize(
    ("keys", "operations", "error"),
    [
        (["alias/missing"], ["sign"], KmsKeyNotFound),
        (["{key}"], ["sign", "delete"], InvalidInput),
        (["{key}"], [], InvalidInput),
        ([], ["sign"], InvalidInput),
    ],
    ids=["unknown-key", "unknown-operation", "no-operation", "no-key"],
)
def test_a_refused_access_point_creates_no_principal(
    pki_kms: Keys, keys: list[str], operations: list[str], error: type[Exception]
) -> None:
    key = pki_kms.create(KeySpec.EC_P256)
    before = list_principals(pki_kms.ctx)

    with pytest.raises(error):
        create_access_point(
            pki_kms.ctx,
            name="refused",
            key_refs=[ref.format(key=key.key_id) for ref in keys],
            operations=operations,
            ca_name="issuing",
        )

    assert list_principals(pki_kms.ctx) == before
