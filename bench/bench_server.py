"""The mTLS service side by side with bare uvicorn, nginx and cfssl (same certificates, same CRL).

Run: ``.venv/bin/python bench/bench_server.py [--quick] [--only keepalive,handshake,issuance]``

Every server runs one worker pinned to core 0; the load generator
(bench/loadgen.py: one process per connection, client certificate presented)
is pinned to core 1. All servers are up for the whole run and measured in turn,
round after round, so a noisy neighbour hits every one of them alike; each figure
is the median of the rounds, with min and max.

One certward data dir provides everything: the server certificate and key
(certward's own, EC P-256), the client CAs (issuing + root), their CRLs (the
issuing CA's lists revoked certificates) and the client certificate (the
admin's, sent without its CA chain).

Workloads:

- keep-alive: ``GET /health`` over HTTP/1.1 keep-alive, mTLS connections —
  ``certward serve`` vs a bare uvicorn ASGI hello-world with the same TLS context
  settings (``certward.server.tls.build_server_context``: client certificate
  optional, CRL checks), on asyncio's loop (as certward) and on uvloop; nginx
  shown for scale (and for how far the load generator can push);
- handshakes: a full mTLS handshake + ``GET /health`` + close, again and again —
  certward vs nginx (``ssl_verify_client on``, ``ssl_crl``) vs bare uvicorn;
- issuance: ``POST /v1/certificates/sign`` with EC P-256 CSRs, stored, over
  keep-alive mTLS connections — certward vs ``cfssl serve`` (HTTPS + mutual TLS,
  SQLite cert DB in WAL mode; see bench/bench_cfssl.py); also cfssl with
  ``synchronous=FULL``, certward's durability, as a like-for-like reference.

Next to req/s, each figure says how busy the server's core was (CPU time of its
process group over the run) and how many responses it served per CPU-second.
On a 2-core machine a Python load generator on one core cannot always saturate
a server on the other (below ~90% busy the client, or a neighbour, was the
limit), so the per-CPU-second ratio is the steadier comparison; both are shown,
and an aim counts as met only when both ratios reach it.

Handshake costs here are mostly OpenSSL 3.0's own (decoder and provider
lookups, not the P-256 maths): ~1.2-2 ms of client CPU per full mTLS
handshake, about what nginx spends, so one client core holds nginx below full
load; its per-CPU-second figure is the one to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bench.bench_cfssl import CfsslFiles, cfssl_server, cfssl_sign_body, stored_certificates
from bench.common import Row, machine
from bench.loadgen import LoadResult, LoadSpec, run_load

SERVER_CORE = 0
LOAD_CORE = 1
START_TIMEOUT = 60.0
WORKLOADS = ("keepalive", "handshake", "issuance")
_HEALTH_BODY = b'{"status":"healthy"}'


@dataclass(frozen=True)
class Scale:
    """How long and how hard to measure."""

    duration: float
    runs: int
    revoked: int
    keepalive_connections: int = 8
    handshake_connections: int = 4
    issuance_connections: int = 8


QUICK = Scale(duration=2.0, runs=3, revoked=100)
FULL = Scale(duration=8.0, runs=3, revoked=1000)


# -- material -------------------------------------------------------------------------


@dataclass(frozen=True)
class Material:
    """The files every server and client of the run uses (in one directory)."""

    directory: Path
    data_dir: Path

    @property
    def server_chain(self) -> Path:
        return self.directory / "server-chain.pem"

    @property
    def server_key(self) -> Path:
        return self.directory / "server.key"

    @property
    def client_ca(self) -> Path:
        """The issuing CA and the root: what client certificates must chain to."""
        return self.directory / "client-ca.pem"

    @property
    def crl(self) -> Path:
        """The issuing CA's and the root's newest CRLs (PEM)."""
        return self.directory / "crl.pem"

    @property
    def client_certificate(self) -> Path:
        """The admin's certificate alone (admin.crt also holds the CAs, which no client sends)."""
        return self.directory / "client.crt"

    @property
    def client_key(self) -> Path:
        return self.data_dir / "admin" / "admin.key"

    @property
    def issuing_certificate(self) -> Path:
        return self.directory / "issuing.crt"

    @property
    def issuing_key(self) -> Path:
        return self.directory / "issuing.key"


