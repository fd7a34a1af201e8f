"""Inventory searches and server start-up with a large store (100 000 and 1 000 000 certificates).

Run: ``.venv/bin/python bench/bench_inventory.py [--quick] [--sizes 100000,1000000]``

A data dir bootstrapped by ``certward serve`` is filled (bench/bulk_store.py:
the issuing CA's real certificate DER, each row its own serial, subject
``CN=host0001234.inv.example``, SANs ``DNS:svc-0001234.apps.example`` and an IP,
an expiry spread over two years), then at each size:

- library: ``certward.ca.inventory.list_certificates`` (what ``certward cert
  list`` runs locally) searching by subject, by SAN, by serial, and listing an
  expiry window (7, 30, 90 days), page size 100; ``get_certificate`` by serial
  as the indexed reference — this process pinned to core 0;
- server start-up: ``certward serve`` (one worker, core 0) from process start
  until ``GET /health`` answers 200, next to the same with an empty store;
- API: the same searches as ``GET /v1/certificates?search=…`` (and
  ``expiring_before=…``, ``GET /v1/certificates/{serial}``) over one keep-alive
  mTLS connection from core 1.

Each kind runs many queries (different targets, up to a time budget) and
reports p50 and p99 latency. Subject and SAN searches (three characters or
more) walk the FTS5 trigram index ``certificates_search`` (migration 0008)
rather than every row; the report shows each kind's SQLite query plan
(``EXPLAIN QUERY PLAN`` of the statement the library sent) and flags a plan
that scans the certificates table.
"""

from __future__ import annotations

import random
import ssl
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx

from bench.bench_server import (
    LOAD_CORE,
    SERVER_CORE,
    Material,
    Target,
    answers_health,
    certward_command,
    free_port,
    prepare_material,
    server_process,
)
from bench.bulk_store import FIRST_ID, BulkCertificate, insert_certificates
from bench.common import (
    Chart,
    Curve,
    Results,
    Row,
    Spread,
    number,
    percentile,
    pinned,
    sized_main,
    timed,
)
from certward.crypto.serials import random_serial, serial_hex

FULL_SIZES = (100_000, 1_000_000)
QUICK_SIZES = (10_000, 50_000)
KINDS = ("subject", "SAN", "serial", "expiry window", "serial lookup (indexed)")
WINDOWS = (7, 30, 90)
_SERIAL_SAMPLE = 997  # keep every 997th serial as a query target


@dataclass(frozen=True)
class Scale:
    """How many queries (at most, and within how many seconds) and start-ups."""

    queries: int
    budget: float
    starts: int
    starts_at_every_size: bool = True  # else only with the largest store (and an empty one)


FULL = Scale(queries=200, budget=15.0, starts=3)
QUICK = Scale(queries=25, budget=1.0, starts=2, starts_at_every_size=False)


def _name(index: int) -> str:
    return f"host{index:07d}.inv.example"


def _san(index: int) -> str:
    return f"svc-{index:07d}.apps.example"


@dataclass
class Store:
    """The growing bulk content of the issuing CA and what queries can look for."""

    material: Material
    ca_id: int
    template_der: bytes
    now: datetime
    size: int = 0
    serials: list[str] | None = None

    def grow(self, target: int) -> float:
        """Add rows up to ``target``; the seconds it took."""
        from certward.datadir import open_data_dir

        serials = self.serials if self.serials is not None else []
        self.serials = serials

        def rows() -> Iterator[BulkCertificate]:
            for index in range(self.size, target):
                serial = random_serial()
                if index % _SERIAL_SAMPLE == 0:
                    serials.append(serial_hex(serial))
                yield BulkCertificate(
                    serial=serial,
                    common_name=_name(index),
                    sans=(
                        f"DNS:{_san(index)}",
                        f"IP:10.{index >> 16 & 255}.{index >> 8 & 255}.{index & 255}",
                    ),
                    not_after=self.now
                    + timedelta(days=1 + index * 7919 % 730, seconds=index % 86_400),
                )

        ctx = open_data_dir(self.material.data_dir)
        try:
            _, seconds = timed(
                lambda: insert_certificates(
                    ctx,
                    rows(),
                    ca_id=self.ca_id,
                    template_der=self.template_der,
                    first_id=FIRST_ID + self.size,
                )
            )
        finally:
            ctx.database.dispose()
        self.size = target
        return seconds

    def target(self, kind: str, rng: random.Random) -> str:
        """A search term of ``kind`` that matches one stored certificate (or a window, in days)."""
        index = rng.randrange(self.size)
        if kind == "subject":
            return _name(index).removesuffix(".example")
        if kind == "SAN":
            return _san(index).removesuffix(".example")
        if kind in ("serial", "serial lookup (indexed)"):
            assert self.serials
            return rng.choice(self.serials)
        return str(WINDOWS[index % len(WINDOWS)])


