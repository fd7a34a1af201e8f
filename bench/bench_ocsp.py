"""OCSP responses per second (cached statuses) and ACME orders per minute (http-01).

Run: ``.venv/bin/python bench/bench_ocsp.py [--quick]``

- OCSP: ``GET /ocsp/issuing/<base64 request>`` for one good certificate, no
  nonce (so the pre-signed answer is served from memory), over HTTP/1.1
  keep-alive TLS connections, ``certward serve`` (one worker, pinned to core 0)
  next to the bare uvicorn ASGI hello-world of bench/bench_server.py with the
  same TLS context settings. Aim: ≥ 80% of the bare handler (both by req/s and
  per server CPU-second, as in bench_server).
- ACME: complete orders (new-order, http-01 challenge checked by the server,
  finalize with a CSR, certificate download) from several client threads using
  certbot's ``acme`` library, next to ``POST /v1/certificates/sign`` (the same
  CSR signing through the JSON API, one request each) as a reference for what
  the signing itself costs.
"""

from __future__ import annotations

import argparse
import base64
import http.server
import ssl
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx
import josepy as jose
from acme import challenges, client, messages
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from bench.bench_server import (
    FULL,
    QUICK,
    Material,
    Scale,
    certward_command,
    csr_pems,
    free_port,
    measure,
    prepare_material,
    server_process,
)
from bench.common import Row, Spread, machine, markdown_table
from bench.loadgen import LoadSpec

OCSP_AIM = 0.8
ACME_CLIENT_THREADS = 4


def ocsp_get_path(material: Material) -> str:
    """The GET path asking for the admin certificate's status (SHA-1 CertID, no nonce)."""
    leaf = x509.load_pem_x509_certificate(material.client_certificate.read_bytes())
    issuer = x509.load_pem_x509_certificate(material.issuing_certificate.read_bytes())
    request = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA1()).build()  # noqa: S303
    encoded = base64.b64encode(request.public_bytes(serialization.Encoding.DER)).decode()
    return f"/ocsp/issuing/{urllib.parse.quote(encoded, safe='')}"


def serve_bare_ocsp(material: Material, *, port: int, body: bytes) -> None:
    """A bare ASGI app answering every request with ``body`` (a real OCSP response).

    It runs on uvicorn with certward's TLS context settings: the reference for
    the cached OCSP path (same TLS, same bytes on the wire, no work at all).
    """
    import uvicorn

    from certward.server.tls import TLSMaterial, build_server_context

    headers = [
        (b"content-type", b"application/ocsp-response"),
        (b"content-length", str(len(body)).encode()),
    ]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    context = build_server_context(
        TLSMaterial(
            certificate_chain_pem=material.server_chain.read_bytes(),
            private_key_pem=material.server_key.read_bytes(),
            trusted_cas=tuple(x509.load_pem_x509_certificates(material.client_ca.read_bytes())),
            crls_der=(),
        )
    )
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        loop="asyncio",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        server_header=False,
        ssl_context_factory=lambda _config, _default: context,
    )
    uvicorn.Server(config).run()


def bare_ocsp_command(material: Material, port: int, body_file: Path) -> list[str]:
    """This file's ``bare`` mode (see :func:`serve_bare_ocsp`)."""
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        "bare",
        "--material",
        str(material.directory),
        "--port",
        str(port),
        "--body",
        str(body_file),
    ]


def enable_acme(material: Material, http_port: int) -> None:
    """Turn ACME on in the material's data dir, validating http-01 on ``http_port``."""
    config = material.data_dir / "certward.toml"
    config.write_text(
        config.read_text()
        + f"""
[acme]
enabled = true
http01_port = {http_port}
resolve = {{ "*.bench.test" = "127.0.0.1" }}
orders_per_hour = 1000000
"""
    )