def prepare_material(directory: Path, *, revoked: int) -> Material:
    """Bootstrap a certward data dir, revoke ``revoked`` certificates, write the shared files."""
    from certward.ca.authority import ca_chain
    from certward.ca.crl import latest_crl, publish_crl
    from certward.ca.issue import issue_many, leaf_request
    from certward.ca.revoke import revoke_certificate
    from certward.crypto.keys import private_key_to_pkcs8
    from certward.datadir import open_data_dir
    from certward.logs import configure_logging
    from certward.server.bootstrap import load_server_identity
    from certward.server.serve import prepare

    configure_logging(level="warning")
    directory.mkdir(parents=True, exist_ok=True)
    material = Material(directory=directory, data_dir=directory / "certward-data")
    settings = prepare(material.data_dir).settings
    issuing, root = settings.issuing_ca, settings.root_ca
    ctx = open_data_dir(material.data_dir)
    try:
        gone = (
            issue_many(
                ctx,
                ca_name=issuing,
                profile="client",
                requests=[leaf_request(common_name=f"gone{i}") for i in range(revoked)],
            )
            if revoked
            else []
        )
        for certificate in gone:
            revoke_certificate(ctx, certificate.serial, reason="superseded")
        publish_crl(ctx, issuing)
        identity = load_server_identity(ctx)
        material.server_chain.write_bytes(identity.chain_pem)
        material.server_key.write_bytes(identity.key_pem)
        material.server_key.chmod(0o600)
        chain = ca_chain(ctx, issuing)
        material.client_ca.write_bytes(
            b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
        )
        material.crl.write_bytes(latest_crl(ctx, issuing).pem + latest_crl(ctx, root).pem)
        admin_chain = (material.data_dir / "admin" / "admin.crt").read_bytes()
        material.client_certificate.write_bytes(
            x509.load_pem_x509_certificates(admin_chain)[0].public_bytes(serialization.Encoding.PEM)
        )
        material.issuing_certificate.write_bytes(chain[0].public_bytes(serialization.Encoding.PEM))
        with ctx.database.read() as session:
            signing_key = ctx.load(session, ctx.ca_row(session, issuing)).key
        material.issuing_key.write_bytes(private_key_to_pkcs8(signing_key))  # for cfssl
        material.issuing_key.chmod(0o600)
    finally:
        ctx.database.dispose()
    return material


def csr_pems(count: int) -> list[str]:
    """``count`` EC P-256 CSRs (PEM), each with its own key, CN and DNS SAN."""
    pems = []
    for index in range(count):
        key = ec.generate_private_key(ec.SECP256R1())
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, f"svc{index}")]))
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(f"svc{index}.bench.example")]),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        pems.append(csr.public_bytes(serialization.Encoding.PEM).decode())
    return pems


# -- servers ----------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_for_tls(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{log.stem} exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=2) as raw,
                context.wrap_socket(raw),
            ):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{log.stem} did not answer TLS on port {port} within {START_TIMEOUT}s")


@dataclass(frozen=True)
class Target:
    """A running server: where it answers and the process group whose CPU time it uses."""

    url: str
    process_group: int


def group_cpu_seconds(process_group: int) -> float:
    """User + system CPU seconds of every live process in ``process_group`` (all threads)."""
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        if int(fields[2]) == process_group:  # pgrp
            ticks += int(fields[11]) + int(fields[12])  # utime + stime
    return ticks / os.sysconf("SC_CLK_TCK")


@contextmanager
def server_process(
    name: str,
    command: list[str],
    *,
    port: int,
    logs: Path,
    env: dict[str, str] | None = None,
    pin: bool = True,
) -> Iterator[Target]:
    """Run ``command`` in its own process group (pinned to the server core) until the block ends."""
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    pinning = ["taskset", "-c", str(SERVER_CORE)] if pin else []
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*pinning, *command],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    try:
        _wait_for_tls(port, process, log)
        yield Target(f"https://127.0.0.1:{port}", process.pid)
    finally:
        _stop_group(process)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def certward_command(material: Material, port: int) -> list[str]:
    """``certward serve`` on ``port`` with one worker."""
    return [
        str(Path(sys.executable).parent / "certward"),
        "--data-dir",
        str(material.data_dir),
        "--log-level",
        "warning",
        "serve",
        "--port",
        str(port),
        "--workers",
        "1",
    ]


