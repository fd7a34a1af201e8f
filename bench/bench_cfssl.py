"""``cfssl serve`` as the issuance reference: installed, configured and run like certward.

cfssl (Debian package ``golang-cfssl``, 1.2) signs CSRs at ``POST /api/v1/cfssl/sign``
and stores every certificate in its SQL cert DB when given ``-db-config``. The
package ships no schema, so :func:`create_cert_db` creates cfssl's two tables
(those of its SQLite goose migration for this version) and switches the file
to WAL mode.

Durability differs by default: cfssl commits each certificate on its own, but
with its SQLite driver's defaults strace showed only ~0.4 ``fdatasync`` per
stored certificate here, while certward (``synchronous=FULL``) flushes every
commit. ``cfssl_server(..., synchronous="FULL")`` passes ``_sync=FULL`` to the
driver (~1.1 ``fdatasync`` per certificate: one per commit), the like-for-like
reference.

It is served the way certward is: HTTPS with the same server certificate,
mutual TLS against the same client CA (``-mutual-tls-ca``), HTTP/1.1 keep-alive,
pinned to one core, driven by the same load generator (bench/loadgen.py).

Run alone: ``.venv/bin/python bench/bench_cfssl.py`` checks that a signing
round trip works and stores the certificate.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import affinity_prefix

__all__ = [
    "CFSSL_SCHEMA",
    "CfsslFiles",
    "CfsslRun",
    "cfssl_server",
    "cfssl_sign_body",
    "create_cert_db",
    "ensure_cfssl",
    "stored_certificates",
]

# cfssl's certdb/sqlite migration of the 1.2 era (the columns this binary writes).
CFSSL_SCHEMA = """
CREATE TABLE IF NOT EXISTS certificates (
  serial_number            blob NOT NULL,
  authority_key_identifier blob NOT NULL,
  ca_label                 blob,
  status                   blob NOT NULL,
  reason                   int,
  expiry                   timestamp,
  revoked_at               timestamp,
  pem                      blob NOT NULL,
  PRIMARY KEY(serial_number, authority_key_identifier)
);
CREATE TABLE IF NOT EXISTS ocsp_responses (
  serial_number            blob NOT NULL,
  authority_key_identifier blob NOT NULL,
  body                     blob NOT NULL,
  expiry                   timestamp,
  PRIMARY KEY(serial_number, authority_key_identifier),
  FOREIGN KEY(serial_number, authority_key_identifier)
    REFERENCES certificates(serial_number, authority_key_identifier)
);
"""

_SIGNING_CONFIG = {
    "signing": {
        "default": {
            "expiry": "8760h",
            "usages": ["digital signature", "key encipherment", "server auth"],
        }
    }
}
_START_TIMEOUT = 20.0


def ensure_cfssl() -> str:
    """The path of ``cfssl``; installs Debian's ``golang-cfssl`` when it is missing."""
    found = shutil.which("cfssl")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("cfssl is missing: run 'apt-get install golang-cfssl' as root")
    print("installing golang-cfssl (Debian) for the issuance reference", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "golang-cfssl"], check=True, env=env)
    found = shutil.which("cfssl")
    if not found:
        raise SystemExit("golang-cfssl is installed but cfssl is not on PATH")
    return found


def create_cert_db(path: Path) -> None:
    """An empty cfssl cert DB (SQLite) in WAL mode."""
    with sqlite3.connect(path) as db:
        db.executescript(CFSSL_SCHEMA)
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if mode != "wal":
        raise RuntimeError(f"could not switch {path} to WAL mode (got {mode})")


def stored_certificates(path: Path) -> int:
    """How many certificates cfssl has stored in its DB."""
    with sqlite3.connect(path) as db:
        count: int = db.execute("SELECT count(*) FROM certificates").fetchone()[0]
    return count


def cfssl_sign_body(csr_pem: str) -> bytes:
    """The JSON body of a cfssl sign request for ``csr_pem`` (SANs come from the CSR)."""
    return json.dumps({"certificate_request": csr_pem}).encode()


@dataclass(frozen=True)
class CfsslFiles:
    """What cfssl is served with: the signing CA, its own TLS identity, the client CA."""

    ca_certificate: Path
    ca_key: Path
    tls_certificate: Path
    tls_key: Path
    client_ca: Path


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    import socket

    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"cfssl serve exited:\n{log.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"cfssl serve did not listen on {port}")


@dataclass(frozen=True)
class CfsslRun:
    """A running ``cfssl serve``: its cert DB and its process group (for CPU accounting)."""

    database: Path
    process_group: int


@contextmanager
def cfssl_server(
    workdir: Path,
    files: CfsslFiles,
    *,
    port: int,
    core: int | None = 0,
    synchronous: str | None = None,
) -> Iterator[CfsslRun]:
    """Run ``cfssl serve`` (HTTPS, mutual TLS, SQLite WAL cert DB) until the block ends.

    Pinned to ``core``, or on every core with ``core=None``. ``synchronous`` (OFF,
    NORMAL, FULL) overrides the SQLite driver's default.
    """
    cfssl = ensure_cfssl()
    workdir.mkdir(parents=True, exist_ok=True)
    database = workdir / "certs.db"
    create_cert_db(database)
    db_config = workdir / "db-config.json"
    source = f"{database}?_sync={synchronous}" if synchronous else str(database)
    db_config.write_text(json.dumps({"driver": "sqlite3", "data_source": source}))
    config = workdir / "config.json"
    config.write_text(json.dumps(_SIGNING_CONFIG))
    command = [
        cfssl,
        "serve",
        "-address=127.0.0.1",
        f"-port={port}",
        f"-ca={files.ca_certificate}",
        f"-ca-key={files.ca_key}",
        f"-config={config}",
        f"-db-config={db_config}",
        f"-tls-cert={files.tls_certificate}",
        f"-tls-key={files.tls_key}",
        f"-mutual-tls-ca={files.client_ca}",
        "-loglevel=4",  # errors only: a log line per request would be measured too
    ]
    command = [*affinity_prefix(core), *command]  # core None: every core, explicitly
    log = workdir / "cfssl.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        _wait_for_port(port, process, log)
        yield CfsslRun(database, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _self_check() -> None:
    """Sign one CSR through a fresh cfssl (certward's CA and certificates) and count the DB."""
    import ssl
    import tempfile
    import urllib.request

    from bench.bench_server import csr_pems, free_port, prepare_material

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        material = prepare_material(work / "material", revoked=0)
        files = CfsslFiles(
            ca_certificate=material.issuing_certificate,
            ca_key=material.issuing_key,
            tls_certificate=material.server_chain,
            tls_key=material.server_key,
            client_ca=material.client_ca,
        )
        port = free_port()
        with cfssl_server(work / "cfssl", files, port=port, core=None) as running:
            context = ssl.create_default_context(cafile=str(material.client_ca))
            context.load_cert_chain(material.client_certificate, material.client_key)
            request = urllib.request.Request(
                f"https://localhost:{port}/api/v1/cfssl/sign",
                data=cfssl_sign_body(csr_pems(1)[0]),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, context=context, timeout=10) as response:  # noqa: S310
                answer = json.loads(response.read())
            assert answer["success"], answer
            print(
                f"cfssl signed a CSR; certificates stored: {stored_certificates(running.database)}"
            )


if __name__ == "__main__":
    _self_check()
