"""Several certward nodes on one PostgreSQL: issuance on 1, 2, 3 nodes; revocation reach.

Each node is a real ``certward serve`` (one worker) on its own port and data dir
(a copy of the first node's ``keys/``), all on one PostgreSQL database (a fresh
schema at 127.0.0.1:5432, dropped afterwards). The load generator signs EC P-256
CSRs through ``POST /v1/certificates/sign`` over keep-alive mTLS, its
connections spread evenly over the nodes. The reference is the same load on a
single node, measured in the same run: the ratio says how issuance scales (on
this 2-core machine the nodes, PostgreSQL and the load generator share two
cores, so it cannot scale far; the figures show where it saturates). A quick
run skips the 2-node size.

Revocation reach: a principal is disabled on node A, and node C is asked with
fresh handshakes (every 5 ms) until it refuses the certificate; the time from
the revoke call's answer to the first refusal, median of several rounds.

Run: ``.venv/bin/python bench/bench_cluster.py [--quick]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_server import csr_pems, free_port, server_process
from bench.common import Row, Spread, markdown_table
from bench.loadgen import LoadResult, LoadSpec, run_load

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CERTWARD = str(Path(sys.executable).parent / "certward")


@dataclass(frozen=True)
class Node:
    name: str
    url: str
    data_dir: Path


@contextmanager
def fresh_schema() -> Iterator[str]:
    from sqlalchemy import create_engine, text

    name = f"cw_bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{name}"'))
    try:
        yield f"{POSTGRES}?options=-csearch_path%3D{name}"
    finally:
        with engine.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        engine.dispose()


def _command(data_dir: Path, database: str, port: int) -> list[str]:
    return [
        CERTWARD,
        "--data-dir",
        str(data_dir),
        "--database",
        database,
        "--log-level",
        "warning",
        "serve",
        "--port",
        str(port),
        "--workers",
        "1",
    ]


@contextmanager
def cluster(work: Path, database: str, size: int) -> Iterator[list[Node]]:
    """``size`` nodes on ``database``; the first bootstraps, the others join with its keys."""
    nodes: list[Node] = []
    with ExitStack() as stack:
        for index in range(size):
            name = "abc"[index]
            data_dir = work / f"node-{name}"
            if index > 0:
                first = nodes[0].data_dir
                data_dir.mkdir(mode=0o700)
                shutil.copytree(first / "keys", data_dir / "keys")
                shutil.copy2(first / "certward.toml", data_dir / "certward.toml")
            port = free_port()
            # Not pinned: the nodes share the machine's cores with PostgreSQL and the client.
            stack.enter_context(
                server_process(
                    f"node-{name}",
                    _command(data_dir, database, port),
                    port=port,
                    logs=work / "logs",
                    pin=False,
                )
            )
            nodes.append(Node(name, f"https://127.0.0.1:{port}", data_dir))
        yield nodes


def _admin(nodes: list[Node]) -> tuple[str, str, str]:
    admin = nodes[0].data_dir / "admin"
    return str(admin / "admin.crt"), str(admin / "admin.key"), str(admin / "ca.crt")


def issuance(nodes: list[Node], *, connections: int, duration: float) -> LoadResult:
    """CSR signing on every node at once, ``connections`` spread over them."""
    cert, key, _ = _admin(nodes)
    bodies = tuple(
        json.dumps({"ca": "issuing", "profile": "server", "csr_pem": pem}).encode()
        for pem in csr_pems(64)
    )
    per_node = [connections // len(nodes)] * len(nodes)
    for index in range(connections % len(nodes)):
        per_node[index] += 1
    results: list[LoadResult] = []
    lock = threading.Lock()

    def drive(node: Node, count: int) -> None:
        spec = LoadSpec(
            url=f"{node.url}/v1/certificates/sign",
            mode="post",
            connections=count,
            duration=duration,
            core=None,
            cert=cert,
            key=key,
            bodies=bodies,
        )
        result = run_load(spec)
        with lock:
            results.append(result)

    threads = [
        threading.Thread(target=drive, args=(node, count))
        for node, count in zip(nodes, per_node, strict=True)
        if count
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return LoadResult(
        ok=sum(r.ok for r in results),
        failed=sum(r.failed for r in results),
        errors=sum(r.errors for r in results),
        per_second=sum(r.per_second for r in results),
        first_error=next((r.first_error for r in results if r.first_error), None),
    )


def _refused(url: str, context: ssl.SSLContext) -> bool:
    host, port = url.removeprefix("https://").split(":")
    try:
        with (
            socket.create_connection((host, int(port)), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            tls.sendall(b"GET /v1/whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return not tls.recv(16)
    except (ssl.SSLError, ConnectionError):
        return True


def revocation_reach(nodes: list[Node], work: Path, *, rounds: int) -> list[float]:
    """Seconds from a revoke on the first node to the first refusal on the last one."""
    cert, key, ca = _admin(nodes)
    delays = []
    admin = ssl.create_default_context(cafile=ca)
    admin.load_cert_chain(cert, key)
    with httpx.Client(base_url=nodes[0].url, verify=admin, timeout=30) as api:
        for round_number in range(rounds):
            name = f"leaver-{round_number}-{uuid.uuid4().hex[:6]}"
            made = api.post(
                "/v1/principals",
                json={"name": name, "grants": [{"permission": "ca.read"}]},
            )
            made.raise_for_status()
            body = made.json()
            directory = work / name
            directory.mkdir()
            (directory / "c.pem").write_text(body["chain_pem"])
            (directory / "k.pem").write_text(body["private_key_pem"])
            context = ssl.create_default_context(cafile=ca)
            context.load_cert_chain(directory / "c.pem", directory / "k.pem")
            target = nodes[-1].url
            if _refused(target, context):
                raise RuntimeError(f"node {nodes[-1].name} refuses a fresh principal")
            api.post(f"/v1/principals/{name}/disable").raise_for_status()
            answered = time.perf_counter()
            while not _refused(target, context):
                if time.perf_counter() - answered > 30:
                    raise RuntimeError("the revocation did not reach the last node in 30 s")
                time.sleep(0.005)
            delays.append(time.perf_counter() - answered)
    return delays


def postgres_problem() -> str | None:
    """Why the cluster cannot be measured here (PostgreSQL does not answer), or None."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    engine = create_engine(POSTGRES, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return f"PostgreSQL at 127.0.0.1:5432 did not answer ({type(exc).__name__})"
    finally:
        engine.dispose()
    return None


