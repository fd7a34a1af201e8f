"""Authority slots: hash links OpenSSL finds (``openssl verify -CApath``), CRLs as ``hash.rN``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from certward.ca.context import CAContext
from certward.certs.manager import delete_certificate, install_certificate, install_crl
from certward.crypto.subject_hash import certificate_subject_hash
from certward.errors import InvalidSlotCRL, SlotNotAllowed
from tests.certs.conftest import MakeSlot, directory_state
from tests.certs.factory import Leaf, TestCA

pytestmark = pytest.mark.interop


def _verify(openssl: str, capath: Path, leaf: Leaf, tmp_path: Path, *crl_flags: str) -> str:
    target = tmp_path / "leaf.pem"
    target.write_bytes(leaf.cert_pem)
    untrusted = tmp_path / "untrusted.pem"
    untrusted.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in leaf.chain[:-1]))
    args = [openssl, "verify", *crl_flags, "-CApath", str(capath)]
    if leaf.chain[:-1]:
        args += ["-untrusted", str(untrusted)]
    done = subprocess.run([*args, str(target)], capture_output=True, text=True, check=False)
    return done.stdout + done.stderr


def test_truststore_links_each_ca_under_its_subject_hash(
    ca_context: CAContext, make_slot: MakeSlot, openssl: str, tmp_path: Path
) -> None:
    spec = make_slot("authority/truststore")
    roots = [TestCA(f"Root {n}") for n in range(3)]
    installed = [
        install_certificate(ca_context, "authority/truststore", r.cert_pem, actor="t")
        for r in roots
    ]

    for root, certificate in zip(roots, installed, strict=True):
        link = spec.directory / f"{certificate_subject_hash(root.certificate)}.0"
        assert os.readlink(link) == f"{certificate.id}.pem"
        assert "OK" in _verify(openssl, spec.directory, root.issue("svc"), tmp_path)


def test_same_subject_cas_get_consecutive_numbers_and_renumber_after_delete(
    ca_context: CAContext, make_slot: MakeSlot, openssl: str, tmp_path: Path
) -> None:
    spec = make_slot("authority/peers", lookup_hash_directory=True)
    twins = [TestCA("Same Name CA") for _ in range(3)]
    ids = [
        install_certificate(ca_context, "authority/peers", t.cert_pem, actor="t").id for t in twins
    ]
    name_hash = certificate_subject_hash(twins[0].certificate)
    assert sorted(os.listdir(spec.directory)) == [f"{name_hash}.{n}" for n in range(3)]

    delete_certificate(ca_context, "authority/peers", ids[0], actor="t")

    assert sorted(os.listdir(spec.directory)) == [f"{name_hash}.0", f"{name_hash}.1"]
    assert "OK" in _verify(openssl, spec.directory, twins[2].issue("svc"), tmp_path)
    assert "OK" not in _verify(openssl, spec.directory, twins[0].issue("svc"), tmp_path)


def test_ten_authorities_fit_and_each_verifies(
    ca_context: CAContext, make_slot: MakeSlot, openssl: str, tmp_path: Path
) -> None:
    spec = make_slot("authority/truststore")
    roots = [TestCA(f"Ten {n}") for n in range(10)]
    for root in roots:
        install_certificate(ca_context, "authority/truststore", root.cert_pem, actor="t")

    assert all("OK" in _verify(openssl, spec.directory, r.issue(), tmp_path) for r in roots)


def test_a_new_crl_revokes_a_peer_and_takes_the_next_number(
    ca_context: CAContext, make_slot: MakeSlot, openssl: str, tmp_path: Path
) -> None:
    spec = make_slot("authority/peers", lookup_hash_directory=True, crl_enabled=True)
    root = TestCA("Peers Root")
    install_certificate(ca_context, "authority/peers", root.cert_pem, actor="t")
    peer = root.issue("peer", client=True)
    first = install_crl(
        ca_context, "authority/peers", root.crl().public_bytes(Encoding.PEM), actor="t"
    )
    assert "OK" in _verify(openssl, spec.directory, peer, tmp_path, "-crl_check")

    second = install_crl(
        ca_context,
        "authority/peers",
        root.crl((peer.certificate,)).public_bytes(Encoding.DER),
        actor="t",
    )

    name_hash = certificate_subject_hash(root.certificate)
    assert (first.file_name, second.file_name) == (f"{name_hash}.r0", f"{name_hash}.r1")
    assert "certificate revoked" in _verify(openssl, spec.directory, peer, tmp_path, "-crl_check")


def test_crls_that_go_back_or_come_from_strangers_are_refused(
    ca_context: CAContext, make_slot: MakeSlot
) -> None:
    spec = make_slot("authority/peers", lookup_hash_directory=True, crl_enabled=True)
    root = TestCA("Peers Root")
    install_certificate(ca_context, "authority/peers", root.cert_pem, actor="t")
    install_crl(
        ca_context, "authority/peers", root.crl(number=5).public_bytes(Encoding.PEM), actor="t"
    )
    before = directory_state(spec.directory)
    from datetime import UTC, datetime, timedelta

    stale = root.crl(
        number=9,
        this_update=datetime.now(UTC) - timedelta(days=10),
        next_update=datetime.now(UTC) - timedelta(days=3),
    )
    for bad in (
        root.crl(number=4).public_bytes(Encoding.PEM),
        TestCA("Peers Root").crl().public_bytes(Encoding.PEM),
        TestCA("Stranger").crl().public_bytes(Encoding.PEM),
        stale.public_bytes(Encoding.PEM),
        b"garbage",
    ):
        with pytest.raises(InvalidSlotCRL):
            install_crl(ca_context, "authority/peers", bad, actor="t")

    assert directory_state(spec.directory) == before


def test_slots_without_crl_enabled_refuse_crls(ca_context: CAContext, make_slot: MakeSlot) -> None:
    make_slot("authority/truststore")
    root = TestCA("Root")
    install_certificate(ca_context, "authority/truststore", root.cert_pem, actor="t")

    with pytest.raises(SlotNotAllowed, match="crl_enabled"):
        install_crl(
            ca_context, "authority/truststore", root.crl().public_bytes(Encoding.PEM), actor="t"
        )
