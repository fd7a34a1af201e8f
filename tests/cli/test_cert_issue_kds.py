"""``certward cert issue`` for the key-distribution profiles: --kds-name and --group."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from certward.kds.certs import (
    group_uris_of_client,
    groups_of_client,
    kds_name_of_client,
    kds_name_of_server,
)
from tests.cli.runner import Certward, run_certward
from tests.client.live_server import LiveServer, running_server


def _issue(runner: Certward, *args: str | Path) -> dict[str, Any]:
    result: dict[str, Any] = runner.json("cert", "issue", "--ca", "issuing", *args)
    return result


def _certificate(issued: dict[str, Any]) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(issued["paths"]["certificate"]).read_bytes())


def _eku(cert: x509.Certificate) -> list[x509.ObjectIdentifier]:
    return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def test_kds_client_gets_the_kds_name_as_san_dns_and_groups_as_san_uris(
    certward: Certward, tmp_path: Path
) -> None:
    issued = _issue(
        certward, "--profile", "kds-client", "--kds-name", "key.example.org",
        "--group", "urn:prjA#10s", "--group", "urn:prjB", "--cn", "app1", "--out", tmp_path,
    )  # fmt: skip

    cert = _certificate(issued)
    assert issued["sans"] == ["DNS:key.example.org", "URI:urn:prjA#10s", "URI:urn:prjB"]
    assert issued["subject"] == "CN=app1"
    assert kds_name_of_client(cert) == "key.example.org"
    assert group_uris_of_client(cert) == ("urn:prjA#10s", "urn:prjB")
    assert groups_of_client(cert) == {"urn:prjA", "urn:prjB"}
    assert _eku(cert) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert Path(issued["paths"]["key"]).name == "app1.key"


def test_kds_server_takes_its_cn_from_the_kds_name(certward: Certward, tmp_path: Path) -> None:
    issued = _issue(
        certward, "--profile", "kds-server", "--kds-name", "key.example.org",
        "--san", "IP:127.0.0.1", "--out", tmp_path,
    )  # fmt: skip

    cert = _certificate(issued)
    assert kds_name_of_server(cert) == "key.example.org"
    assert issued["sans"] == ["IP:127.0.0.1", "DNS:key.example.org"]
    assert _eku(cert) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert Path(issued["paths"]["certificate"]).name == "key.example.org.crt"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ("--profile", "kds-client", "--kds-name", "key.example.org", "--cn", "app1"),
            "policy.san_required",
            "SAN URI",
        ),
        (
            ("--profile", "kds-client", "--group", "urn:prjA", "--cn", "app1"),
            "policy.san_required",
            "SAN DNS name",
        ),
        (
            ("--profile", "kds-client", "--kds-name", "k.org", "--cn", "a", "--group", "urn:a#1d"),
            "policy.san_not_allowed",
            "precision '1d'",
        ),
        (("--profile", "kds-server"), "input.invalid", "--cn is required"),
        (
            ("--profile", "kds-server", "--kds-name", "key.example.org", "--cn", "other"),
            "input.invalid",
            "differs from --kds-name",
        ),
        (
            ("--profile", "kds-server", "--kds-name", "k.example.org", "--group", "urn:a"),
            "input.invalid",
            "--group goes with --profile kds-client",
        ),
        (
            ("--profile", "client", "--kds-name", "key.example.org", "--cn", "app1"),
            "input.invalid",
            "--kds-name and --group go with",
        ),
        (("--profile", "kds-server", "--cn", "not a domain"), "input.invalid_subject", "domain"),
    ],
    ids=[
        "client-without-group",
        "client-without-kds-name",
        "client-bad-precision",
        "server-without-name",
        "server-cn-differs",
        "server-with-group",
        "plain-client-with-kds-name",
        "server-cn-not-a-domain",
    ],
)
def test_kds_issue_refusals_are_one_line_errors_that_write_nothing(
    pki_template: Certward, tmp_path: Path, args: tuple[str, ...], code: str, message: str
) -> None:
    # Refusals change nothing, so the shared template data dir is safe to use.
    out = tmp_path / "out"
    result = pki_template.run("cert", "issue", "--ca", "issuing", *args, "--out", out, check=False)

    assert result.returncode != 0
    assert result.stderr.startswith("error: ")
    assert f"[{code}]" in result.stderr
    assert message in result.stderr
    assert not out.exists()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("kds-remote-cli") / "data") as live:
        yield live


def test_kds_client_issued_remotely_carries_the_same_sans(
    server: LiveServer, tmp_path: Path
) -> None:
    result = run_certward(
        *server.cli_options(), "cert", "issue", "--ca", "issuing", "--profile", "kds-client",
        "--kds-name", "key.example.org", "--group", "urn:prjA#10s", "--group", "urn:prjB",
        "--cn", "app1", "--out", tmp_path, "--json",
        data_dir=server.data_dir.parent / "absent",
    )  # fmt: skip

    cert = x509.load_pem_x509_certificate((tmp_path / "app1.crt").read_bytes())
    assert kds_name_of_client(cert) == "key.example.org"
    assert group_uris_of_client(cert) == ("urn:prjA#10s", "urn:prjB")
    assert '"profile": "kds-client"' in result.stdout