def open_store(material: Material) -> Store:
    """The issuing CA of ``material``'s data dir, ready to be filled."""
    from cryptography.hazmat.primitives import serialization

    from certward.ca.issue import issue_many, leaf_request
    from certward.datadir import open_data_dir

    ctx = open_data_dir(material.data_dir)
    try:
        issuing = ctx.settings.service.issuing_ca
        issued = issue_many(
            ctx,
            ca_name=issuing,
            profile="server",
            requests=[leaf_request(common_name=_name(9_999_999), sans=[f"DNS:{_san(9_999_999)}"])],
        )
        with ctx.database.read() as session:
            ca_id = ctx.ca_row(session, issuing).id
        now = ctx.clock()
    finally:
        ctx.database.dispose()
    der = issued[0].certificate.public_bytes(serialization.Encoding.DER)
    return Store(material=material, ca_id=ca_id, template_der=der, now=now)


# -- timing queries -----------------------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    """Seconds per query of one kind at one size."""

    samples: tuple[float, ...]

    @property
    def p50(self) -> float:
        return percentile(self.samples, 0.5)

    @property
    def p99(self) -> float:
        return percentile(self.samples, 0.99)


def _latencies(query: Callable[[str], object], store: Store, kind: str, scale: Scale) -> Latency:
    rng = random.Random(f"{kind}-{store.size}")
    query(store.target(kind, rng))  # warm: first-use costs are not a query's
    samples: list[float] = []
    deadline = time.perf_counter() + scale.budget
    while len(samples) < scale.queries and (len(samples) < 5 or time.perf_counter() < deadline):
        term = store.target(kind, rng)
        samples.append(timed(lambda term=term: query(term))[1])
    return Latency(tuple(samples))


def _library_query(ctx: Any, kind: str) -> Callable[[str], object]:
    from certward.ca.inventory import get_certificate, list_certificates

    if kind == "expiry window":
        return lambda days: list_certificates(ctx, expiring_within=timedelta(days=int(days)))
    if kind == "serial lookup (indexed)":
        return lambda serial: get_certificate(ctx, serial)
    return lambda term: list_certificates(ctx, search=term)


def _api_query(client: httpx.Client, kind: str) -> Callable[[str], object]:
    def get(path: str, **params: str) -> object:
        response = client.get(path, params=params)
        response.raise_for_status()
        return response.content

    if kind == "expiry window":
        return lambda days: get(
            "/v1/certificates",
            expiring_before=(datetime.now().astimezone() + timedelta(days=int(days))).isoformat(),
        )
    if kind == "serial lookup (indexed)":
        return lambda serial: get(f"/v1/certificates/{serial}")
    return lambda term: get("/v1/certificates", search=term)


@contextmanager
def _captured_selects(engine: Any) -> Iterator[list[tuple[str, Any]]]:
    """The SELECT statements (and parameters) ``engine`` sends inside the block."""
    from sqlalchemy import event

    seen: list[tuple[str, Any]] = []

    def remember(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "certificates" in statement:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", remember)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", remember)


def query_plan(ctx: Any, query: Callable[[str], object], term: str) -> str:
    """SQLite's ``EXPLAIN QUERY PLAN`` of the last certificates SELECT that ``query`` sends."""
    with _captured_selects(ctx.database.engine) as seen:
        query(term)
    if not seen:
        return "(no statement seen)"
    statement, parameters = seen[-1]
    with ctx.database.engine.connect() as connection:
        plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
    return "; ".join(str(step[-1]) for step in plan)