def bare_command(material: Material, port: int, loop: str) -> list[str]:
    """This file's ``bare`` mode: a hello-world ASGI app on uvicorn with certward's TLS settings."""
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        "bare",
        "--material",
        str(material.directory),
        "--port",
        str(port),
        "--loop",
        loop,
    ]


def nginx_command(material: Material, port: int, work: Path) -> list[str]:
    """nginx, one worker process, ``ssl_verify_client on`` with the same CAs and CRL."""
    work.mkdir(parents=True, exist_ok=True)
    config = work / "nginx.conf"
    config.write_text(
        f"""daemon off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {work}/body;
  proxy_temp_path {work}/proxy;
  fastcgi_temp_path {work}/fastcgi;
  uwsgi_temp_path {work}/uwsgi;
  scgi_temp_path {work}/scgi;
  keepalive_requests 10000000;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {material.server_chain};
    ssl_certificate_key {material.server_key};
    ssl_client_certificate {material.client_ca};
    ssl_crl {material.crl};
    ssl_verify_client on;
    ssl_verify_depth 2;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache off;
    location / {{
      default_type application/json;
      return 200 '{_HEALTH_BODY.decode()}';
    }}
  }}
}}
""",
        encoding="utf-8",
    )
    return [_nginx(), "-e", str(work / "error.log"), "-c", str(config)]


def _nginx() -> str:
    for candidate in ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"):
        if Path(candidate).exists():
            return candidate
    raise SystemExit("nginx is not installed: run 'make setup' (scripts/install-system-deps.sh)")


# -- the bare reference app ---------------------------------------------------------------


async def hello_app(scope: dict[str, Any], receive: Callable[..., Any], send: Any) -> None:
    """The smallest ASGI app that answers like ``GET /health``."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(_HEALTH_BODY)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _HEALTH_BODY})


def serve_bare(material: Material, *, port: int, loop: str) -> None:
    """Serve :func:`hello_app` on uvicorn (httptools) with certward's server TLS settings."""
    import uvicorn

    from certward.server.tls import TLSMaterial, build_server_context

    crls = tuple(
        x509.load_pem_x509_crl(b"-----BEGIN X509 CRL-----" + part).public_bytes(
            serialization.Encoding.DER
        )
        for part in material.crl.read_bytes().split(b"-----BEGIN X509 CRL-----")[1:]
    )
    context = build_server_context(
        TLSMaterial(
            certificate_chain_pem=material.server_chain.read_bytes(),
            private_key_pem=material.server_key.read_bytes(),
            trusted_cas=tuple(x509.load_pem_x509_certificates(material.client_ca.read_bytes())),
            crls_der=crls,
        )
    )
    config = uvicorn.Config(
        hello_app,
        host="127.0.0.1",
        port=port,
        loop=loop,
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        server_header=False,
        ssl_context_factory=lambda _config, _default: context,
    )
    uvicorn.Server(config).run()


# -- measuring ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One measured run: 2xx responses per second and the server CPU time it took."""

    per_second: float
    ok: int
    server_cpu: float
    duration: float

    @property
    def per_cpu_second(self) -> float:
        """2xx responses per CPU-second of the server: robust to a client that cannot keep up."""
        return self.ok / self.server_cpu if self.server_cpu > 0 else 0.0

    @property
    def busy(self) -> float:
        """How much of its core the server used (below ~0.9: the load generator was the limit)."""
        return self.server_cpu / self.duration


@dataclass(frozen=True)
class Figure:
    """One target's samples over the rounds."""

    samples: tuple[Sample, ...]

    @property
    def median(self) -> float:
        return statistics.median(s.per_second for s in self.samples) if self.samples else 0.0

    @property
    def spread(self) -> str:
        if not self.samples:
            return "n/a"
        rates = [s.per_second for s in self.samples]
        return f"{min(rates):,.0f}..{max(rates):,.0f}"

    @property
    def per_cpu_second(self) -> float:
        return statistics.median(s.per_cpu_second for s in self.samples) if self.samples else 0.0

    @property
    def busy(self) -> float:
        return statistics.median(s.busy for s in self.samples) if self.samples else 0.0


