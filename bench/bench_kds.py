"""KDS key requests over keep-alive mutual TLS, side by side with a bare ASGI handler.

Run: ``.venv/bin/python bench/bench_kds.py [--quick]``

Both servers run one process pinned to core 0 with the same TLS setup (EC P-256
server certificate from a certward data dir; client certificates must chain to
its root and are checked against both CAs' CRLs, as
``certward.kds.revocation.build_kds_context`` does by default):

- ``certward kds serve``: ``POST /`` with a marshalled KeyIdent (a few different
  nonces and groups), answered with a derived key (SHA-256) and the random servers;
- the reference: a bare ASGI app on uvicorn (asyncio loop, httptools) that reads
  the same POST body and answers a fixed 43-byte ``application/octet-stream`` body.

The load generator (bench/loadgen.py: one process per keep-alive connection,
client certificate presented, pinned to core 1) sends the same requests to both.
The aim: the KDS serves at least 60% of the bare handler's requests per second
(and per server CPU-second, as in bench/bench_server.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_server import (
    FULL,
    LOAD_CORE,
    QUICK,
    Comparison,
    Scale,
    comparison_table,
    free_port,
    measure,
    server_process,
)
from bench.common import Row, machine
from bench.loadgen import LoadSpec

KDS_NAME = "kds.bench.example"
GROUPS = ("urn:bench:a", "urn:bench:b")
_BARE_BODY = b"\x00" * 43  # the size of a KeyResponse with a 32-byte key and no servers
AIM = 0.6


@dataclass(frozen=True)
class KdsMaterial:
    """The files both servers and the load generator use (in one directory)."""

    directory: Path

    @property
    def data_dir(self) -> Path:
        return self.directory / "certward-data"

    @property
    def server_chain(self) -> Path:
        return self.directory / "server-chain.pem"

    @property
    def server_key(self) -> Path:
        return self.directory / "server.key"

    @property
    def trust(self) -> Path:
        """The root CA (the KDS's trust anchor)."""
        return self.directory / "root.pem"

    @property
    def client_certificate(self) -> Path:
        return self.directory / "client.crt"

    @property
    def client_key(self) -> Path:
        return self.directory / "client.key"


def prepare_material(directory: Path) -> KdsMaterial:
    """A data dir with root → issuing CAs, a KDS server certificate and a KDS client identity."""
    from certward.ca.authority import ca_chain, create_ca
    from certward.ca.issue import issue_certificate
    from certward.crypto.formats import certificate_pem, chain_pem
    from certward.crypto.keys import private_key_to_pkcs8
    from certward.datadir import initialise_data_dir
    from certward.logs import configure_logging

    configure_logging(level="warning")
    directory.mkdir(parents=True, exist_ok=True)
    material = KdsMaterial(directory)
    ctx = initialise_data_dir(material.data_dir)
    try:
        create_ca(ctx, name="root", subject="/CN=KDS bench root")
        create_ca(ctx, name="issuing", subject="/CN=KDS bench issuing", parent="root")
        server = issue_certificate(
            ctx,
            ca_name="issuing",
            profile="server",
            common_name=KDS_NAME,
            sans=["IP:127.0.0.1"],
        )
        client = issue_certificate(
            ctx,
            ca_name="issuing",
            profile="client",
            common_name="bench-client",
            sans=[f"DNS:{KDS_NAME}", *(f"URI:{group}" for group in GROUPS)],
        )
        assert server.private_key is not None and client.private_key is not None
        material.server_chain.write_bytes(chain_pem(server.full_chain))
        material.server_key.write_bytes(private_key_to_pkcs8(server.private_key))
        material.server_key.chmod(0o600)
        material.client_certificate.write_bytes(certificate_pem(client.certificate))
        material.client_key.write_bytes(private_key_to_pkcs8(client.private_key))
        material.client_key.chmod(0o600)
        material.trust.write_bytes(certificate_pem(ca_chain(ctx, "root")[0]))
    finally:
        ctx.database.dispose()
    return material


def request_bodies() -> tuple[bytes, ...]:
    """Marshalled KeyIdents as senders make them: current key, a few nonces, both groups."""
    from certward.kds.ident import KeyIdent

    return tuple(
        KeyIdent(-1, 480_000 + index, GROUPS[index % len(GROUPS)]).encode() for index in range(16)
    )


def kds_command(material: KdsMaterial, port: int) -> list[str]:
    """``certward kds serve`` on ``port`` (it publishes the first master key at start)."""
    return [
        str(Path(sys.executable).parent / "certward"),
        "--data-dir",
        str(material.data_dir),
        "--log-level",
        "warning",
        "kds",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--cert",
        str(material.server_chain),
        "--key",
        str(material.server_key),
        "--trusts",
        str(material.trust),
        "--publish-period",
        "30",
    ]


def bare_command(material: KdsMaterial, port: int) -> list[str]:
    """This file's ``bare`` mode: the reference handler on the KDS's TLS setup."""
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        "bare",
        "--material",
        str(material.directory),
        "--port",
        str(port),
    ]


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Read the POST body, answer a fixed octet-stream body: the floor of any KDS."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/octet-stream"),
                (b"content-length", b"%d" % len(_BARE_BODY)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _BARE_BODY})


