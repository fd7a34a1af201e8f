"""The CLI's remote mode (``--server``): the same commands, the same output as on the data dir.

One ``certward serve`` per module; ``local`` runs a command on its data dir, ``remote``
runs it through the server (with a data dir that does not exist, so nothing local is used).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certward.crypto.keys import load_private_key
from tests.cli.runner import CERTWARD, Certward, run_certward
from tests.client.live_server import LiveServer, free_port, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("remote-cli") / "data") as live:
        yield live


@dataclass(frozen=True)
class Remote:
    """``certward --server URL --cert --key --ca ...`` with no data dir of its own."""

    server: LiveServer
    options: tuple[str, ...]

    def run(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_certward(
            *self.options, *args, data_dir=self.server.data_dir.parent / "absent", check=check
        )

    def json(self, *args: str | Path) -> Any:
        return json.loads(self.run(*args, "--json").stdout)


@pytest.fixture(scope="module")
def local(server: LiveServer) -> Certward:
    return Certward(server.data_dir)


@pytest.fixture(scope="module")
def remote(server: LiveServer) -> Remote:
    return Remote(server, tuple(server.cli_options()))


def issue(runner: Certward | Remote, common_name: str, out: Path) -> dict[str, Any]:
    result: dict[str, Any] = runner.json(
        "cert", "issue", "--ca", "issuing", "--profile", "client", "--cn", common_name,
        "--out", out,
    )  # fmt: skip
    return result


def assert_one_line_error(
    result: subprocess.CompletedProcess[str], code: str, exit_code: int
) -> None:
    assert result.returncode == exit_code, result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: ")
    assert f"[{code}]" in result.stderr


# -- reads: byte for byte the same ----------------------------------------------------


def test_ca_list_json_is_the_same_locally_and_remotely(local: Certward, remote: Remote) -> None:
    assert remote.json("ca", "list") == local.json("ca", "list")


def test_ca_list_table_is_the_same_locally_and_remotely(local: Certward, remote: Remote) -> None:
    assert remote.run("ca", "list").stdout == local.run("ca", "list").stdout


def test_ca_show_json_and_chain_are_the_same(local: Certward, remote: Remote) -> None:
    assert remote.json("ca", "show", "issuing") == local.json("ca", "show", "issuing")
    chain = remote.run("ca", "show", "issuing", "--chain").stdout
    assert chain == local.run("ca", "show", "issuing", "--chain").stdout
    assert chain.count("BEGIN CERTIFICATE") == 2


def test_cert_show_and_list_are_the_same(local: Certward, remote: Remote, tmp_path: Path) -> None:
    serial = issue(local, "shown.example", tmp_path)["serial"]

    assert remote.json("cert", "show", serial) == local.json("cert", "show", serial)
    assert remote.run("cert", "show", serial).stdout == local.run("cert", "show", serial).stdout
    listing = ("cert", "list", "--search", "shown.example", "--expiring-within", "3650d")
    assert remote.json(*listing) == local.json(*listing)


# -- writes: the same keys, the same values for the same things -----------------------


def test_ca_create_answers_like_local(local: Certward, remote: Remote) -> None:
    made_locally = local.json(
        "ca", "create", "local-team", "--subject", "/CN=team", "--parent", "root"
    )

    made_remotely = remote.json(
        "ca", "create", "remote-team", "--subject", "/CN=team", "--parent", "root",
        "--permit", "DNS:example.com",
    )  # fmt: skip

    assert made_remotely.keys() == made_locally.keys()
    for key in ("parent", "subject", "key_type", "crl_number"):
        assert made_remotely[key] == made_locally[key]
    assert local.json("ca", "show", "remote-team") == made_remotely


def test_cert_issue_writes_the_same_files_and_json(
    local: Certward, remote: Remote, tmp_path: Path
) -> None:
    here = issue(local, "twin.example", tmp_path / "local")

    there = issue(remote, "twin.example", tmp_path / "remote")

    assert there.keys() == here.keys()
    assert there["paths"].keys() == here["paths"].keys()
    for key in ("ca", "profile", "subject", "sans"):
        assert there[key] == here[key]
    certificate = x509.load_pem_x509_certificate(Path(there["paths"]["certificate"]).read_bytes())
    key = load_private_key(Path(there["paths"]["key"]).read_bytes())
    assert key.public_key() == certificate.public_key()
    assert oct(Path(there["paths"]["key"]).stat().st_mode & 0o777) == "0o600"
    assert local.json("cert", "show", there["serial"])["status"] == "valid"


def test_cert_sign_accepts_a_der_csr_like_local(
    local: Certward, remote: Remote, tmp_path: Path
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "signed.example")]))
        .sign(key, hashes.SHA256())
    )
    csr_file = tmp_path / "request.der"
    csr_file.write_bytes(csr.public_bytes(serialization.Encoding.DER))
    sign = ("cert", "sign", "--ca", "issuing", "--profile", "client", "--csr", csr_file)

    here = local.json(*sign, "--out", tmp_path / "local.crt")
    there = remote.json(*sign, "--out", tmp_path / "remote.crt", "--chain")

    assert there.keys() == here.keys()
    assert (there["subject"], there["profile"]) == (here["subject"], here["profile"])
    written = x509.load_pem_x509_certificates((tmp_path / "remote.crt").read_bytes())
    assert written[0].public_key() == key.public_key()
    assert len(written) == 3  # certificate, issuing, root


def test_cert_revoke_answers_like_local(local: Certward, remote: Remote, tmp_path: Path) -> None:
    first = issue(local, "revoked-here.example", tmp_path / "a")["serial"]
    second = issue(local, "revoked-there.example", tmp_path / "b")["serial"]

    here = local.json("cert", "revoke", first, "--reason", "superseded")
    there = remote.json("cert", "revoke", second, "--reason", "superseded")

    assert there.keys() == here.keys()
    assert (there["ca_name"], there["reason"]) == (here["ca_name"], here["reason"])
    assert remote.json("cert", "show", second) == local.json("cert", "show", second)
    assert local.json("cert", "show", second)["status"] == "revoked"


def test_crl_publish_answers_like_local_and_writes_the_crl(
    local: Certward, remote: Remote, tmp_path: Path
) -> None:
    here = local.json("crl", "publish", "--ca", "issuing", "--days", "2")

    there = remote.json("crl", "publish", "--ca", "issuing", "--out", tmp_path / "crl.der", "--der")

    assert there.keys() == here.keys()
    assert there["crl_number"] == here["crl_number"] + 1
    crl = x509.load_der_x509_crl((tmp_path / "crl.der").read_bytes())
    assert (
        crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        == (there["crl_number"])
    )


def test_hashdir_sync_writes_what_local_writes(
    local: Certward, remote: Remote, tmp_path: Path
) -> None:
    sync = ("hashdir", "sync", "--ca", "root", "--ca", "issuing", "--crl")

    here = local.json(*sync[:2], tmp_path / "local", *sync[2:])
    there = remote.json(*sync[:2], tmp_path / "remote", *sync[2:])

    assert [e["file_name"] for e in there["entries"]] == [e["file_name"] for e in here["entries"]]
    for entry in here["entries"]:
        name = entry["file_name"]
        assert (tmp_path / "remote" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()


def test_hashdir_sync_needs_no_client_certificate(server: LiveServer, tmp_path: Path) -> None:
    anonymous = Remote(server, ("--server", server.url, "--ca", str(server.ca_file)))

    result = anonymous.json("hashdir", "sync", tmp_path / "hashes", "--ca", "root")

    assert [e["kind"] for e in result["entries"]] == ["certificate"]


# -- errors and options ---------------------------------------------------------------


def test_a_server_error_is_one_line_with_the_local_exit_code(
    local: Certward, remote: Remote
) -> None:
    here = local.run("ca", "show", "no-such-ca", check=False)
    there = remote.run("ca", "show", "no-such-ca", check=False)

    assert_one_line_error(here, "ca.not_found", 3)
    assert_one_line_error(there, "ca.not_found", 3)
    assert "(request " in there.stderr


def test_an_unreachable_server_is_one_line_and_exit_7(server: LiveServer) -> None:
    dead = Remote(
        server, ("--server", f"https://127.0.0.1:{free_port()}", "--ca", str(server.ca_file))
    )

    result = dead.run("ca", "list", check=False)

    assert_one_line_error(result, "service.unavailable", 7)


def test_a_call_without_client_certificate_is_refused_with_exit_9(server: LiveServer) -> None:
    anonymous = Remote(server, ("--server", server.url, "--ca", str(server.ca_file)))

    result = anonymous.run("cert", "list", check=False)

    assert_one_line_error(result, "auth.required", 9)


def test_environment_variables_select_remote_mode(server: LiveServer, local: Certward) -> None:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("CERTWARD_")
    }
    environment.update(
        CERTWARD_SERVER=server.url,
        CERTWARD_CERT=str(server.admin_cert),
        CERTWARD_KEY=str(server.admin_key),
        CERTWARD_CA=str(server.ca_file),
        CERTWARD_DATA_DIR=str(server.data_dir.parent / "absent"),
    )

    result = subprocess.run(
        [str(CERTWARD), "ca", "list", "--json"],
        capture_output=True, text=True, env=environment, timeout=60, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert result.stdout == local.run("ca", "list", "--json").stdout


def test_local_only_commands_refuse_server(remote: Remote) -> None:
    result = remote.run("keystore", "status", check=False)

    assert_one_line_error(result, "input.invalid", 2)
    assert "--server" in result.stderr


def test_identity_flags_without_server_are_refused(local: Certward, server: LiveServer) -> None:
    result = local.run("--cert", str(server.admin_cert), "ca", "list", check=False)

    assert_one_line_error(result, "input.invalid", 2)


def test_server_without_a_trust_anchor_is_refused(local: Certward, server: LiveServer) -> None:
    result = local.run("--server", server.url, "ca", "list", check=False)

    assert_one_line_error(result, "input.invalid", 2)
    assert "--ca" in result.stderr
