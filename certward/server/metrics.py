"""Prometheus metrics of one service process.

Request counters and latencies are counted as requests pass; CRL ages and the
number of certificates expiring soon are read from the database at scrape time.
With several workers each process reports its own counters (a scrape reaches one).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from certward.ca.context import CAContext
from certward.store.models import CertificateAuthorityRow, CertificateRow, CRLRow

__all__ = ["ServiceMetrics"]


class _DatabaseCollector(Collector):
    def __init__(self, ctx: CAContext) -> None:
        self._ctx = ctx

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self._ctx.clock()
        crl_age = GaugeMetricFamily(
            "certward_crl_age_seconds", "Seconds since the newest CRL of each CA", labels=["ca"]
        )
        crl_left = GaugeMetricFamily(
            "certward_crl_next_update_seconds",
            "Seconds until the newest CRL of each CA must be replaced",
            labels=["ca"],
        )
        expiring = GaugeMetricFamily(
            "certward_certificates_expiring",
            "Valid certificates ending within the window",
            labels=["within"],
        )
        with self._ctx.database.read() as session:
            newest = (
                select(CRLRow.ca_id, func.max(CRLRow.number).label("number"))
                .group_by(CRLRow.ca_id)
                .subquery()
            )
            rows = session.execute(
                select(CertificateAuthorityRow.name, CRLRow.this_update, CRLRow.next_update)
                .join(CRLRow, CRLRow.ca_id == CertificateAuthorityRow.id)
                .join(newest, (newest.c.ca_id == CRLRow.ca_id) & (newest.c.number == CRLRow.number))
            ).all()
            for name, this_update, next_update in rows:
                crl_age.add_metric([name], (now - this_update).total_seconds())
                crl_left.add_metric([name], (next_update - now).total_seconds())
            for label, days in (("7d", 7), ("30d", 30)):
                count = session.scalar(
                    select(func.count(CertificateRow.id)).where(
                        CertificateRow.revoked_at.is_(None),
                        CertificateRow.not_after > now,
                        CertificateRow.not_after <= now + timedelta(days=days),
                    )
                )
                expiring.add_metric([label], float(count or 0))
        yield crl_age
        yield crl_left
        yield expiring


class ServiceMetrics:
    """The registry of one process and the instruments the app updates."""

    def __init__(self, ctx: CAContext) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "certward_http_requests_total",
            "HTTP requests by method, route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "certward_http_request_duration_seconds",
            "HTTP request latency by route",
            ["route"],
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.issued = Counter(
            "certward_certificates_issued_total", "Certificates issued", registry=self.registry
        )
        self.revoked = Counter(
            "certward_certificates_revoked_total", "Certificates revoked", registry=self.registry
        )
        self.registry.register(_DatabaseCollector(ctx))

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
