"""Stored issuance throughput on one core, next to ``openssl speed`` in the same run.

Run: ``.venv/bin/python bench/bench_issuance.py [--count 20000]``

A certificate counts only once the commit that stores it has returned (SQLite
WAL, synchronous=FULL, a real file). Workloads, all EC P-256:

- server-side keys: key generation + signing + sealing the key + storing, through
  ``issue_many`` (batches committed on a writer thread while the next is signed);
- CSR signing: parsing each CSR and checking its signature + signing + storing;
- single: ``issue_certificate`` one call (one transaction) at a time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bench.common import Row, machine, markdown_table, openssl_speed, pin_to_core, timed
from certward.ca.authority import create_ca
from certward.ca.issue import csr_request, issue_certificate, issue_many, leaf_request
from certward.datadir import initialise_data_dir
from certward.logs import configure_logging


def _csrs(count: int) -> list[bytes]:
    csrs = []
    for index in range(count):
        key = ec.generate_private_key(ec.SECP256R1())
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, f"svc{index}")]))
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(f"svc{index}.example.com")]),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        csrs.append(csr.public_bytes(serialization.Encoding.DER))
    return csrs


def run(count: int) -> list[Row]:
    pin_to_core(0)
    configure_logging(level="warning")
    reference = openssl_speed("ecdsap256", seconds=3)["sign"]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        ctx = initialise_data_dir(Path(tmp) / "data")
        create_ca(ctx, name="root", subject="/CN=Bench Root")
        create_ca(ctx, name="issuing", subject="/CN=Bench Issuing", parent="root")

        def server_side() -> int:
            requests = [
                leaf_request(common_name=f"host{i}", sans=[f"DNS:host{i}.example.com"])
                for i in range(count)
            ]
            return len(issue_many(ctx, ca_name="issuing", profile="server", requests=requests))

        issued, seconds = timed(server_side)
        rows.append(
            Row(
                "stored issuance, server-side keys (library, bulk)",
                issued / seconds,
                reference,
                "openssl speed ecdsap256 sign",
                "/s",
                "≥ 3 500/s",
                issued / seconds >= 3500,
            )
        )

        csrs = _csrs(count)

        def from_csrs() -> int:
            requests = [csr_request(data) for data in csrs]
            return len(issue_many(ctx, ca_name="issuing", profile="server", requests=requests))

        issued, seconds = timed(from_csrs)
        rows.append(
            Row(
                "stored issuance, CSR signing (library, bulk)",
                issued / seconds,
                reference,
                "openssl speed ecdsap256 sign",
                "/s",
                "≥ 3 500/s",
                issued / seconds >= 3500,
            )
        )

        single = min(count, 2000)

        def one_by_one() -> int:
            for i in range(single):
                issue_certificate(
                    ctx,
                    ca_name="issuing",
                    profile="server",
                    common_name=f"one{i}",
                    sans=[f"DNS:one{i}.example.com"],
                )
            return single

        issued, seconds = timed(one_by_one)
        rows.append(
            Row(
                "stored issuance, one transaction per certificate",
                issued / seconds,
                reference,
                "openssl speed ecdsap256 sign",
                "/s",
            )
        )
        ctx.database.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20000)
    args = parser.parse_args()
    rows = run(args.count)
    print(f"machine: {machine()}, one core")
    print(markdown_table(rows))


if __name__ == "__main__":
    main()
