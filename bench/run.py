"""Run the benchmark suite and write docs/benchmarks.md (every figure next to its reference).

Run: ``make bench`` (full, about half an hour) or ``make bench-quick`` (smaller counts, a few
minutes). ``--only crl,inventory`` runs some steps and prints their table without writing
the report (unless ``--out`` says where).

The report starts with the aims the issues name and whether this run meets them, then
every row (median of several runs, min..max), the charts (docs/benchmarks/*.png), the
details some steps add (query plans) and how long each step took.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import (
    bench_api_issuance,
    bench_cluster,
    bench_crl,
    bench_inventory,
    bench_issuance,
    bench_kds,
    bench_kms,
    bench_ocsp,
    bench_server,
    plots,
)
from bench.common import Results, Row, aims_table, all_cores, machine, markdown_table

REPORT = ROOT / "docs" / "benchmarks.md"


@dataclass(frozen=True)
class Step:
    """One part of the suite: its name, a rough duration (quick, full) and what it runs."""

    name: str
    title: str
    quick_seconds: float
    full_seconds: float
    measure: Callable[[bool], Results]


def _rows(rows: list[Row]) -> Results:
    return Results(rows=tuple(rows))


# Rough durations (seconds, quick and full) on the 2-core reference machine, when quiet.
STEPS = (
    Step(
        "issuance",
        "stored issuance, library (one core)",
        25,
        75,
        lambda quick: _rows(
            bench_issuance.run(5_000 if quick else 20_000, speed_seconds=1 if quick else 3)
        ),
    ),
    Step("crl", "CRL generation and revocation by size", 5, 240, lambda q: bench_crl.run(quick=q)),
    Step(
        "inventory",
        "inventory searches and start-up by store size",
        25,
        270,
        lambda q: bench_inventory.run(quick=q),
    ),
    Step("server", "mTLS keep-alive and handshakes", 40, 330, bench_server.run),
    Step("api-issuance", "API issuance vs cfssl, 1 and 2 workers", 60, 360, bench_api_issuance.run),
    Step("ocsp", "OCSP and ACME", 25, 110, lambda q: _rows(bench_ocsp.run(q))),
    Step("kds", "KDS key requests", 12, 60, lambda q: _rows(bench_kds.run(q))),
    Step("kms", "KMS sign/verify/encrypt", 30, 145, lambda q: _rows(bench_kms.run(q))),
    Step("cluster", "cluster on PostgreSQL", 25, 100, lambda q: _rows(bench_cluster.run(q))),
)


@dataclass(frozen=True)
class Done:
    """A step's results and how long it took (``failed``: the error that stopped it)."""

    step: Step
    results: Results
    seconds: float
    failed: str | None = None


def run_step(step: Step, quick: bool) -> Done:
    """Run ``step``; a failure becomes a row saying so, and the suite goes on."""
    print(f"\n== {step.title} ==", flush=True)
    started = time.perf_counter()
    try:
        results = step.measure(quick)
        failed = None
    except Exception as exc:
        traceback.print_exc()
        failed = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        nan = float("nan")
        results = Results(rows=(Row(step.title, nan, nan, "", "", note=f"failed: {failed}"),))
    finally:
        os.sched_setaffinity(0, all_cores())  # whatever the step pinned, the next starts free
    return Done(step, results, time.perf_counter() - started, failed)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def report(
    done: list[Done], *, quick: bool, started: dt.datetime, seconds: float, load: float
) -> str:
    """docs/benchmarks.md: aims, every row, charts, details, step timings."""
    rows = [row for d in done for row in d.results.rows]
    estimate = sum(d.step.quick_seconds if quick else d.step.full_seconds for d in done)
    parts = [
        "# Benchmarks\n",
        "Written by `make bench` (or `make bench-quick`, smaller counts). Every certward figure "
        "stands next to a reference measured in the same run on the same machine; only the "
        "ratios compare. Figures are medians of several runs with min..max in brackets; the "
        "notes say how many runs and where each process ran (which core).\n",
        f"Machine: {machine()}. Date: {started:%Y-%m-%d %H:%M} UTC"
        f"{' (quick run: smaller sizes, fewer and shorter runs)' if quick else ''}. "
        f"Wall time: {_minutes(seconds)} (estimated {_minutes(estimate)}). "
        f"Load average at the start: {load:.2f}.\n",
        "## Aims\n",
        "The aims the issues name, and whether this run meets them.\n",
        aims_table(rows) + "\n",
        "## Results\n",
        markdown_table(rows) + "\n",
    ]
    charts = [chart for d in done for chart in d.results.charts]
    if charts:
        parts.append("## Charts\n")
        parts += [f"![{c.title}](benchmarks/{c.name}.png)\n" for c in charts]
    notes = [note for d in done for note in d.results.notes]
    if notes:
        parts.append("## Details\n")
        parts += [note + "\n" for note in notes]
    parts.append("## Steps\n")
    lines = ["| step | estimated | took |", "|---|---:|---:|"]
    for d in done:
        guess = d.step.quick_seconds if quick else d.step.full_seconds
        status = f" (failed: {d.failed})" if d.failed else ""
        lines.append(f"| {d.step.title} | {_minutes(guess)} | {_minutes(d.seconds)}{status} |")
    parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts (a few minutes)")
    parser.add_argument(
        "--only", help=f"comma-separated steps of: {', '.join(s.name for s in STEPS)}"
    )
    parser.add_argument("--out", type=Path, help=f"the report (default: {REPORT} for a whole run)")
    args = parser.parse_args()
    steps = list(STEPS)
    if args.only:
        wanted = {name.strip() for name in args.only.split(",") if name.strip()}
        unknown = wanted - {s.name for s in STEPS}
        if unknown:
            parser.error(f"unknown steps: {', '.join(sorted(unknown))}")
        steps = [s for s in STEPS if s.name in wanted]
    out: Path | None = args.out or (None if args.only else REPORT)
    estimate = sum(s.quick_seconds if args.quick else s.full_seconds for s in steps)
    print(
        f"{'quick' if args.quick else 'full'} benchmark run of {len(steps)} steps: "
        f"estimated wall time {_minutes(estimate)} (rough; a busy machine takes longer)",
        flush=True,
    )
    started = dt.datetime.now(dt.UTC)
    load = os.getloadavg()[0]
    clock = time.perf_counter()
    done = [run_step(step, args.quick) for step in steps]
    seconds = time.perf_counter() - clock
    if args.quick:
        done = [
            replace(
                d,
                results=replace(
                    d.results,
                    charts=tuple(
                        replace(c, title=f"{c.title} (quick run)") for c in d.results.charts
                    ),
                ),
            )
            for d in done
        ]
    text = report(done, quick=args.quick, started=started, seconds=seconds, load=load)
    if out is not None:
        for d in done:
            for chart in d.results.charts:
                print(f"chart: {plots.draw(chart, out.parent / 'benchmarks')}")
        out.write_text(text, encoding="utf-8")
    print(text)
    print(f"wall time {_minutes(seconds)} (estimated {_minutes(estimate)})")
    if any(d.failed for d in done):
        raise SystemExit(f"failed steps: {', '.join(d.step.name for d in done if d.failed)}")


if __name__ == "__main__":
    main()
