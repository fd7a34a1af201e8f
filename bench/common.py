"""Shared pieces of the benchmarks: CPU pinning, openssl speed, timing, markdown rows."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


def pin_to_core(core: int = 0) -> None:
    """Run this process (and threads) on one core, so figures are per core."""
    os.sched_setaffinity(0, {core})


def timed(action: Callable[[], T]) -> tuple[T, float]:
    """``action()`` and the wall-clock seconds it took."""
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


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
        ["taskset", "-c", str(core), openssl, "speed", "-seconds", str(seconds), algorithm],
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


@dataclass(frozen=True)
class Row:
    """One line of a results table: a certward figure next to its reference."""

    workload: str
    certward: float
    reference: float
    reference_name: str
    unit: str
    aim: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float:
        return self.certward / self.reference if self.reference else float("nan")


def machine() -> str:
    """A short description of this machine."""
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def markdown_table(rows: list[Row]) -> str:
    """The rows as a markdown table."""
    lines = [
        "| workload | certward | reference | ratio | aim | met |",
        "|---|---:|---|---:|---|---|",
    ]
    for row in rows:
        met = "" if row.met is None else ("yes" if row.met else "no")
        lines.append(
            f"| {row.workload} | {row.certward:,.0f} {row.unit} | "
            f"{row.reference:,.0f} {row.unit} ({row.reference_name}) | {row.ratio:.2f} | "
            f"{row.aim} | {met} |"
        )
    return "\n".join(lines)