def serve_bare(material: KdsMaterial, *, port: int) -> None:
    """Serve :func:`bare_app` with the TLS context a KDS node would build from this data dir."""
    import uvicorn
    from cryptography import x509

    from certward.ca.authority import ca_chain
    from certward.ca.crl import latest_crl
    from certward.datadir import open_data_dir
    from certward.kds.revocation import RevocationPolicy, build_kds_context
    from certward.server.tls import TLSMaterial

    ctx = open_data_dir(material.data_dir)
    try:
        issuing, root = ca_chain(ctx, "issuing")
        crls = (latest_crl(ctx, "issuing").der, latest_crl(ctx, "root").der)
    finally:
        ctx.database.dispose()
    context = build_kds_context(
        TLSMaterial(
            certificate_chain_pem=material.server_chain.read_bytes(),
            private_key_pem=material.server_key.read_bytes(),
            trusted_cas=(
                issuing,
                root,
                x509.load_pem_x509_certificate(material.trust.read_bytes()),
            ),
            crls_der=crls,
        ),
        RevocationPolicy(),
    )
    config = uvicorn.Config(
        bare_app,
        host="127.0.0.1",
        port=port,
        loop="asyncio",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        server_header=False,
        date_header=False,
        ssl_context_factory=lambda _config, _default: context,
    )
    uvicorn.Server(config).run()


def run_comparison(quick: bool) -> tuple[list[Comparison], Scale]:
    """certward kds serve vs the bare handler, measured in one run."""
    scale = QUICK if quick else FULL
    bodies = request_bodies()
    with tempfile.TemporaryDirectory(prefix="certward-bench-kds-") as tmp:
        work = Path(tmp)
        print("preparing the KDS data dir and certificates…", flush=True)
        material = prepare_material(work / "material")
        ports = {"kds": free_port(), "bare": free_port()}
        commands = {
            "kds": kds_command(material, ports["kds"]),
            "bare": bare_command(material, ports["bare"]),
        }
        names = {"kds": "certward kds serve", "bare": "bare ASGI (uvicorn asyncio)"}
        with ExitStack() as stack:
            targets = {
                key: stack.enter_context(
                    server_process(f"kds-{key}", command, port=ports[key], logs=work / "logs")
                )
                for key, command in commands.items()
            }
            print("KDS key requests (POST / KeyIdent) over keep-alive mTLS:", flush=True)
            got = measure(
                {
                    names[key]: (
                        LoadSpec(
                            url=f"{target.url}/",
                            mode="post",
                            connections=scale.keepalive_connections,
                            duration=scale.duration,
                            core=LOAD_CORE,
                            cert=str(material.client_certificate),
                            key=str(material.client_key),
                            bodies=bodies,
                            content_type="application/octet-stream",
                        ),
                        target.process_group,
                    )
                    for key, target in targets.items()
                },
                scale,
                label="kds",
            )
    comparison = Comparison(
        "KDS key requests/s over keep-alive mTLS, 1 worker",
        got[names["kds"]],
        got[names["bare"]],
        names["bare"],
        AIM,
        f"≥ {AIM:.0%}",
    )
    return [comparison], scale


def run(quick: bool) -> list[Row]:
    """The rows for docs/benchmarks.md (bench/run.py)."""
    comparisons, _ = run_comparison(quick)
    print(comparison_table(comparisons))
    return [c.row() for c in comparisons]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command")
    bare = commands.add_parser("bare", help="(internal) serve the bare reference handler")
    bare.add_argument("--material", type=Path, required=True)
    bare.add_argument("--port", type=int, required=True)
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    args = parser.parse_args()
    if args.command == "bare":
        serve_bare(KdsMaterial(args.material), port=args.port)
        return
    comparisons, scale = run_comparison(args.quick)
    print()
    print(
        f"Machine: {machine()}; servers pinned to one core, load generator to another; "
        f"{scale.runs} rounds of {scale.duration:g} s{' (quick)' if args.quick else ''}."
    )
    print()
    print(comparison_table(comparisons))


if __name__ == "__main__":
    main()