_ISSUANCE = "API issuance on PostgreSQL, {} nodes (EC P-256 CSRs), req/s"
_REACH = "revoke on node A → handshake refused on node C, ms (median)"


def _unmeasured(reason: str) -> list[Row]:
    nan = float("nan")
    rows = [
        Row(_ISSUANCE.format(size), nan, nan, "1 node on the same PostgreSQL", "/s", note=reason)
        for size in (2, 3)
    ]
    rows.append(
        Row(_REACH, nan, 1000.0, "the 1 s the issue allows", "ms", "≤ 1 000 ms", note=reason)
    )
    return rows


def run(quick: bool) -> list[Row]:
    """The rows for docs/benchmarks.md (rows saying why, when PostgreSQL does not answer)."""
    problem = postgres_problem()
    if problem is not None:
        print(f"  cluster: not measured: {problem}", flush=True)
        return _unmeasured(f"not measured: {problem}")
    duration = 1.5 if quick else 6.0
    runs = 2 if quick else 3
    connections = 6
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="certward-bench-cluster-") as tmp:
        work = Path(tmp)
        figures: dict[int, Spread] = {}
        reach: list[float] = []
        sizes = (1, 3) if quick else (1, 2, 3)
        for size in sizes:
            with fresh_schema() as database, cluster(work / f"n{size}", database, size) as nodes:
                issuance(nodes, connections=connections, duration=1.0)  # warm-up
                results = [
                    issuance(nodes, connections=connections, duration=duration) for _ in range(runs)
                ]
                figures[size] = Spread.of([r.per_second for r in results])
                failed = sum(r.failed + r.errors for r in results)
                print(
                    f"  {size} node(s): {figures[size].median:,.0f} certificates/s "
                    f"({sum(r.ok for r in results)} ok, {failed} non-2xx or errors)",
                    flush=True,
                )
                if size == 3:
                    reach = revocation_reach(nodes, work, rounds=3 if quick else 7)
        single = figures[1]
        placement = (
            f"{runs} runs of {duration:g} s; nodes, PostgreSQL and load generator share both cores"
        )
        for size in sizes[1:]:
            rows.append(
                Row(
                    _ISSUANCE.format(size),
                    figures[size].median,
                    single.median,
                    "1 node on the same PostgreSQL",
                    "/s",
                    certward_range=figures[size].span,
                    reference_range=single.span,
                    note=placement,
                )
            )
        delays = Spread.of([d * 1000 for d in reach])
        print(f"  revoke on A → refused on C: median {delays.median:.0f} ms over {len(reach)}")
        rows.append(
            Row(
                _REACH,
                delays.median,
                1000.0,
                "the 1 s the issue allows",
                "ms",
                "≤ 1 000 ms",
                delays.median <= 1000,
                certward_range=delays.span,
                note=f"{delays.count} rounds; fresh handshakes every 5 ms",
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(markdown_table(run(args.quick)))


if __name__ == "__main__":
    main()