def measure(
    targets: dict[str, tuple[LoadSpec, int]], scale: Scale, *, label: str
) -> dict[str, Figure]:
    """Warm every target up, then run ``scale.runs`` rounds over all of them in turn.

    ``targets`` maps a name to its load and the server's process group.
    """
    samples: dict[str, list[Sample]] = {name: [] for name in targets}
    for name, (spec, _) in targets.items():
        warm = replace(spec, duration=min(1.0, scale.duration / 2))
        _checked(run_load(warm), f"{label}/{name} warm-up")
    for round_number in range(scale.runs):
        for name, (spec, process_group) in targets.items():
            cpu_before = group_cpu_seconds(process_group)
            result = _checked(run_load(spec), f"{label}/{name} round {round_number + 1}")
            sample = Sample(
                per_second=result.per_second,
                ok=result.ok,
                server_cpu=group_cpu_seconds(process_group) - cpu_before,
                duration=spec.duration,
            )
            samples[name].append(sample)
            print(
                f"  {label:>10} {name:<24} {sample.per_second:>9,.0f}/s   "
                f"server busy {sample.busy:4.0%}   {sample.per_cpu_second:>9,.0f} per CPU-s",
                flush=True,
            )
    return {name: Figure(tuple(values)) for name, values in samples.items()}


def _checked(result: LoadResult, what: str) -> LoadResult:
    if result.errors or result.failed or not result.ok:
        print(
            f"  warning: {what}: {result.ok} ok, {result.failed} non-2xx, {result.errors} errors"
            f" (first: {result.first_error})",
            file=sys.stderr,
        )
    return result


@dataclass(frozen=True)
class Comparison:
    """A certward figure next to a reference, with the aim that applies (if any)."""

    workload: str
    certward: Figure
    reference: Figure
    reference_name: str
    aim_ratio: float | None = None
    aim: str = ""
    in_report: bool = True

    @property
    def ratio(self) -> float:
        return self.certward.median / self.reference.median if self.reference.median else 0.0

    @property
    def cpu_ratio(self) -> float:
        """The ratio of responses per server CPU-second."""
        mine, theirs = self.certward.per_cpu_second, self.reference.per_cpu_second
        return mine / theirs if theirs else 0.0

    @property
    def met(self) -> bool | None:
        """Whether the aim holds both by req/s and per server CPU-second (None: no aim).

        Requiring both keeps a run where the load generator held the reference back
        (its server not fully busy) from passing on req/s alone.
        """
        if self.aim_ratio is None:
            return None
        return self.ratio >= self.aim_ratio and self.cpu_ratio >= self.aim_ratio

    def row(self) -> Row:
        """The line for docs/benchmarks.md (the spread and CPU figures go into the label)."""
        return Row(
            f"{self.workload} (median of {len(self.certward.samples)}, min..max: certward "
            f"{self.certward.spread}, reference {self.reference.spread}; server busy "
            f"{self.certward.busy:.0%} / {self.reference.busy:.0%}; "
            f"ratio per server CPU-second {self.cpu_ratio:.2f})",
            self.certward.median,
            self.reference.median,
            self.reference_name,
            "/s",
            self.aim,
            self.met,
        )


def comparison_table(comparisons: list[Comparison]) -> str:
    """A markdown table: medians with min..max, ratios, per-CPU-second ratios, aims."""
    lines = [
        "| workload | certward /s (min..max) | reference /s (min..max) | ratio "
        "| server busy (cw / ref) | ratio per server CPU-s | aim | met |",
        "|---|---:|---|---:|---|---:|---|---|",
    ]
    for c in comparisons:
        met = "" if c.met is None else ("yes" if c.met else "**no**")
        lines.append(
            f"| {c.workload} | {c.certward.median:,.0f} ({c.certward.spread}) | "
            f"{c.reference.median:,.0f} ({c.reference.spread}) {c.reference_name} | "
            f"{c.ratio:.2f} | {c.certward.busy:.0%} / {c.reference.busy:.0%} | "
            f"{c.cpu_ratio:.2f} | {c.aim} | {met} |"
        )
    return "\n".join(lines)


