"""The mTLS service side by side with bare uvicorn, nginx and cfssl (same certificates, same CRL).

Run: ``.venv/bin/python bench/bench_server.py [--quick] [--only keepalive,handshake]``

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
- keep-alive vs concurrency: the same load at a few other connection counts
  (fewer, shorter rounds), for the chart of req/s against connections;
- handshakes: a full mTLS handshake + ``GET /health`` + close, again and again —
  certward vs nginx (``ssl_verify_client on``, ``ssl_crl``) vs bare uvicorn.

Issuance through the API (against cfssl) is bench/bench_api_issuance.py, which
uses this module's servers and measuring.

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
import http.client
import os
import signal
import socket
import ssl
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
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bench.common import Chart, Curve, Results, Row, Spread, affinity_prefix, machine
from bench.loadgen import LoadResult, LoadSpec, run_load

SERVER_CORE = 0
LOAD_CORE = 1
START_TIMEOUT = 60.0
WORKLOADS = ("keepalive", "handshake")
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
    # the chart of req/s against connections: these counts besides the main one above
    sweep_connections: tuple[int, ...] = (1, 4, 16)
    sweep_duration: float = 3.0
    sweep_runs: int = 3

    def for_sweep(self) -> Scale:
        """The scale of the points of a concurrency sweep (fewer, shorter rounds)."""
        return replace(self, duration=self.sweep_duration, runs=self.sweep_runs)


QUICK = Scale(
    duration=1.5,
    runs=2,
    revoked=100,
    sweep_connections=(1, 16),
    sweep_duration=1.0,
    sweep_runs=1,
)
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


def _unverified_client() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def answers_health(url: str) -> bool:
    """Whether ``GET {url}/health`` answers 200 (TLS, no client certificate)."""
    parts = urlsplit(url)
    connection = http.client.HTTPSConnection(
        parts.hostname or "127.0.0.1", parts.port, timeout=5, context=_unverified_client()
    )
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def _wait_for_tls(
    port: int, process: subprocess.Popen[bytes], log: Path, *, poll: float = 0.2
) -> None:
    context = _unverified_client()
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
            time.sleep(poll)
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
    poll: float = 0.2,
) -> Iterator[Target]:
    """Run ``command`` in its own process group until the block ends.

    Pinned to the server core, or with ``pin=False`` free to use every core; the
    block starts once it answers TLS (asked every ``poll`` seconds).
    """
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    pinning = affinity_prefix(SERVER_CORE if pin else None)
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
        _wait_for_tls(port, process, log, poll=poll)
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


def certward_command(material: Material, port: int, *, workers: int = 1) -> list[str]:
    """``certward serve`` on ``port`` with ``workers`` worker processes."""
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
        str(workers),
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
    def rates(self) -> Spread:
        """Median and min..max of the rounds' req/s."""
        return Spread.of([s.per_second for s in self.samples])

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

    def row(self, *, note: str = "") -> Row:
        """The line for docs/benchmarks.md (server load and per-CPU-second ratio as notes)."""
        return Row(
            self.workload,
            self.certward.median,
            self.reference.median,
            self.reference_name,
            "/s",
            self.aim,
            self.met,
            certward_range=self.certward.rates.span,
            reference_range=self.reference.rates.span,
            note=(
                f"{len(self.certward.samples)} runs; server busy {self.certward.busy:.0%} / "
                f"{self.reference.busy:.0%}; ratio per server CPU-second {self.cpu_ratio:.2f}"
                + (f"; {note}" if note else "")
            ),
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


def mtls_load(
    url: str,
    material: Material,
    *,
    mode: str,
    connections: int,
    scale: Scale,
    core: int | None = LOAD_CORE,
    **extra: Any,
) -> LoadSpec:
    """The load generator's spec for ``url``, presenting the admin's client certificate."""
    return LoadSpec(
        url=url,
        mode=mode,
        connections=connections,
        duration=scale.duration,
        core=core,
        cert=str(material.client_certificate),
        key=str(material.client_key),
        **extra,
    )


Points = dict[str, dict[int, Figure]]


def sweep(
    targets: dict[str, tuple[LoadSpec, int]],
    scale: Scale,
    *,
    label: str,
    measured: dict[str, Figure] | None = None,
) -> Points:
    """Every target's figure at each of ``scale.sweep_connections`` connections.

    ``measured`` (figures already taken at the targets' own connection count) joins
    the points as they are, so the main measurement is not repeated.
    """
    points: Points = {name: {} for name in targets}
    for name, figure in (measured or {}).items():
        if name in targets:
            points[name][targets[name][0].connections] = figure
    for count in scale.sweep_connections:
        todo = {
            name: (replace(spec, connections=count), group)
            for name, (spec, group) in targets.items()
            if count not in points[name]
        }
        if todo:
            for name, figure in measure(todo, scale.for_sweep(), label=f"{label} x{count}").items():
                points[name][count] = figure
    return points


def concurrency_chart(name: str, title: str, y_label: str, points: Points) -> Chart:
    """A chart of req/s (median, min..max) against the number of connections."""
    curves = []
    for label, by_count in points.items():
        counts = sorted(by_count)
        curves.append(
            Curve(
                label,
                tuple((float(c), by_count[c].median) for c in counts),
                tuple(by_count[c].rates.span for c in counts),
            )
        )
    return Chart(
        name,
        title,
        "connections (one load-generator process each)",
        y_label,
        tuple(curves),
        log_x=True,
    )


_NAMES = {
    "certward": "certward serve",
    "asyncio": "bare uvicorn (asyncio)",
    "uvloop": "bare uvicorn (uvloop)",
    "nginx": "nginx",
}


def _has_uvloop() -> bool:
    import importlib.util

    return importlib.util.find_spec("uvloop") is not None


def _tls_comparisons(
    material: Material, scale: Scale, work: Path, workloads: set[str]
) -> tuple[list[Comparison], list[Chart]]:
    ports = {key: free_port() for key in _NAMES}
    commands = {
        "certward": certward_command(material, ports["certward"]),
        "asyncio": bare_command(material, ports["asyncio"], "asyncio"),
        "uvloop": bare_command(material, ports["uvloop"], "uvloop"),
        "nginx": nginx_command(material, ports["nginx"], work / "nginx"),
    }
    if not _has_uvloop():  # not a dependency of certward: a reference only when installed
        print("  uvloop is not installed: no bare uvicorn (uvloop) reference", flush=True)
        del commands["uvloop"]
    comparisons: list[Comparison] = []
    charts: list[Chart] = []
    with ExitStack() as stack:
        targets = {
            key: stack.enter_context(
                server_process(key, command, port=ports[key], logs=work / "logs")
            )
            for key, command in commands.items()
        }

        def loads(mode: str, connections: int) -> dict[str, tuple[LoadSpec, int]]:
            return {
                _NAMES[key]: (
                    mtls_load(
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

        def by_key(measured: dict[str, Figure]) -> dict[str, Figure]:
            return {key: measured[_NAMES[key]] for key in targets}

        def also(
            got: dict[str, Figure], workload: str, key: str, *, in_report: bool = True
        ) -> list[Comparison]:
            """A reference-only comparison against ``key`` (when that server runs)."""
            if key not in got:
                return []
            return [
                Comparison(
                    workload,
                    got["certward"],
                    got[key],
                    _NAMES[key],
                    aim="reference",
                    in_report=in_report,
                )
            ]

        if "keepalive" in workloads:
            print("keep-alive GET /health over mTLS connections:", flush=True)
            keepalive = loads("keepalive", scale.keepalive_connections)
            measured = measure(keepalive, scale, label="keep-alive")
            got = by_key(measured)
            workload = "mTLS keep-alive `GET /health` req/s, 1 worker"
            comparisons += [
                Comparison(
                    workload, got["certward"], got["asyncio"], _NAMES["asyncio"], 0.8, "≥ 80%"
                ),
                *also(got, workload, "uvloop"),
                *also(got, workload, "nginx", in_report=False),
            ]
            print("keep-alive at other connection counts (for the chart):", flush=True)
            points = sweep(keepalive, scale, label="keep-alive", measured=measured)
            charts.append(
                concurrency_chart(
                    "keepalive_concurrency",
                    "mTLS keep-alive GET /health (server on one core)",
                    "responses/s",
                    points,
                )
            )
        if "handshake" in workloads:
            print("fresh mTLS handshake + GET /health + close:", flush=True)
            got = by_key(
                measure(loads("handshake", scale.handshake_connections), scale, label="handshake")
            )
            workload = "fresh mTLS handshakes/s (+ one request), 1 worker"
            comparisons += [
                Comparison(workload, got["certward"], got["nginx"], _NAMES["nginx"], 0.7, "≥ 70%"),
                *also(got, workload, "asyncio"),
                *also(got, workload, "uvloop", in_report=False),
            ]
    return comparisons, charts


def run_comparisons(
    quick: bool, *, workloads: set[str] | None = None
) -> tuple[list[Comparison], list[Chart], Scale]:
    """Every comparison of this file (and its charts), measured in one run."""
    scale = QUICK if quick else FULL
    chosen = set(WORKLOADS) if workloads is None else workloads
    with tempfile.TemporaryDirectory(prefix="certward-bench-server-") as tmp:
        work = Path(tmp)
        print(f"preparing certificates (CRL with {scale.revoked} revoked entries)…", flush=True)
        material = prepare_material(work / "material", revoked=scale.revoked)
        comparisons, charts = _tls_comparisons(material, scale, work, chosen)
    return comparisons, charts, scale


def run(quick: bool) -> Results:
    """The rows and charts for docs/benchmarks.md (bench/run.py)."""
    comparisons, charts, _ = run_comparisons(quick)
    print(comparison_table(comparisons))
    pinning = f"server pinned to core {SERVER_CORE}, load generator to core {LOAD_CORE}"
    return Results(
        rows=tuple(c.row(note=pinning) for c in comparisons if c.in_report),
        charts=tuple(charts),
    )


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
    comparisons, _, scale = run_comparisons(args.quick, workloads=workloads)
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
