"""CRL publication and revocation at growing sizes, next to ``openssl ca -gencrl``.

Run: ``.venv/bin/python bench/bench_crl.py [--quick] [--sizes 10000,100000,1000000]``

Through certward's own services on a real SQLite file, one core: the store
grows to each size in turn (10 000, 100 000, 1 000 000 revoked certificates;
quick: 1 000 and 10 000), and at each size:

- revoke one more certificate: real ``revoke_certificate`` calls on issued
  certificates, one transaction each, next to the same with nothing revoked
  (must stay flat: no full rebuild per revoke);
- revoke through the service: ``revoke_certificate`` then a request to a running
  ``CRLPublisher``, what ``POST /v1/certificates/{serial}/revoke`` does (the CRL
  is published in the background, coalesced), timed back to back while that
  thread keeps publishing in the same process (warmed by one publication first,
  as a running service's is); then how long the last
  revocation waited for a CRL listing it, and how many CRLs the calls cost;
- publish the CRL: ``publish_crl`` reads the stored entries (DER encoded once,
  at revocation), signs, stores and writes the CRL files — next to
  ``openssl ca -gencrl`` over an index.txt of the same revocations, signed by the
  same CA key, on the same core, in the same run.

The bulk of the revoked certificates is inserted as rows (bench/bulk_store.py);
the revocations that are timed are real calls. Aim (issue 10): the CRL of 1M
entries at least 2x faster than openssl.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from bench.bench_crl_encoding import gencrl_seconds, write_openssl_ca
from bench.bulk_store import FIRST_ID, BulkCertificate, Revocation, insert_certificates
from bench.common import (
    Chart,
    Curve,
    Results,
    Row,
    Spread,
    number,
    pinned,
    sized_main,
    timed,
)
from certward.ca.authority import create_ca
from certward.ca.context import CAContext
from certward.ca.crl import PublishedCRL, publish_crl
from certward.ca.crl_publisher import CRLPublisher, CRLTicket
from certward.ca.issue import issue_many, leaf_request
from certward.ca.revoke import revoke_certificate
from certward.crypto.serials import random_serial
from certward.datadir import initialise_data_dir
from certward.logs import configure_logging

FULL_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (1_000, 10_000)
AIM_SIZE = 1_000_000
_REASON = x509.ReasonFlags.superseded


@dataclass(frozen=True)
class Scale:
    """How many timed calls at each size."""

    revokes: int  # single revocations timed
    revoke_publishes: int  # revocations through the service (with the publisher) timed
    publishes: int  # publish_crl runs (and openssl runs)


FULL = Scale(revokes=100, revoke_publishes=100, publishes=3)
QUICK = Scale(revokes=40, revoke_publishes=40, publishes=3)


@dataclass(frozen=True)
class Point:
    """What one size measured (seconds)."""

    size: int
    entries: int
    revoke: Spread
    revoke_publish: Spread
    crls_published: int  # CRLs the revocations through the service cost
    listed_after: float  # seconds from the last of them to a CRL listing it
    publish: Spread | None = None
    openssl: Spread | None = None


def _seconds(action: Callable[[], object], times: int) -> Spread:
    return Spread.of([timed(action)[1] for _ in range(times)])


class _Probes:
    """Issued, not yet revoked certificates, handed out one at a time."""

    def __init__(self, ctx: CAContext, count: int) -> None:
        issued = issue_many(
            ctx,
            ca_name="issuing",
            profile="client",
            requests=[leaf_request(common_name=f"probe{i}") for i in range(count)],
        )
        self.template_der = issued[0].certificate.public_bytes(serialization.Encoding.DER)
        self._serials: Iterator[str] = iter([c.serial for c in issued[1:]])
        self.revoked: list[Revocation] = []

    def revoke(self, ctx: CAContext) -> None:
        serial = next(self._serials)
        done = revoke_certificate(ctx, serial, reason="superseded")
        self.revoked.append((int(serial, 16), done.revoked_at, _REASON))


def _bulk(count: int, now: datetime) -> Iterator[BulkCertificate]:
    for _ in range(count):
        serial = random_serial()
        yield BulkCertificate(
            serial=serial,
            common_name="bulk",
            sans=(),
            not_after=now + timedelta(days=300),
            revoked=(serial, now, _REASON),
        )


@dataclass(frozen=True)
class _ServiceCosts:
    revoke: Spread
    crls_published: int
    listed_after: float


def _through_service(ctx: CAContext, probes: _Probes, calls: int) -> _ServiceCosts:
    published: list[PublishedCRL] = []
    publisher = CRLPublisher(ctx, on_published=published.append)
    publisher.start()
    # A running service's publisher has read every entry once (its start-up check), so
    # it reads only new ones from then on: warm it the same way, untimed.
    probes.revoke(ctx)
    assert publisher.wait(publisher.request("issuing"), timeout=600) is not None
    published.clear()
    tickets: list[CRLTicket] = []

    def revoke_and_ask() -> None:
        probes.revoke(ctx)
        tickets.append(publisher.request("issuing"))

    try:
        revoke = _seconds(revoke_and_ask, calls)
        number, waited = timed(lambda: publisher.wait(tickets[-1], timeout=600))
        assert number is not None, "the last revocation never reached a CRL"
    finally:
        publisher.stop()
    return _ServiceCosts(revoke, len(published), waited)


def _revocation_costs(
    ctx: CAContext, probes: _Probes, scale: Scale
) -> tuple[Spread, _ServiceCosts]:
    revoke = _seconds(lambda: probes.revoke(ctx), scale.revokes)
    return revoke, _through_service(ctx, probes, scale.revoke_publishes)


def measure(sizes: tuple[int, ...], scale: Scale, work: Path) -> tuple[Point, list[Point]]:
    """The costs with nothing revoked, then at each size (the store grows in between)."""
    ctx = initialise_data_dir(work / "data")
    try:
        create_ca(ctx, name="root", subject="/CN=Bench Root")
        create_ca(ctx, name="issuing", subject="/CN=Bench Issuing", parent="root")
        per_size = scale.revokes + scale.revoke_publishes + 1
        probes = _Probes(ctx, 1 + per_size * (len(sizes) + 1))
        with ctx.database.read() as session:
            ca_row = ctx.ca_row(session, "issuing")
            ca_id = ca_row.id
            loaded = ctx.load(session, ca_row)
        revoke, service = _revocation_costs(ctx, probes, scale)
        empty = Point(
            0,
            len(probes.revoked),
            revoke,
            service.revoke,
            service.crls_published,
            service.listed_after,
        )
        print(
            f"  0 revoked: revoke {revoke.median * 1e3:.2f} ms, through the service "
            f"{service.revoke.median * 1e3:.2f} ms ({service.crls_published} CRLs)",
            flush=True,
        )
        bulk: list[Revocation] = []
        points = []
        for size in sizes:
            now = ctx.clock() - timedelta(days=1)
            grow = list(_bulk(size - len(bulk), now))
            first_id = FIRST_ID + len(bulk)
            _, fill = timed(
                lambda grow=grow, first_id=first_id: insert_certificates(
                    ctx,
                    grow,
                    ca_id=ca_id,
                    template_der=probes.template_der,
                    first_id=first_id,
                    profile="client",
                )
            )
            bulk += [item.revoked for item in grow if item.revoked]
            print(f"  {size:,} revoked ({fill:.1f} s to store {len(grow):,} rows)", flush=True)
            revoke, service = _revocation_costs(ctx, probes, scale)
            crls = [timed(lambda: publish_crl(ctx, "issuing")) for _ in range(scale.publishes)]
            entries = crls[0][0].entries
            publish = Spread.of([seconds for _, seconds in crls])
            openssl_dir = work / f"openssl-{size}"
            openssl_dir.mkdir()
            write_openssl_ca(openssl_dir, loaded.key, loaded.certificate, bulk + probes.revoked)
            runs = [gencrl_seconds(openssl_dir) for _ in range(scale.publishes)]
            assert all(count == entries for _, count in runs), (runs, entries)
            openssl = Spread.of([seconds for seconds, _ in runs])
            points.append(
                Point(
                    size,
                    entries,
                    revoke,
                    service.revoke,
                    service.crls_published,
                    service.listed_after,
                    publish,
                    openssl,
                )
            )
            print(
                f"    revoke {revoke.median * 1e3:.2f} ms, through the service "
                f"{service.revoke.median * 1e3:.2f} ms ({service.crls_published} CRLs, last "
                f"listed {service.listed_after:.3f} s later); publish_crl "
                f"{publish.median:.3f} s, openssl ca "
                f"-gencrl {openssl.median:.3f} s ({entries:,} entries)",
                flush=True,
            )
    finally:
        ctx.database.dispose()
    return empty, points


def _rate(spread: Spread, amount: float = 1.0) -> tuple[float, tuple[float, float]]:
    """A time spread as a rate: (per second at the median, (min, max) per second)."""
    return amount / spread.median, (amount / spread.high, amount / spread.low)


def rows(empty: Point, points: list[Point]) -> list[Row]:
    """Three rows a size: revoke, revoke + publish (both against 0 revoked), publish vs openssl."""
    result = []
    largest = max(p.size for p in points)
    for point in points:
        size = f"{point.size:,}"
        for label, mine, zero, note in (
            (
                "revoke one certificate (`revoke_certificate`)",
                point.revoke,
                empty.revoke,
                f"{point.revoke.count} calls, one transaction each",
            ),
            (
                "revoke through the service (what `POST /v1/certificates/{serial}/revoke` "
                "does: commit, then ask the background CRL publisher)",
                point.revoke_publish,
                empty.revoke_publish,
                f"{point.revoke_publish.count} calls back to back while the publisher thread "
                f"publishes in the same process: {point.crls_published} CRLs for them; the last "
                f"was listed {number(point.listed_after * 1e3)} ms after its call",
            ),
        ):
            rate, span = _rate(mine)
            reference, reference_span = _rate(zero)
            result.append(
                Row(
                    f"{label} with {size} revoked, per second",
                    rate,
                    reference,
                    "same with 0 revoked",
                    "/s",
                    "flat (ratio ≥ 0.67)",
                    mine.median <= zero.median * 1.5,
                    certward_range=span,
                    reference_range=reference_span,
                    note=f"{note}; median {number(mine.median * 1e3)} ms",
                )
            )
        assert point.publish is not None and point.openssl is not None
        rate, span = _rate(point.publish, point.entries)
        reference, reference_span = _rate(point.openssl, point.entries)
        aimed = point.size == largest
        judged = aimed and point.size >= AIM_SIZE
        result.append(
            Row(
                f"publish the CRL with {point.entries:,} entries, entries/s",
                rate,
                reference,
                "openssl ca -gencrl, same index, key and core",
                "/s",
                "≥ 2x openssl (at 1M entries)" if aimed else "",
                (point.publish.median * 2 <= point.openssl.median) if judged else None,
                certward_range=span,
                reference_range=reference_span,
                note=(
                    f"{point.publish.count} runs each; {point.publish.median:.3f} s vs "
                    f"{point.openssl.median:.3f} s"
                    + ("" if judged or not aimed else "; the aim is for 1M entries: not judged")
                ),
            )
        )
    return result


def chart(empty: Point, points: list[Point]) -> Chart:
    """Seconds against entries: publish vs openssl, and the two revocation costs."""
    everything = [empty, *points]

    def curve(label: str, pick: Callable[[Point], Spread | None], at: list[Point]) -> Curve:
        chosen = [(p, pick(p)) for p in at]
        spreads = [(p.entries, s) for p, s in chosen if s is not None]
        return Curve(
            label,
            tuple((float(n), s.median) for n, s in spreads),
            tuple(s.span for _, s in spreads),
        )

    return Chart(
        "crl_cost",
        "CRL cost against revoked entries (one core)",
        "revoked entries",
        "seconds",
        (
            curve("certward publish_crl", lambda p: p.publish, points),
            curve("openssl ca -gencrl", lambda p: p.openssl, points),
            curve(
                "certward revoke through the service (API)",
                lambda p: p.revoke_publish,
                everything[1:],
            ),
            curve("certward revoke one", lambda p: p.revoke, everything[1:]),
        ),
        log_x=True,
        log_y=True,
    )


def run(*, quick: bool, sizes: tuple[int, ...] | None = None) -> Results:
    """Rows and the chart for docs/benchmarks.md (bench/run.py)."""
    configure_logging(level="warning")
    chosen = sizes or (QUICK_SIZES if quick else FULL_SIZES)
    with pinned(0), tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        empty, points = measure(chosen, QUICK if quick else FULL, Path(tmp))
    return Results(rows=tuple(rows(empty, points)), charts=(chart(empty, points),))


def main() -> None:
    sized_main(__doc__.splitlines()[0], run, sizes_help="revoked counts")


if __name__ == "__main__":
    main()
