"""Issuance through the API, one worker and two, side by side with ``cfssl serve``.

Run: ``.venv/bin/python bench/bench_api_issuance.py [--quick]``

``POST /v1/certificates/sign`` with EC P-256 CSRs (each its own key, CN and DNS
SAN), stored (SQLite WAL, synchronous=FULL), over keep-alive mTLS connections
from bench/loadgen.py — next to ``cfssl serve`` (HTTPS + mutual TLS, SQLite cert
DB in WAL mode; bench/bench_cfssl.py) signing the same CSRs with the same CA key
through ``/api/v1/cfssl/sign``, driven by the same load generator. Two CAs sign:
the EC P-256 issuing CA, and an RSA-2048 intermediate made for this run (cfssl
gets a second instance with that key).

Two phases, each with its servers measured in turn, round after round:

1. one worker: ``certward serve --workers 1`` and every cfssl pinned to core 0,
   the load generator to core 1 (figures per server core); also cfssl with
   ``synchronous=FULL``, certward's durability, as a like-for-like reference;
   then the EC load at a few other connection counts, for the chart;
2. two workers: ``certward serve --workers 2`` and cfssl (Go uses both cores),
   nothing pinned: server and load generator share the machine's two cores.

The aim (issue 10): API issuance at least 2x cfssl's.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_cfssl import CfsslFiles, cfssl_server, cfssl_sign_body, stored_certificates
from bench.bench_server import (
    FULL,
    LOAD_CORE,
    QUICK,
    SERVER_CORE,
    Comparison,
    Figure,
    Material,
    Points,
    Scale,
    Target,
    certward_command,
    comparison_table,
    concurrency_chart,
    csr_pems,
    free_port,
    measure,
    mtls_load,
    prepare_material,
    server_process,
    sweep,
)
from bench.common import Chart, Results, machine
from bench.loadgen import LoadSpec

RSA_CA = "issuing-rsa"
AIM = 2.0
_SIGN = "/v1/certificates/sign"
_CFSSL_SIGN = "/api/v1/cfssl/sign"


@dataclass(frozen=True)
class SigningCA:
    """A CA both servers sign with: its certward name and its files for cfssl."""

    label: str
    name: str
    certificate: Path
    key: Path


def add_rsa_ca(material: Material) -> SigningCA:
    """An RSA-2048 intermediate under the data dir's root; its certificate and key as files."""
    from cryptography.hazmat.primitives import serialization

    from certward.ca.authority import create_ca
    from certward.crypto.keys import KeyType, private_key_to_pkcs8
    from certward.datadir import open_data_dir

    ctx = open_data_dir(material.data_dir)
    try:
        create_ca(
            ctx,
            name=RSA_CA,
            subject="/CN=Bench RSA Issuing",
            parent=ctx.settings.service.root_ca,
            key_type=KeyType.RSA_2048,
        )
        with ctx.database.read() as session:
            loaded = ctx.load(session, ctx.ca_row(session, RSA_CA))
    finally:
        ctx.database.dispose()
    certificate = material.directory / f"{RSA_CA}.crt"
    key = material.directory / f"{RSA_CA}.key"
    certificate.write_bytes(loaded.certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private_key_to_pkcs8(loaded.key))
    key.chmod(0o600)
    return SigningCA("RSA-2048", RSA_CA, certificate, key)


def _cfssl_files(material: Material, ca: SigningCA) -> CfsslFiles:
    return CfsslFiles(
        ca_certificate=ca.certificate,
        ca_key=ca.key,
        tls_certificate=material.server_chain,
        tls_key=material.server_key,
        client_ca=material.client_ca,
    )


@dataclass(frozen=True)
class Phase:
    """How the servers of one phase run: workers, pinning, where the load generator runs."""

    workers: int
    server_core: int | None
    load_core: int | None

    @property
    def label(self) -> str:
        return f"{self.workers} worker{'s' if self.workers > 1 else ''}"

    @property
    def placement(self) -> str:
        if self.server_core is None:
            return "server and load generator not pinned (both share both cores)"
        return f"server pinned to core {self.server_core}, load generator to core {self.load_core}"


ONE_WORKER = Phase(workers=1, server_core=SERVER_CORE, load_core=LOAD_CORE)
TWO_WORKERS = Phase(workers=2, server_core=None, load_core=None)


@contextmanager
def _servers(
    material: Material, cas: list[SigningCA], phase: Phase, work: Path, *, full_sync: bool
) -> Iterator[dict[str, Target]]:
    """certward (``phase.workers`` workers) and a cfssl per CA (also ``synchronous=FULL``)."""
    logs = work / "logs"
    databases: dict[str, Path] = {}
    with ExitStack() as stack:
        port = free_port()
        servers = {
            "certward": stack.enter_context(
                server_process(
                    f"certward-{phase.workers}w",
                    certward_command(material, port, workers=phase.workers),
                    port=port,
                    logs=logs,
                    pin=phase.server_core is not None,
                )
            )
        }
        variants = [(ca, None) for ca in cas] + ([(cas[0], "FULL")] if full_sync else [])
        for ca, synchronous in variants:
            key = f"cfssl {ca.label}" + (" FULL" if synchronous else "")
            port = free_port()
            running = stack.enter_context(
                cfssl_server(
                    work / f"{key.replace(' ', '-')}-{phase.workers}w",
                    _cfssl_files(material, ca),
                    port=port,
                    core=phase.server_core,
                    synchronous=synchronous,
                )
            )
            servers[key] = Target(f"https://127.0.0.1:{port}", running.process_group)
            databases[key] = running.database
        yield servers
        for key, database in databases.items():
            print(f"  {key} stored {stored_certificates(database):,} certificates", flush=True)