def library_latencies(store: Store, scale: Scale) -> tuple[dict[str, Latency], dict[str, str]]:
    """Every kind through the library, on core 0; and each kind's query plan."""
    from certward.datadir import open_data_dir

    ctx = open_data_dir(store.material.data_dir)
    try:
        with pinned(SERVER_CORE):
            got = {
                kind: _latencies(_library_query(ctx, kind), store, kind, scale) for kind in KINDS
            }
        rng = random.Random(0)
        plans = {
            kind: query_plan(ctx, _library_query(ctx, kind), store.target(kind, rng))
            for kind in KINDS
        }
    finally:
        ctx.database.dispose()
    return got, plans


def api_latencies(
    target: Target, material: Material, store: Store, scale: Scale
) -> dict[str, Latency]:
    """Every kind through the API over one keep-alive mTLS connection, from core 1."""
    context = ssl.create_default_context(cafile=str(material.data_dir / "admin" / "ca.crt"))
    context.load_cert_chain(material.client_certificate, material.client_key)
    with (
        pinned(LOAD_CORE),
        httpx.Client(base_url=target.url, verify=context, timeout=120) as client,
    ):
        return {kind: _latencies(_api_query(client, kind), store, kind, scale) for kind in KINDS}


# -- start-up -----------------------------------------------------------------------------


def timed_start(
    stack: ExitStack, material: Material, logs: Path, name: str
) -> tuple[Target, float]:
    """Start ``certward serve`` (core 0) inside ``stack``; seconds until /health answers."""
    port = free_port()
    started = time.perf_counter()
    target = stack.enter_context(
        server_process(name, certward_command(material, port), port=port, logs=logs, poll=0.01)
    )
    while not answers_health(target.url):
        if time.perf_counter() - started > 120:
            raise RuntimeError(f"{name}: /health did not answer within 120 s")
        time.sleep(0.01)
    return target, time.perf_counter() - started


def start_ups(material: Material, scale: Scale, logs: Path, label: str) -> Spread:
    """Seconds from process start to a healthy server, ``scale.starts`` times."""
    seconds = []
    for number_ in range(scale.starts):
        with ExitStack() as stack:
            seconds.append(timed_start(stack, material, logs, f"start-{label}-{number_}")[1])
    return Spread.of(seconds)


# -- the run ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SizePoint:
    """Everything measured at one store size."""

    size: int
    library: dict[str, Latency]
    api: dict[str, Latency]
    plans: dict[str, str]
    start: Spread | None


def measure(sizes: tuple[int, ...], scale: Scale, work: Path) -> tuple[Spread, list[SizePoint]]:
    """Start-up with an empty store, then every measurement at each size."""
    print("preparing a data dir…", flush=True)
    material = prepare_material(work / "material", revoked=0)
    logs = work / "logs"
    empty = start_ups(material, scale, logs, "empty")
    print(f"  start-up with an empty store: {empty.median:.2f} s", flush=True)
    store = open_store(material)
    points = []
    for size in sizes:
        seconds = store.grow(size)
        print(f"  {size:,} certificates stored ({seconds:.1f} s to add them)", flush=True)
        library, plans = library_latencies(store, scale)
        start = None
        if scale.starts_at_every_size or size == sizes[-1]:
            start = start_ups(material, scale, logs, f"{size}")
        with ExitStack() as stack:
            target, _ = timed_start(stack, material, logs, f"api-{size}")
            api = api_latencies(target, material, store, scale)
        points.append(SizePoint(size, library, api, plans, start))
        for kind in KINDS:
            print(
                f"    {kind:<24} library p50 {library[kind].p50 * 1e3:8.2f} ms "
                f"p99 {library[kind].p99 * 1e3:8.2f} ms ({len(library[kind].samples)}) | API p50 "
                f"{api[kind].p50 * 1e3:8.2f} ms p99 {api[kind].p99 * 1e3:8.2f} ms "
                f"({len(api[kind].samples)})",
                flush=True,
            )
        if start is not None:
            print(f"    start-up {start.median:.2f} s", flush=True)
    return empty, points


