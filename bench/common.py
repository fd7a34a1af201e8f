"""Shared pieces of the benchmarks: CPU pinning, openssl speed, timing, rows, charts, tables."""

from __future__ import annotations

import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


def all_cores() -> set[int]:
    """Every CPU core of this machine."""
    return set(range(os.cpu_count() or 1))


def pin_to_core(core: int = 0) -> None:
    """Run this process (and threads) on one core, so figures are per core."""
    os.sched_setaffinity(0, {core})


@contextmanager
def pinned(core: int = 0) -> Iterator[None]:
    """This process on one core inside the block, on every core again after it.

    Child processes inherit the affinity: whatever must use every core starts with
    :func:`affinity_prefix` ``(None)`` (or outside such a block).
    """
    before = os.sched_getaffinity(0)
    pin_to_core(core)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def affinity_prefix(core: int | None) -> list[str]:
    """``taskset`` arguments that run a command on ``core`` (None: on every core).

    Explicit even for "every core", because a child inherits the parent's
    affinity and the suite's own process may be pinned at the time.
    """
    cores = str(core) if core is not None else f"0-{(os.cpu_count() or 1) - 1}"
    return ["taskset", "-c", cores]


def timed(action: Callable[[], T]) -> tuple[T, float]:
    """``action()`` and the wall-clock seconds it took."""
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


@dataclass(frozen=True)
class Spread:
    """The median of several measurements and their min..max."""

    median: float
    low: float
    high: float
    count: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            return cls(math.nan, math.nan, math.nan, 0)
        return cls(statistics.median(values), min(values), max(values), len(values))

    @property
    def span(self) -> tuple[float, float]:
        return (self.low, self.high)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` (0..1) percentile of ``values`` (nearest rank)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _speed_line_matches(line: str, algorithm: str) -> bool:
    labels = {"ecdsap256": "nistp256", "ecdsap384": "nistp384", "ed25519": "Ed25519"}
    if algorithm.startswith("rsa"):
        return line.startswith("rsa ") and f" {algorithm[3:]} bits" in line
    return labels.get(algorithm, algorithm) in line


def openssl_speed(algorithm: str, *, seconds: int = 3, core: int = 0) -> dict[str, float]:
    """``openssl speed`` figures for ``algorithm`` (e.g. ecdsap256, rsa2048) on one core.

    Returns ``{"sign": per_second, "verify": per_second}``.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise SystemExit("openssl is not installed: run 'make setup' first")
    output = subprocess.run(
        [*affinity_prefix(core), openssl, "speed", "-seconds", str(seconds), algorithm],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for line in output.splitlines():
        parts = line.split()
        # e.g. " 256 bits ecdsa (nistp256)   0.0000s   0.0001s  53020.0  16911.3"
        # or   "rsa 2048 bits 0.000256s 0.000015s   3900.1  67700.2"
        numeric = len(parts) >= 4 and all(re.fullmatch(r"[\d.]+", p) for p in parts[-2:])
        if numeric and _speed_line_matches(line, algorithm):
            return {"sign": float(parts[-2]), "verify": float(parts[-1])}
    raise RuntimeError(f"could not read openssl speed output for {algorithm}:\n{output}")


# -- results ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of a results table: a certward figure next to its reference.

    ``certward`` and ``reference`` are medians; their ``*_range`` the min..max of
    the runs (None: one measurement). NaN figures mean "not measured" (``note``
    says why). ``aim`` is the aim an issue names ("reference" for rows that only
    add a reference), ``met`` whether this run meets it.
    """

    workload: str
    certward: float
    reference: float
    reference_name: str
    unit: str
    aim: str = ""
    met: bool | None = None
    certward_range: tuple[float, float] | None = None
    reference_range: tuple[float, float] | None = None
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.certward / self.reference if self.reference else float("nan")

    @property
    def measured(self) -> bool:
        return not math.isnan(self.certward)


def number(value: float) -> str:
    """A figure with as many decimals as its size deserves (``n/a`` for NaN)."""
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if abs(value) >= 0.1 else f"{value:.3f}"


def _figure(value: float, unit: str, span: tuple[float, float] | None) -> str:
    if math.isnan(value):
        return "n/a"
    text = f"{number(value)} {unit}"
    if span is not None:
        text += f" ({number(span[0])}..{number(span[1])})"
    return text


def _met(met: bool | None, measured: bool) -> str:
    if not measured:
        return "not measured"
    return "" if met is None else ("yes" if met else "**no**")


def markdown_table(rows: Sequence[Row]) -> str:
    """The rows as a markdown table (medians with min..max in brackets)."""
    lines = [
        "| workload | certward, median (min..max) | reference, median (min..max) | ratio "
        "| aim | met | notes |",
        "|---|---:|---|---:|---|---|---|",
    ]
    for row in rows:
        ratio = "n/a" if math.isnan(row.ratio) else f"{row.ratio:.2f}"
        lines.append(
            f"| {row.workload} | {_figure(row.certward, row.unit, row.certward_range)} | "
            f"{_figure(row.reference, row.unit, row.reference_range)} ({row.reference_name}) | "
            f"{ratio} | {row.aim} | {_met(row.met, row.measured)} | {row.note} |"
        )
    return "\n".join(lines)


def aims_table(rows: Sequence[Row]) -> str:
    """Every row that carries an aim: the aim, the figure, the ratio and whether it is met."""
    lines = [
        "| aim | workload | certward | ratio to reference | met |",
        "|---|---|---:|---:|---|",
    ]
    for row in rows:
        if not row.aim or row.aim == "reference":
            continue
        ratio = "n/a" if math.isnan(row.ratio) else f"{row.ratio:.2f}x {row.reference_name}"
        met = _met(row.met, row.measured) or "not judged (see its notes)"
        lines.append(
            f"| {row.aim} | {row.workload} | {_figure(row.certward, row.unit, None)} | {ratio} | "
            f"{met} |"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class Curve:
    """One line of a chart: (x, median y) points, optionally with min..max of y."""

    label: str
    points: tuple[tuple[float, float], ...]
    spans: tuple[tuple[float, float], ...] = ()
    dashed: bool = False


@dataclass(frozen=True)
class Chart:
    """A plot for docs/benchmarks/<name>.png (drawn by bench/plots.py)."""

    name: str
    title: str
    x_label: str
    y_label: str
    curves: tuple[Curve, ...]
    log_x: bool = False
    log_y: bool = False


@dataclass(frozen=True)
class Results:
    """What one benchmark module measured: table rows, charts and notes for the report."""

    rows: tuple[Row, ...] = ()
    charts: tuple[Chart, ...] = ()
    notes: tuple[str, ...] = field(default=())


def sized_main(description: str, run: Callable[..., Results], *, sizes_help: str) -> None:
    """The command line of a size-dependent benchmark: ``[--quick] [--sizes N,N]``, its table."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer runs")
    parser.add_argument("--sizes", help=f"comma-separated {sizes_help} (default: by --quick)")
    args = parser.parse_args()
    sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else None
    results = run(quick=args.quick, sizes=sizes)
    print(f"\nmachine: {machine()}\n")
    print(markdown_table(results.rows))
    for note in results.notes:
        print(f"\n{note}")


def machine() -> str:
    """A short description of this machine."""
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