def _loads(
    material: Material,
    servers: dict[str, Target],
    ca: SigningCA,
    *,
    phase: Phase,
    scale: Scale,
    csrs: list[str],
    full_sync: bool,
) -> dict[str, tuple[LoadSpec, int]]:
    """certward's and cfssl's signing loads for ``ca`` (the same CSRs)."""
    ours = tuple(
        json.dumps({"ca": ca.name, "profile": "server", "csr_pem": pem}).encode() for pem in csrs
    )
    theirs = tuple(cfssl_sign_body(pem) for pem in csrs)

    def load(target: Target, path: str, bodies: tuple[bytes, ...]) -> tuple[LoadSpec, int]:
        spec = mtls_load(
            f"{target.url}{path}",
            material,
            mode="post",
            connections=scale.issuance_connections,
            scale=scale,
            core=phase.load_core,
            bodies=bodies,
        )
        return spec, target.process_group

    loads = {
        f"certward {phase.label}": load(servers["certward"], _SIGN, ours),
        f"cfssl {ca.label}": load(servers[f"cfssl {ca.label}"], _CFSSL_SIGN, theirs),
    }
    if full_sync:
        loads[f"cfssl {ca.label} FULL"] = load(
            servers[f"cfssl {ca.label} FULL"], _CFSSL_SIGN, theirs
        )
    return loads


def _comparisons(
    got: dict[str, Figure], ca: SigningCA, phase: Phase, *, full_sync: bool
) -> list[Comparison]:
    workload = (
        f"API issuance, {ca.label} CA signing EC P-256 CSRs, stored, {phase.label}"
        f"{'' if phase.server_core is not None else ' (not pinned)'}, req/s"
    )
    ours = got[f"certward {phase.label}"]
    comparisons = [
        Comparison(
            workload,
            ours,
            got[f"cfssl {ca.label}"],
            "cfssl serve (SQLite WAL)"
            + (", pinned to one core" if phase.server_core is not None else ", both cores"),
            AIM,
            f"≥ {AIM:g}x cfssl",
        )
    ]
    if full_sync:
        comparisons.append(
            Comparison(
                workload,
                ours,
                got[f"cfssl {ca.label} FULL"],
                "cfssl serve (SQLite WAL, synchronous=FULL like certward)",
                aim="reference",
            )
        )
    return comparisons


def _phase(
    material: Material,
    cas: list[SigningCA],
    phase: Phase,
    *,
    scale: Scale,
    work: Path,
    csrs: list[str],
) -> tuple[list[Comparison], Points]:
    """Both CAs' comparisons in one phase, and the EC load's concurrency points."""
    full_sync = phase is ONE_WORKER
    comparisons: list[Comparison] = []
    with _servers(material, cas, phase, work, full_sync=full_sync) as servers:
        points: Points = {}
        for index, ca in enumerate(cas):
            with_full = full_sync and index == 0
            print(f"API issuance, {ca.label} CA, {phase.label} ({phase.placement}):", flush=True)
            loads = _loads(
                material, servers, ca, phase=phase, scale=scale, csrs=csrs, full_sync=with_full
            )
            got = measure(loads, scale, label=f"sign {phase.workers}w")
            comparisons += _comparisons(got, ca, phase, full_sync=with_full)
            if index == 0:
                print("  the same at other connection counts (for the chart):", flush=True)
                main = {name: loads[name] for name in list(loads)[:2]}
                points = sweep(main, scale, label=f"sign {phase.workers}w", measured=got)
                suffix = "pinned" if phase.server_core is not None else "not pinned"
                points = {f"{name} ({suffix})": by for name, by in points.items()}
    return comparisons, points


def run_comparisons(quick: bool) -> tuple[list[Comparison], list[Chart], Scale]:
    """Both phases, measured in one run; the comparisons and the concurrency chart."""
    scale = QUICK if quick else FULL
    with tempfile.TemporaryDirectory(prefix="certward-bench-issuance-") as tmp:
        work = Path(tmp)
        print("preparing a data dir, an RSA-2048 CA and CSRs…", flush=True)
        material = prepare_material(work / "material", revoked=0)
        ec = SigningCA("EC P-256", "issuing", material.issuing_certificate, material.issuing_key)
        cas = [ec, add_rsa_ca(material)]
        csrs = csr_pems(64)
        comparisons, points = _phase(material, cas, ONE_WORKER, scale=scale, work=work, csrs=csrs)
        more, more_points = _phase(material, cas, TWO_WORKERS, scale=scale, work=work, csrs=csrs)
    chart = concurrency_chart(
        "issuance_concurrency",
        "API issuance (EC P-256 CA, stored) against connections",
        "certificates/s",
        {**points, **more_points},
    )
    return comparisons + more, [chart], scale


def run(quick: bool) -> Results:
    """The rows and the chart for docs/benchmarks.md (bench/run.py)."""
    comparisons, charts, _ = run_comparisons(quick)
    print(comparison_table(comparisons))
    rows = []
    for comparison in comparisons:
        pinned = "(not pinned)" not in comparison.workload
        rows.append(comparison.row(note=(ONE_WORKER if pinned else TWO_WORKERS).placement))
    return Results(rows=tuple(rows), charts=tuple(charts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    args = parser.parse_args()
    comparisons, _, scale = run_comparisons(args.quick)
    print()
    print(
        f"Machine: {machine()}; {scale.runs} rounds of {scale.duration:g} s"
        f"{' (quick)' if args.quick else ''}."
    )
    print()
    print(comparison_table(comparisons))


if __name__ == "__main__":
    main()
