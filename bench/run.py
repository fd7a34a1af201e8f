"""Run the benchmark suite and write docs/benchmarks.md (every figure next to its reference).

Run: ``make bench`` (full) or ``make bench-quick`` (smaller counts, ~2 minutes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import bench_crl, bench_issuance, bench_kds, bench_kms, bench_ocsp, bench_server
from bench.common import Row, machine, markdown_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    args = parser.parse_args()
    rows: list[Row] = []
    rows += bench_issuance.run(5_000 if args.quick else 20_000)
    rows += bench_crl.run(100_000 if args.quick else 1_000_000)
    rows += bench_server.run(args.quick)
    rows += bench_ocsp.run(args.quick)
    rows += bench_kds.run(args.quick)
    rows += bench_kms.run(args.quick)
    table = markdown_table(rows)
    report = (
        "# Benchmarks\n\n"
        "Written by `make bench` (or `make bench-quick`). Every certward figure stands next to a\n"
        "reference measured in the same run on the same machine; only the ratios compare.\n\n"
        f"Machine: {machine()}; certward pinned to one core. "
        f"Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
        f"{' (quick run)' if args.quick else ''}.\n\n"
        f"{table}\n"
    )
    out = ROOT / "docs" / "benchmarks.md"
    out.write_text(report, encoding="utf-8")
    print(report)


if __name__ == "__main__":
    main()
