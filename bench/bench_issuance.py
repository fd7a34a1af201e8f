"""Stored issuance throughput on one core, next to ``openssl speed`` in the same run.

Run: ``.venv/bin/python bench/bench_issuance.py [--count 20000]``

A certificate counts only once the commit that stores it has returned (SQLite
WAL, synchronous=FULL, a real file). Workloads (EC P-256 unless said):

- server-side keys: key generation + signing + sealing the key + storing, through
  ``issue_many`` (batches committed on a writer thread while the next is signed);
- CSR signing: parsing each CSR and checking its signature + signing + storing;
- single: ``issue_certificate`` one call (one transaction) at a time;
- RSA-2048: an RSA-2048 intermediate signing the same EC P-256 CSRs (next to
  ``openssl speed rsa2048`` sign/s: the CA's signature is the limit there).

Each figure is the median of several runs, with min..max.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bench.common import Row, Spread, machine, markdown_table, openssl_speed, pinned, timed
from certward.ca.authority import create_ca
from certward.ca.issue import csr_request, issue_certificate, issue_many, leaf_request
from certward.crypto.keys import KeyType
from certward.datadir import initialise_data_dir
from certward.logs import configure_logging

AIM = 3500  # stored certificates per second on one core (issue 1)


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


def _spread_rate(count: int, action: Callable[[], int], runs: int) -> Spread:
    rates = []
    for _ in range(runs):
        issued, seconds = timed(action)
        assert issued == count, (issued, count)
        rates.append(issued / seconds)
    return Spread.of(rates)


def _row(
    workload: str, rates: Spread, reference: float, reference_name: str, *, aim: bool, note: str
) -> Row:
    return Row(
        workload,
        rates.median,
        reference,
        reference_name,
        "/s",
        "≥ 3 500/s per core" if aim else "",
        rates.median >= AIM if aim else None,
        certward_range=rates.span,
        note=f"{rates.count} runs; {note}; one core",
    )


def run(count: int, *, runs: int = 3, speed_seconds: int = 3) -> list[Row]:
    """Library issuance rows: EC P-256 (server-side keys, CSRs, one by one) and an RSA-2048 CA."""
    configure_logging(level="warning")
    with pinned(0), tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        ec_speed = openssl_speed("ecdsap256", seconds=speed_seconds)["sign"]
        rsa_speed = openssl_speed("rsa2048", seconds=speed_seconds)["sign"]
        ec_name, rsa_name = "openssl speed ecdsap256 sign", "openssl speed rsa2048 sign"
        ctx = initialise_data_dir(Path(tmp) / "data")
        create_ca(ctx, name="root", subject="/CN=Bench Root")
        create_ca(ctx, name="issuing", subject="/CN=Bench Issuing", parent="root")
        create_ca(
            ctx,
            name="issuing-rsa",
            subject="/CN=Bench RSA Issuing",
            parent="root",
            key_type=KeyType.RSA_2048,
        )
        csrs = _csrs(count)

        def server_side() -> int:
            requests = [
                leaf_request(common_name=f"host{i}", sans=[f"DNS:host{i}.example.com"])
                for i in range(count)
            ]
            return len(issue_many(ctx, ca_name="issuing", profile="server", requests=requests))

        def from_csrs(ca_name: str, data: list[bytes]) -> int:
            requests = [csr_request(der) for der in data]
            return len(issue_many(ctx, ca_name=ca_name, profile="server", requests=requests))

        single = max(min(count // 10, 2000), 1)

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

        rsa_count = max(count // 4, 1)
        bulk = f"{count:,} per run, `issue_many` (batches committed while the next is signed)"
        rows = [
            _row(
                "stored issuance, EC P-256 CA, server-side keys (library, bulk)",
                _spread_rate(count, server_side, runs),
                ec_speed,
                ec_name,
                aim=True,
                note=bulk,
            ),
            _row(
                "stored issuance, EC P-256 CA, CSR signing (library, bulk)",
                _spread_rate(count, lambda: from_csrs("issuing", csrs), runs),
                ec_speed,
                ec_name,
                aim=True,
                note=bulk,
            ),
            _row(
                "stored issuance, EC P-256 CA, one transaction per certificate (library)",
                _spread_rate(single, one_by_one, runs),
                ec_speed,
                ec_name,
                aim=False,
                note=f"{single:,} `issue_certificate` calls per run",
            ),
            _row(
                "stored issuance, RSA-2048 CA, CSR signing (library, bulk)",
                _spread_rate(rsa_count, lambda: from_csrs("issuing-rsa", csrs[:rsa_count]), runs),
                rsa_speed,
                rsa_name,
                aim=False,
                note=f"{rsa_count:,} EC P-256 CSRs per run, `issue_many`",
            ),
        ]
        ctx.database.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows = run(args.count, runs=args.runs)
    print(f"machine: {machine()}, one core")
    print(markdown_table(rows))


if __name__ == "__main__":
    main()