def _load(
    url: str, material: Material, *, mode: str, connections: int, scale: Scale, **extra: Any
) -> LoadSpec:
    return LoadSpec(
        url=url,
        mode=mode,
        connections=connections,
        duration=scale.duration,
        core=LOAD_CORE,
        cert=str(material.client_certificate),
        key=str(material.client_key),
        **extra,
    )


_NAMES = {
    "certward": "certward serve",
    "asyncio": "bare uvicorn (asyncio)",
    "uvloop": "bare uvicorn (uvloop)",
    "nginx": "nginx",
}


def _tls_comparisons(
    material: Material, scale: Scale, work: Path, workloads: set[str]
) -> list[Comparison]:
    ports = {key: free_port() for key in _NAMES}
    commands = {
        "certward": certward_command(material, ports["certward"]),
        "asyncio": bare_command(material, ports["asyncio"], "asyncio"),
        "uvloop": bare_command(material, ports["uvloop"], "uvloop"),
        "nginx": nginx_command(material, ports["nginx"], work / "nginx"),
    }
    comparisons: list[Comparison] = []
    with ExitStack() as stack:
        targets = {
            key: stack.enter_context(
                server_process(key, command, port=ports[key], logs=work / "logs")
            )
            for key, command in commands.items()
        }

        def figures(mode: str, connections: int, label: str) -> dict[str, Figure]:
            loads = {
                key: (
                    _load(
                        f"{target.url}/health",
                        material,
                        mode=mode,
                        connections=connections,
                        scale=scale,
                    ),
                    target.process_group,
                )
                for key, target in targets.items()
            }
            measured = measure({_NAMES[k]: v for k, v in loads.items()}, scale, label=label)
            return {key: measured[_NAMES[key]] for key in loads}

        if "keepalive" in workloads:
            print("keep-alive GET /health over mTLS connections:", flush=True)
            got = figures("keepalive", scale.keepalive_connections, "keep-alive")
            workload = "mTLS keep-alive `GET /health` req/s, 1 worker"
            comparisons += [
                Comparison(
                    workload, got["certward"], got["asyncio"], _NAMES["asyncio"], 0.8, "≥ 80%"
                ),
                Comparison(
                    workload, got["certward"], got["uvloop"], _NAMES["uvloop"], aim="reference"
                ),
                Comparison(
                    workload,
                    got["certward"],
                    got["nginx"],
                    _NAMES["nginx"],
                    aim="reference",
                    in_report=False,
                ),
            ]
        if "handshake" in workloads:
            print("fresh mTLS handshake + GET /health + close:", flush=True)
            got = figures("handshake", scale.handshake_connections, "handshake")
            workload = "fresh mTLS handshakes/s (+ one request), 1 worker"
            comparisons += [
                Comparison(workload, got["certward"], got["nginx"], _NAMES["nginx"], 0.7, "≥ 70%"),
                Comparison(
                    workload, got["certward"], got["asyncio"], _NAMES["asyncio"], aim="reference"
                ),
                Comparison(
                    workload,
                    got["certward"],
                    got["uvloop"],
                    _NAMES["uvloop"],
                    aim="reference",
                    in_report=False,
                ),
            ]
    return comparisons


