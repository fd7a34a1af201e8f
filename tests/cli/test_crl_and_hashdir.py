"""``certward crl publish`` and ``certward hashdir sync``."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from cryptography import x509

from tests.cli.runner import Certward

HASH_FILE = re.compile(r"^[0-9a-f]{8}\.(r?)(0|[1-9][0-9]*)$")


def test_crl_publish_writes_the_next_crl_to_out(certward: Certward, tmp_path: Path) -> None:
    out = tmp_path / "issuing.crl.pem"

    published = certward.json("crl", "publish", "--ca", "issuing", "--out", out, "--days", "2")

    assert set(published) == {"ca", "crl_number", "this_update", "next_update", "entries", "path"}
    # Creating the CA issued CRL number 1.
    assert published["crl_number"] == 2
    assert published["entries"] == 0
    assert published["path"] == str(out)
    lifetime = datetime.fromisoformat(published["next_update"]) - datetime.fromisoformat(
        published["this_update"]
    )
    assert lifetime.days == 2
    crl = x509.load_pem_x509_crl(out.read_bytes())
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2


def test_crl_publish_der_writes_der(certward: Certward, tmp_path: Path) -> None:
    out = tmp_path / "issuing.crl"

    certward.run("crl", "publish", "--ca", "issuing", "--out", out, "--der")

    assert x509.load_der_x509_crl(out.read_bytes()).issuer.rfc4514_string() == (
        "O=certward tests,CN=certward CLI test issuing"
    )


def test_hashdir_sync_keeps_file_names_when_a_new_crl_replaces_the_old(
    certward: Certward, tmp_path: Path
) -> None:
    hashdir = tmp_path / "hashdir"
    first = certward.json("hashdir", "sync", hashdir, "--ca", "root", "--ca", "issuing", "--crl")
    certward.run("crl", "publish", "--ca", "issuing")

    second = certward.json("hashdir", "sync", hashdir, "--ca", "root", "--ca", "issuing", "--crl")

    assert first["directory"] == str(hashdir)
    assert [(e["kind"], e["action"]) for e in first["entries"]] == [
        ("certificate", "created"),
        ("certificate", "created"),
        ("crl", "created"),
        ("crl", "created"),
    ]
    assert all(HASH_FILE.match(e["file_name"]) for e in first["entries"])
    assert [e["file_name"] for e in second["entries"]] == [e["file_name"] for e in first["entries"]]
    assert [e["action"] for e in second["entries"]] == [
        "unchanged",
        "unchanged",
        "unchanged",
        "replaced",
    ]
    assert sorted(p.name for p in hashdir.iterdir()) == sorted(
        e["file_name"] for e in first["entries"]
    )
