"""Limits against one client using up the service: body size, rate, page and batch sizes.

The rate limit is a token bucket per client certificate (or address without one):
``[service] rate_limit_per_second`` / ``rate_limit_burst``; beyond it 429
``rate_limited`` with ``Retry-After``. Lists are paged with a hard maximum, and a
KMS batch has at most ``[kms] max_batch_items`` items.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from certward.server.limits import RateLimiter
from tests.server.service import Service, assert_error, running_service

MAX_BODY = 1_048_576  # the default [service] max_body_bytes


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)

    assert [limiter.acquire("a") for _ in range(3)] == [None, None, None]
    wait = limiter.acquire("a")
    assert wait == pytest.approx(0.5)
    assert RateLimiter.retry_after(wait) == "1"
    assert limiter.acquire("b") is None  # another caller has its own bucket
    clock.now += 0.5
    assert limiter.acquire("a") is None
    assert limiter.acquire("a") is not None
    clock.now += 60
    assert [limiter.acquire("a") for _ in range(4)][:3] == [None, None, None]


def test_the_bucket_table_is_bounded() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=1.0, burst=2, max_callers=100, clock=clock)

    for index in range(1000):
        limiter.acquire(f"caller-{index}")
        clock.now += 0.001

    assert len(limiter) <= 100


def test_a_body_over_the_limit_is_refused_with_or_without_a_length(service: Service) -> None:
    big = b"{" + b" " * MAX_BODY + b"}"

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    with service.client() as api:
        declared = api.post(
            "/v1/certificates", content=big, headers={"content-type": "application/json"}
        )
        streamed = api.post(
            "/v1/certificates", content=chunks(), headers={"content-type": "application/json"}
        )

    assert_error(declared, 413, "input.too_large")
    assert_error(streamed, 413, "input.too_large")


@pytest.mark.parametrize(
    "path", ["/v1/certificates", "/v1/audit", "/v1/kms/keys", "/v1/principals"]
)
def test_lists_refuse_pages_over_1000(service: Service, path: str) -> None:
    with service.client() as api:
        response = api.get(path, params={"limit": 1001})

    assert_error(response, 400, "input.invalid")


def test_principals_are_paged(service: Service, tmp_path: Path) -> None:
    for index in range(3):
        service.create_principal(
            tmp_path, grants=[{"permission": "kds.client"}], name=f"pg-{index}"
        )
    with service.client() as api:
        first = api.get("/v1/principals", params={"limit": 2, "after": "pg-"})
        second = api.get(
            "/v1/principals", params={"limit": 2, "after": first.headers["x-next-after"]}
        )

    assert [p["name"] for p in first.json()] == ["pg-0", "pg-1"]
    assert second.json()[0]["name"] == "pg-2"


def test_a_kms_batch_over_the_cap_is_refused(service: Service) -> None:
    item = {"operation": "sign", "key": "alias/none", "message": "bQ==", "algorithm": "x"}
    with service.client() as api:
        response = api.post("/v1/kms/batch", json={"items": [item] * 1001})

    assert_error(response, 413, "input.too_large")
    assert "1000" in response.json()["error"]["message"]


# -- the rate limit on a real service -------------------------------------------------


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    base = tmp_path_factory.mktemp("limited")
    data = base / "data"
    data.mkdir(mode=0o700)
    (data / "certward.toml").write_text(
        "[service]\nrate_limit_per_second = 0.5\nrate_limit_burst = 3\n"
    )
    with running_service(data, log=base / "serve.log") as running:
        yield running


def test_a_principal_over_its_rate_gets_429_with_retry_after(
    limited: Service, tmp_path: Path
) -> None:
    other = limited.create_principal(tmp_path, grants=[{"permission": "kds.client"}])
    with limited.client() as api:
        # The admin's bucket holds 3; it refills 1 every 2 s, far slower than 10 requests take.
        answers = [api.get("/v1/whoami") for _ in range(10)]
        health = api.get("/health")
    with limited.client(other) as client:
        others = client.get("/v1/whoami")

    statuses = [answer.status_code for answer in answers]
    refused = [answer for answer in answers if answer.status_code == 429]
    assert statuses[:2] == [200, 200]  # (creating ``other`` took one of the 3 tokens)
    assert refused, statuses
    error = assert_error(refused[0], 429, "rate_limited")
    assert int(refused[0].headers["retry-after"]) >= 1
    assert "retry" in error["message"]
    assert health.status_code == 200  # /health is never limited
    assert others.status_code == 200  # its own bucket


def test_requests_without_a_certificate_are_limited_per_address(limited: Service) -> None:
    with limited.client(None) as anonymous:
        statuses = [anonymous.get("/ca/root/ca.crt").status_code for _ in range(10)]

    assert statuses[:3] == [200, 200, 200]
    assert 429 in statuses


def test_the_sdk_raises_the_typed_error() -> None:
    from certward.errors import RateLimited, error_class_for_code

    assert error_class_for_code("rate_limited") is RateLimited
    assert RateLimited.status == 429