def _issuance_comparison(material: Material, scale: Scale, work: Path) -> list[Comparison]:
    csrs = csr_pems(64)
    certward_bodies = tuple(
        json.dumps({"ca": "issuing", "profile": "server", "csr_pem": pem}).encode() for pem in csrs
    )
    cfssl_bodies = tuple(cfssl_sign_body(pem) for pem in csrs)
    ports = {"certward": free_port(), "cfssl": free_port(), "cfssl-full": free_port()}
    files = CfsslFiles(
        ca_certificate=material.issuing_certificate,
        ca_key=material.issuing_key,
        tls_certificate=material.server_chain,
        tls_key=material.server_key,
        client_ca=material.client_ca,
    )
    with ExitStack() as stack:
        certward = stack.enter_context(
            server_process(
                "certward-issuance",
                certward_command(material, ports["certward"]),
                port=ports["certward"],
                logs=work / "logs",
            )
        )
        cfssl = stack.enter_context(
            cfssl_server(work / "cfssl", files, port=ports["cfssl"], core=SERVER_CORE)
        )
        cfssl_full = stack.enter_context(
            cfssl_server(
                work / "cfssl-full",
                files,
                port=ports["cfssl-full"],
                core=SERVER_CORE,
                synchronous="FULL",
            )
        )
        print("API issuance, EC P-256 CSR signing, stored, keep-alive mTLS:", flush=True)

        def load(url: str, bodies: tuple[bytes, ...]) -> LoadSpec:
            return _load(
                url,
                material,
                mode="post",
                connections=scale.issuance_connections,
                scale=scale,
                bodies=bodies,
            )

        sign = "/api/v1/cfssl/sign"
        got = measure(
            {
                "certward": (
                    load(f"{certward.url}/v1/certificates/sign", certward_bodies),
                    certward.process_group,
                ),
                "cfssl": (
                    load(f"https://127.0.0.1:{ports['cfssl']}{sign}", cfssl_bodies),
                    cfssl.process_group,
                ),
                "cfssl (sync FULL)": (
                    load(f"https://127.0.0.1:{ports['cfssl-full']}{sign}", cfssl_bodies),
                    cfssl_full.process_group,
                ),
            },
            scale,
            label="issuance",
        )
        stored = stored_certificates(cfssl.database) + stored_certificates(cfssl_full.database)
        print(f"  cfssl stored {stored:,} certificates", flush=True)
    workload = "API issuance, EC P-256 CSR signing, stored, req/s"
    return [
        Comparison(
            workload, got["certward"], got["cfssl"], "cfssl serve (SQLite WAL)", 2.0, "≥ 2x"
        ),
        Comparison(
            workload,
            got["certward"],
            got["cfssl (sync FULL)"],
            "cfssl serve (SQLite WAL, synchronous=FULL like certward)",
            aim="reference",
        ),
    ]


def run_comparisons(
    quick: bool, *, workloads: set[str] | None = None
) -> tuple[list[Comparison], Scale]:
    """Every comparison of this file, measured in one run."""
    scale = QUICK if quick else FULL
    chosen = set(WORKLOADS) if workloads is None else workloads
    comparisons: list[Comparison] = []
    with tempfile.TemporaryDirectory(prefix="certward-bench-server-") as tmp:
        work = Path(tmp)
        print(f"preparing certificates (CRL with {scale.revoked} revoked entries)…", flush=True)
        material = prepare_material(work / "material", revoked=scale.revoked)
        if chosen & {"keepalive", "handshake"}:
            comparisons += _tls_comparisons(material, scale, work, chosen)
        if "issuance" in chosen:
            comparisons += _issuance_comparison(material, scale, work)
    return comparisons, scale


def run(quick: bool) -> list[Row]:
    """The rows for docs/benchmarks.md (bench/run.py)."""
    comparisons, _ = run_comparisons(quick)
    print(comparison_table(comparisons))
    return [c.row() for c in comparisons if c.in_report]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command")
    bare = commands.add_parser("bare", help="(internal) serve the bare reference app")
    bare.add_argument("--material", type=Path, required=True)
    bare.add_argument("--port", type=int, required=True)
    bare.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--quick", action="store_true", help="shorter runs, smaller CRL")
    parser.add_argument(
        "--only", default=",".join(WORKLOADS), help=f"comma-separated subset of {WORKLOADS}"
    )
    args = parser.parse_args()
    if args.command == "bare":
        serve_bare(
            Material(args.material, args.material / "certward-data"), port=args.port, loop=args.loop
        )
        return
    workloads = {w.strip() for w in args.only.split(",") if w.strip()}
    unknown = workloads - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    comparisons, scale = run_comparisons(args.quick, workloads=workloads)
    print()
    print(
        f"Machine: {machine()}; servers pinned to core {SERVER_CORE}, load generator to core "
        f"{LOAD_CORE}; {scale.runs} rounds of {scale.duration:g} s"
        f"{' (quick)' if args.quick else ''}."
    )
    print()
    print(comparison_table(comparisons))


if __name__ == "__main__":
    main()
