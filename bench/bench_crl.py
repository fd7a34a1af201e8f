"""CRL publication with many revoked certificates, next to ``openssl ca -gencrl``.

Run: ``.venv/bin/python bench/bench_crl.py [--entries 1000000]``

Through certward's own services on a real SQLite file: the revoked entries are
stored as ``revoke_certificate`` stores them (DER encoded once, at revocation),
then ``publish_crl`` reads, joins, signs, stores and writes the CRL. The
reference is ``openssl ca -gencrl`` over an index.txt of the same revocations,
signed by the same CA key, in the same run. To keep the set-up affordable, the
bulk of the revoked certificates are inserted directly as rows (every row a
copy of one real certificate with its own serial); the revocations that are
timed one by one are real ``revoke_certificate`` calls on issued certificates.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Table

from bench.bench_crl_encoding import openssl_gencrl
from bench.common import Row, machine, markdown_table, pin_to_core, timed
from certward.ca.authority import create_ca
from certward.ca.context import CAContext
from certward.ca.crl import publish_crl
from certward.ca.crl_encoding import encode_revoked_entry
from certward.ca.group_commit import CERTIFICATES
from certward.ca.issue import issue_many, leaf_request
from certward.ca.revoke import revoke_certificate
from certward.crypto.serials import random_serial, serial_hex
from certward.datadir import initialise_data_dir
from certward.logs import configure_logging
from certward.store.models import RevocationRow

_REVOCATIONS = cast(Table, RevocationRow.__table__)
_REASON = x509.ReasonFlags.superseded
Revocation = tuple[int, datetime, x509.ReasonFlags | None]


def _median_revoke_seconds(ctx: CAContext, serials: list[str]) -> float:
    times = [timed(lambda s=s: revoke_certificate(ctx, s, reason="superseded"))[1] for s in serials]
    return statistics.median(times)


def _bulk_revoked(ctx: CAContext, count: int, template_der: bytes, ca_id: int) -> list[Revocation]:
    """Insert ``count`` revoked certificates as rows; return (serial, time, reason) for openssl."""
    revocations: list[Revocation] = []
    now = ctx.clock() - timedelta(days=1)
    batch = 20_000
    with ctx.database.engine.connect() as connection:
        for start in range(0, count, batch):
            certs: list[dict[str, object]] = []
            revs: list[dict[str, object]] = []
            first_id = start + 1_000_000_000  # ids far above the real certificates'
            for offset in range(min(batch, count - start)):
                serial = random_serial()
                text = serial_hex(serial)
                certs.append(
                    {
                        "id": first_id + offset,
                        "serial": text,
                        "ca_id": ca_id,
                        "profile": "client",
                        "is_ca": False,
                        "subject": "CN=bulk",
                        "common_name": "bulk",
                        "sans": "",
                        "key_type": "ec-p256",
                        "fingerprint": "0" * 64,
                        "not_before": now,
                        "not_after": now + timedelta(days=365),
                        "issued_at": now,
                        "der": template_der,
                        "key_sealed": None,
                        "revoked_at": now,
                        "revocation_reason": "superseded",
                    }
                )
                revs.append(
                    {
                        "ca_id": ca_id,
                        "certificate_id": first_id + offset,
                        "serial": text,
                        "revoked_at": now,
                        "reason": "superseded",
                        "entry_der": encode_revoked_entry(serial, now, _REASON),
                    }
                )
                revocations.append((serial, now, _REASON))
            with connection.begin():
                connection.execute(CERTIFICATES.insert(), certs)
                connection.execute(_REVOCATIONS.insert(), revs)
    return revocations


def run(entries: int) -> list[Row]:
    pin_to_core(0)
    configure_logging(level="warning")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        ctx = initialise_data_dir(Path(tmp) / "data")
        create_ca(ctx, name="root", subject="/CN=Bench Root")
        create_ca(ctx, name="issuing", subject="/CN=Bench Issuing", parent="root")
        probes = issue_many(
            ctx,
            ca_name="issuing",
            profile="client",
            requests=[leaf_request(common_name=f"probe{i}") for i in range(200)],
        )
        serials = [p.serial for p in probes]
        at_zero = _median_revoke_seconds(ctx, serials[:100])
        with ctx.database.read() as session:
            ca_row = ctx.ca_row(session, "issuing")
            ca_id = ca_row.id
            loaded = ctx.load(session, ca_row)
        template_der = probes[0].certificate.public_bytes(serialization.Encoding.DER)
        revocations = _bulk_revoked(ctx, entries, template_der, ca_id)
        at_many = _median_revoke_seconds(ctx, serials[100:])
        rows.append(
            Row(
                f"revoke one certificate with {entries:,} revoked (vs none)",
                1 / at_many,
                1 / at_zero,
                "same with 0 revoked",
                "/s",
                "flat (ratio ≈ 1)",
                at_many <= at_zero * 1.5,
            )
        )
        crl, seconds = timed(lambda: publish_crl(ctx, "issuing"))
        total = crl.entries
        all_revoked = revocations + [(int(s, 16), ctx.clock(), _REASON) for s in serials]
        workdir = Path(tmp) / "openssl"
        workdir.mkdir()
        openssl_seconds, openssl_entries = openssl_gencrl(
            workdir, loaded.key, loaded.certificate, all_revoked
        )
        assert openssl_entries == total, (openssl_entries, total)
        rows.append(
            Row(
                f"publish CRL with {total:,} entries (entries/s)",
                total / seconds,
                total / openssl_seconds,
                f"openssl ca -gencrl, {openssl_seconds:.1f} s",
                "/s",
                "≥ 2x openssl",
                seconds * 2 <= openssl_seconds,
            )
        )
        print(
            f"publish_crl: {seconds:.2f} s for {total:,} entries; openssl ca -gencrl: "
            f"{openssl_seconds:.2f} s; revoke median {at_zero * 1e3:.2f} ms at 0, "
            f"{at_many * 1e3:.2f} ms at {entries:,}"
        )
        ctx.database.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    args = parser.parse_args()
    rows = run(args.entries)
    print(f"machine: {machine()}, one core")
    print(markdown_table(rows))


if __name__ == "__main__":
    main()
