"""Trust anchors from a file or a one-level directory, in every format Limax reads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from structlog.testing import capture_logs

from certward.ca.authority import ca_chain
from certward.ca.crl import latest_crl
from certward.errors import ConfigError
from certward.kds.trusts import load_trusts, trust_files_state
from tests.kds.kds_service import KdsPKI

PASSPHRASE = b"correct horse battery staple"
DER = serialization.Encoding.DER
PEM = serialization.Encoding.PEM


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KdsPKI]:
    made = KdsPKI.create(tmp_path_factory.mktemp("trusts") / "certward-data")
    yield made
    made.close()


@pytest.fixture(scope="module")
def cas(pki: KdsPKI) -> tuple[x509.Certificate, x509.Certificate]:
    """(issuing, root)"""
    issuing, root = ca_chain(pki.context, "issuing")
    return issuing, root


def _subjects(certificates: tuple[x509.Certificate, ...]) -> list[str]:
    return [certificate.subject.rfc4514_string() for certificate in certificates]


def test_a_pem_bundle_gives_its_certificates_and_crls(
    tmp_path: Path, pki: KdsPKI, cas: tuple[x509.Certificate, x509.Certificate]
) -> None:
    issuing, root = cas
    bundle = tmp_path / "bundle.pem"
    crl = latest_crl(pki.context, "issuing").pem
    bundle.write_bytes(issuing.public_bytes(PEM) + crl + root.public_bytes(PEM))

    found = load_trusts(bundle)

    assert found.certificates == (issuing, root)
    assert [c.issuer for c in found.crls] == [issuing.subject]


@pytest.mark.parametrize("kind", ["der-cert", "der-crl", "p7b-pem", "p7b-der", "p12-open"])
def test_every_format_is_read(
    tmp_path: Path, pki: KdsPKI, cas: tuple[x509.Certificate, x509.Certificate], kind: str
) -> None:
    issuing, root = cas
    path = tmp_path / "anchor"
    data = {
        "der-cert": lambda: root.public_bytes(DER),
        "der-crl": lambda: latest_crl(pki.context, "root").der,
        "p7b-pem": lambda: pkcs7.serialize_certificates([issuing, root], PEM),
        "p7b-der": lambda: pkcs7.serialize_certificates([issuing, root], DER),
        "p12-open": lambda: pkcs12.serialize_key_and_certificates(
            None, None, None, [issuing, root], serialization.NoEncryption()
        ),
    }[kind]()
    path.write_bytes(data)

    found = load_trusts(path)

    if kind == "der-crl":
        assert found.certificates == () and len(found.crls) == 1
    elif kind == "der-cert":
        assert found.certificates == (root,)
    else:
        assert set(found.certificates) == {issuing, root}


def test_a_pkcs12_file_protected_by_the_key_passphrase_is_read_with_it(
    tmp_path: Path, cas: tuple[x509.Certificate, x509.Certificate]
) -> None:
    _, root = cas
    path = tmp_path / "trust.p12"
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"trust", None, None, [root], serialization.BestAvailableEncryption(PASSPHRASE)
        )
    )

    assert load_trusts(path, passphrase=PASSPHRASE).certificates == (root,)


def test_unreadable_entries_are_skipped_with_a_warning_that_holds_no_secret(
    tmp_path: Path, cas: tuple[x509.Certificate, x509.Certificate]
) -> None:
    issuing, root = cas
    directory = tmp_path / "trusts"
    (directory / "nested").mkdir(parents=True)
    (directory / "nested" / "deeper.pem").write_bytes(issuing.public_bytes(PEM))
    (directory / "root.crt").write_bytes(root.public_bytes(PEM))
    (directory / "garbage.bin").write_bytes(b"\x00\x01 not a certificate")
    (directory / "locked.p12").write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"x", None, None, [issuing], serialization.BestAvailableEncryption(PASSPHRASE)
        )
    )

    with capture_logs() as logs:
        found = load_trusts(directory, passphrase=b"wrong passphrase")

    assert found.certificates == (root,)  # one level only: nested/ is not read
    ignored = sorted(Path(e["path"]).name for e in logs if e["event"] == "kds.trust_entry_ignored")
    assert ignored == ["garbage.bin", "locked.p12"]
    assert b"wrong passphrase".decode() not in repr(logs)


def test_the_same_certificate_twice_is_trusted_once(
    tmp_path: Path, cas: tuple[x509.Certificate, x509.Certificate]
) -> None:
    _, root = cas
    directory = tmp_path / "trusts"
    directory.mkdir()
    (directory / "a.pem").write_bytes(root.public_bytes(PEM))
    (directory / "b.der").write_bytes(root.public_bytes(DER))

    assert load_trusts(directory).certificates == (root,)


def test_a_missing_trusts_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_trusts(tmp_path / "nowhere")


def test_a_changed_trust_file_changes_the_observed_state(
    tmp_path: Path, cas: tuple[x509.Certificate, x509.Certificate]
) -> None:
    issuing, root = cas
    directory = tmp_path / "trusts"
    directory.mkdir()
    (directory / "root.pem").write_bytes(root.public_bytes(PEM))
    before = trust_files_state(directory)

    (directory / "issuing.pem").write_bytes(issuing.public_bytes(PEM))

    assert trust_files_state(directory) != before
    assert _subjects(load_trusts(directory).certificates) == _subjects((issuing, root))