@contextmanager
def http01_server(port: int) -> Iterator[dict[str, str]]:
    """A threaded http-01 responder on ``port``; fill the returned token → answer map."""
    answers: dict[str, str] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = answers.get(self.path.rsplit("/", 1)[-1], "").encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield answers
    finally:
        server.shutdown()
        server.server_close()


def _acme_client(url: str, ca_file: Path) -> tuple[client.ClientV2, jose.JWK]:
    key = jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    net = client.ClientNetwork(
        key, alg=jose.ES256, user_agent="certward-bench", verify_ssl=str(ca_file)
    )
    acme = client.ClientV2(client.ClientV2.get_directory(url, net), net=net)
    acme.new_account(messages.NewRegistration.from_data(terms_of_service_agreed=True))
    return acme, key


def _one_order(acme: client.ClientV2, key: jose.JWK, answers: dict[str, str], index: int) -> None:
    name = f"o{index}.bench.test"
    csr_key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(csr_key, hashes.SHA256())
    )
    order = acme.new_order(csr.public_bytes(serialization.Encoding.PEM))
    for authorization in order.authorizations:
        challenge = next(
            c for c in authorization.body.challenges if isinstance(c.chall, challenges.HTTP01)
        )
        answers[challenge.chall.encode("token")] = challenge.chall.validation(key)
        acme.answer_challenge(challenge, challenge.chall.response(key))
    # certward checks the challenge and issues synchronously: no polling needed.
    finished = acme.begin_finalization(order)
    assert finished.body.status == messages.STATUS_VALID, finished.body
    chain = acme._post_as_get(finished.body.certificate).text
    assert chain.count("BEGIN CERTIFICATE") >= 2


def acme_orders_per_minute(
    url: str, ca_file: Path, answers: dict[str, str], count: int, *, first: int = 0
) -> float:
    """Complete ``count`` orders from several threads (one account each); orders per minute.

    Order ``i`` is for ``o<first + i>.bench.test``.
    """
    clients = [_acme_client(url, ca_file) for _ in range(ACME_CLIENT_THREADS)]
    _one_order(*clients[0], answers, -1)  # warm-up
    started = time.perf_counter()
    with ThreadPoolExecutor(ACME_CLIENT_THREADS) as pool:
        futures = [
            pool.submit(_one_order, *clients[i % ACME_CLIENT_THREADS], answers, first + i)
            for i in range(count)
        ]
        for future in futures:
            future.result()
    return count / (time.perf_counter() - started) * 60


def json_signs_per_minute(url: str, material: Material, count: int) -> float:
    """``POST /v1/certificates/sign`` ``count`` times from several threads; per minute."""
    context = ssl.create_default_context(cafile=str(material.data_dir / "admin" / "ca.crt"))
    context.load_cert_chain(material.client_certificate, material.client_key)
    pems = csr_pems(count)

    def sign(pem: str) -> None:
        with httpx.Client(base_url=url, verify=context, timeout=60) as api:
            response = api.post(
                "/v1/certificates/sign",
                json={"ca": "issuing", "profile": "server", "csr_pem": pem},
            )
        assert response.status_code == 201, response.text

    started = time.perf_counter()
    with ThreadPoolExecutor(ACME_CLIENT_THREADS) as pool:
        list(pool.map(sign, pems))
    return count / (time.perf_counter() - started) * 60


