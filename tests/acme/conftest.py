"""The ACME tests' fixtures: a real ``certward serve`` with ACME on, and challenge servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acme.challenge_servers import ChallengeServers, challenge_servers
from tests.acme.client import AcmeTestClient
from tests.server.service import Service, running_service

# Orders one account may start per hour in the tests' directory (small, to test the limit).
ORDERS_PER_HOUR = 6


def acme_config(servers: ChallengeServers) -> str:
    """certward.toml: ACME on for CA 'issuing', challenges on the servers' ports."""
    return f"""
[profiles.acme-test]
base = "server"
allowed_san_patterns = ["DNS:*.acme.test", "DNS:acme.test"]
max_days = 90

[acme]
enabled = true
cas = ["issuing"]
profiles = ["acme-test", "server"]
default_profile = "acme-test"
http01_port = {servers.http_port}
tls_alpn01_port = {servers.tls_port}
dns_resolver = "127.0.0.1:{servers.dns_port}"
resolve = {{ "*.acme.test" = "127.0.0.1", "acme.test" = "127.0.0.1" }}
validation_timeout_seconds = 5
orders_per_hour = {ORDERS_PER_HOUR}
accounts_per_hour = 10000
"""


def write_config(data_dir: Path, text: str) -> None:
    """A fresh data dir (0700) holding only ``certward.toml`` (serve bootstraps the rest)."""
    data_dir.mkdir(mode=0o700, parents=True)
    config = data_dir / "certward.toml"
    config.write_text(text)
    config.chmod(0o600)


@pytest.fixture(scope="session")
def servers() -> Iterator[ChallengeServers]:
    with challenge_servers() as running:
        yield running


@pytest.fixture(scope="session")
def acme_service(
    tmp_path_factory: pytest.TempPathFactory, servers: ChallengeServers
) -> Iterator[Service]:
    """One service per test session with ACME enabled (see :func:`acme_config`)."""
    base = tmp_path_factory.mktemp("acme-service")
    write_config(base / "data", acme_config(servers))
    with running_service(base / "data", log=base / "serve.log") as running:
        yield running


@pytest.fixture
def directory_url(acme_service: Service) -> str:
    return f"{acme_service.url}/acme/issuing/directory"


@pytest.fixture
def acme(acme_service: Service, servers: ChallengeServers, directory_url: str) -> AcmeTestClient:
    """A registered ACME account with a fresh key."""
    return AcmeTestClient.register(directory_url, acme_service.ca_certificate, servers)