def _full_scan(plan: str) -> bool:
    """True when a step reads the certificates table row by row (not its search index)."""
    return any(step.split(" ")[:2] == ["SCAN", "certificates"] for step in plan.split("; "))


def rows(empty: Spread, points: list[SizePoint]) -> list[Row]:
    """p99 at the largest size against the smallest, per kind and path; start-up vs empty."""
    small, large = points[0], points[-1]
    result = []
    for path, pick in (
        ("library `list_certificates`", lambda p: p.library),
        ("API `GET /v1/certificates`", lambda p: p.api),
    ):
        for kind in KINDS:
            mine, theirs = pick(large)[kind], pick(small)[kind]
            scan = _full_scan(large.plans[kind])
            grows = mine.p99 > 2 * theirs.p99
            verdict = ""
            if scan:
                verdict = "; full scan (query plan below)" + (
                    "; p99 grows with size" if grows else ""
                )
            result.append(
                Row(
                    f"inventory {kind} ({path}), {large.size:,} certificates, p99 ms",
                    mine.p99 * 1e3,
                    theirs.p99 * 1e3,
                    f"same at {small.size:,}",
                    "ms",
                    note=(
                        f"p50 {number(mine.p50 * 1e3)} ms vs {number(theirs.p50 * 1e3)} ms; "
                        f"{len(mine.samples)} / {len(theirs.samples)} queries{verdict}"
                    ),
                )
            )
    assert large.start is not None  # always measured with the largest store
    result.append(
        Row(
            f"server start-up (process start → /health answers) with {large.size:,} certificates",
            large.start.median,
            empty.median,
            "same with an empty store",
            "s",
            certward_range=large.start.span,
            reference_range=empty.span,
            note=f"{large.start.count} starts each; `certward serve`, 1 worker, core {SERVER_CORE}",
        )
    )
    return result


def plans_note(points: list[SizePoint]) -> str:
    """The query plans of the largest size, as markdown."""
    large = points[-1]
    lines = [
        f"Inventory query plans (SQLite `EXPLAIN QUERY PLAN`, {large.size:,} certificates):",
        "",
    ]
    for kind in KINDS:
        lines.append(f"- {kind}: `{large.plans[kind]}`")
    return "\n".join(lines)


def charts(empty: Spread, points: list[SizePoint]) -> tuple[Chart, ...]:
    """p99 against store size per kind and path; start-up against store size."""
    curves = []
    for path, pick in (("library", lambda p: p.library), ("API", lambda p: p.api)):
        for kind in KINDS:
            curves.append(
                Curve(
                    f"{kind} ({path})",
                    tuple((float(p.size), pick(p)[kind].p99 * 1e3) for p in points),
                    dashed=path == "API",
                )
            )
    started = [(float(p.size), p.start) for p in points if p.start is not None]
    start = Curve(
        "certward serve start-up",
        ((0.0, empty.median), *((size, s.median) for size, s in started)),
        (empty.span, *(s.span for _, s in started)),
    )
    return (
        Chart(
            "inventory_p99",
            "Inventory query p99 latency against store size",
            "certificates stored",
            "p99 latency, ms",
            tuple(curves),
            log_x=True,
            log_y=True,
        ),
        Chart(
            "startup_cost",
            "Server start-up (process start until /health answers) against store size",
            "certificates stored",
            "seconds",
            (start,),
        ),
    )


def run(*, quick: bool, sizes: tuple[int, ...] | None = None) -> Results:
    """Rows, charts and the query plans for docs/benchmarks.md (bench/run.py)."""
    from certward.logs import configure_logging

    configure_logging(level="warning")
    chosen = sizes or (QUICK_SIZES if quick else FULL_SIZES)
    with tempfile.TemporaryDirectory(prefix="certward-bench-inventory-", dir=Path.cwd()) as tmp:
        empty, points = measure(chosen, QUICK if quick else FULL, Path(tmp))
    return Results(
        rows=tuple(rows(empty, points)), charts=charts(empty, points), notes=(plans_note(points),)
    )


def main() -> None:
    sized_main(__doc__.splitlines()[0], run, sizes_help="store sizes")


if __name__ == "__main__":
    main()