def run(quick: bool) -> list[Row]:
    """Measure both workloads; rows for docs/benchmarks.md."""
    scale: Scale = QUICK if quick else FULL
    orders = 40 if quick else 210
    runs = 2 if quick else 3
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="certward-bench-ocsp-") as tmp, ExitStack() as stack:
        material = prepare_material(Path(tmp) / "material", revoked=scale.revoked)
        http_port = free_port()
        enable_acme(material, http_port)
        answers = stack.enter_context(http01_server(http_port))
        logs = Path(tmp) / "logs"
        ports = {"certward": free_port(), "bare": free_port()}
        certward = stack.enter_context(
            server_process(
                "certward",
                certward_command(material, ports["certward"]),
                port=ports["certward"],
                logs=logs,
            )
        )
        path = ocsp_get_path(material)
        with httpx.Client(verify=False, timeout=30) as probe:  # noqa: S501 - local, known server
            answer = probe.get(f"{certward.url}{path}")
        assert answer.headers["content-type"] == "application/ocsp-response", answer.text
        body_file = Path(tmp) / "ocsp-response.der"
        body_file.write_bytes(answer.content)
        bare = stack.enter_context(
            server_process(
                "bare",
                bare_ocsp_command(material, ports["bare"], body_file),
                port=ports["bare"],
                logs=logs,
            )
        )
        spec = LoadSpec(
            url=f"{certward.url}{path}",
            mode="keepalive",
            connections=scale.keepalive_connections,
            duration=scale.duration,
        )
        figures = measure(
            {
                "certward /ocsp (cached)": (spec, certward.process_group),
                "bare uvicorn, same bytes": (
                    replace(spec, url=f"{bare.url}{path}"),
                    bare.process_group,
                ),
            },
            scale,
            label="ocsp",
        )
        ours, reference = figures["certward /ocsp (cached)"], figures["bare uvicorn, same bytes"]
        ratio = min(
            ours.median / reference.median if reference.median else 0.0,
            ours.per_cpu_second / reference.per_cpu_second if reference.per_cpu_second else 0.0,
        )
        rows.append(
            Row(
                workload="OCSP GET, cached good status, keep-alive TLS",
                certward=ours.median,
                reference=reference.median,
                reference_name="bare uvicorn ASGI, same TLS and bytes",
                unit="req/s",
                aim="≥ 80%",
                met=ratio >= OCSP_AIM,
                certward_range=ours.rates.span,
                reference_range=reference.rates.span,
                note=(
                    f"{len(ours.samples)} runs; server busy {ours.busy:.0%} / "
                    f"{reference.busy:.0%}; judged by both req/s and per server CPU-second "
                    "(the lower ratio)"
                ),
            )
        )
        directory = f"{certward.url}/acme/issuing/directory"
        per_run = orders // runs
        acme = Spread.of(
            [
                acme_orders_per_minute(
                    directory,
                    material.data_dir / "admin" / "ca.crt",
                    answers,
                    per_run,
                    first=run * per_run,
                )
                for run in range(runs)
            ]
        )
        signs = Spread.of(
            [json_signs_per_minute(certward.url, material, per_run) for _ in range(runs)]
        )
        acme_rate, sign_rate = acme.median, signs.median
        rows.append(
            Row(
                workload=f"ACME orders (http-01, {ACME_CLIENT_THREADS} clients)",
                certward=acme_rate,
                reference=sign_rate,
                reference_name="POST /v1/certificates/sign, same threads",
                unit="/min",
                certward_range=acme.span,
                reference_range=signs.span,
                note=f"{runs} runs of {per_run} orders / signs; server pinned to core 0",
            )
        )
        print(
            f"  ocsp: certward {ours.median:,.0f}/s vs bare {reference.median:,.0f}/s "
            f"({ours.per_cpu_second:,.0f} vs {reference.per_cpu_second:,.0f} per CPU-s)"
        )
        print(f"  acme: {acme_rate:,.0f} orders/min vs {sign_rate:,.0f} signs/min")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="run", choices=["run", "bare"])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument("--material", type=Path, help="bare mode: the material directory")
    parser.add_argument("--port", type=int, help="bare mode: the port")
    parser.add_argument("--body", type=Path, help="bare mode: the response to serve")
    args = parser.parse_args()
    if args.mode == "bare":
        material = Material(directory=args.material, data_dir=args.material / "certward-data")
        serve_bare_ocsp(material, port=args.port, body=args.body.read_bytes())
        return
    rows = run(args.quick)
    print(f"\nMachine: {machine()}\n")
    print(markdown_table(rows))


if __name__ == "__main__":
    main()
