"""A node and its PostgreSQL going away and coming back: clear errors, no restart needed."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.service import (
    CERTWARD,
    POLL_INTERVAL,
    START_TIMEOUT,
    Service,
    assert_error,
    free_port,
    poll_until,
)
from tests.support.postgres import postgres_available, postgres_schema
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.pg
RECOVERY_LIMIT = 60.0


@pytest.fixture
def proxied_database() -> Iterator[tuple[TcpProxy, str]]:
    """A fresh PostgreSQL schema reached through a proxy the test can switch off."""
    if not postgres_available():
        pytest.skip("PostgreSQL at 127.0.0.1:5432 does not answer")
    proxy = TcpProxy(5432)
    with postgres_schema(f"cw_{uuid.uuid4().hex[:12]}") as url:
        yield proxy, url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        proxy.stop()


def _health(service: Service) -> int | None:
    if not service.ca_certificate.exists():
        return None  # not bootstrapped yet
    try:
        return httpx.get(
            f"{service.url}/health", verify=service.ssl_context(None), timeout=2.0
        ).status_code
    except httpx.HTTPError:
        return None


def test_a_node_waits_for_its_database_then_serves_and_rides_out_an_outage(
    tmp_path: Path, proxied_database: tuple[TcpProxy, str]
) -> None:
    proxy, url = proxied_database
    data_dir = tmp_path / "node"
    port = free_port()
    log = tmp_path / "node.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(CERTWARD), "-d", str(data_dir), "--database", url, "serve", "--port", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    service = Service(
        url=f"https://127.0.0.1:{port}",
        host="127.0.0.1",
        port=port,
        data_dir=data_dir,
        process=process,
        log=log,
    )
    try:
        # Down at start: the node says why it waits, and keeps running.
        said = poll_until(lambda: "is unavailable" in service.output(), within=START_TIMEOUT)
        assert said, service.output()
        assert process.poll() is None
        assert "retrying" in service.output()
        assert "Traceback" not in service.output()

        # Up: it finishes starting and serves, without a restart.
        proxy.start()
        assert poll_until(lambda: _health(service) == 200, within=START_TIMEOUT), service.output()
        with service.client() as api:
            assert api.get("/v1/cas").status_code == 200

        # Down while serving: health says so, requests fail fast with the one error shape.
        proxy.stop()
        assert poll_until(lambda: _health(service) == 503, within=RECOVERY_LIMIT)
        with service.client() as api:
            started = time.monotonic()
            response = api.post(
                "/v1/certificates",
                json={"ca": "issuing", "profile": "client", "common_name": "during-outage"},
            )
            assert time.monotonic() - started < RECOVERY_LIMIT
        assert_error(response, 503, "storage.error")

        # Up again: the node recovers by itself.
        proxy.start()
        assert poll_until(lambda: _health(service) == 200, within=RECOVERY_LIMIT)

        def issued() -> bool:
            with service.client() as api:
                response = api.post(
                    "/v1/certificates",
                    json={"ca": "issuing", "profile": "client", "common_name": "after-outage"},
                )
            return response.status_code == 201

        assert poll_until(issued, within=RECOVERY_LIMIT, interval=POLL_INTERVAL * 10)
    finally:
        service.stop()
