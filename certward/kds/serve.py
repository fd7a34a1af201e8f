"""``certward kds serve``: one KDS node on uvicorn, with its own port and certificate.

A node is configured like Limax's ``keyserver.xml`` (flags over the ``[kds]``
section of certward.toml): server certificate and key (the key's passphrase
comes from a prompt, a file or ``CERTWARD_KDS_PASSPHRASE``, never the config
file), trust anchors, revocation options, digest, key lifespan, publish period
and peers. What a running node does is :class:`certward.kds.runtime.KdsRuntime`'s part;
the key route is :class:`certward.kds.server.KdsApp`.

``certward serve`` runs a node beside the API (a child process running this
command) when ``[kds].enabled`` is true: :func:`start_beside_service`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import structlog
import uvicorn

from certward.ca.context import CAContext
from certward.config import KdsSettings
from certward.crypto.keys import load_private_key
from certward.errors import CertwardError, ConfigError, PasswordError, ServiceUnavailable
from certward.kds.derive import parse_algorithm
from certward.kds.revocation import RevocationPolicy
from certward.kds.runtime import KdsOptions, KdsRuntime
from certward.kds.server import KdsApp
from certward.server.peercert import TLSScopeProtocol
from certward.server.tls_alerts import install_alert_flushing

__all__ = [
    "PASSPHRASE_ENV",
    "beside_service",
    "kds_options",
    "key_is_encrypted",
    "read_passphrase",
    "run_kds",
    "start_beside_service",
    "stop_process",
    "terminal_prompt",
]

_log = structlog.get_logger()
PASSPHRASE_ENV = "CERTWARD_KDS_PASSPHRASE"  # noqa: S105 (a variable name, not a secret)
_CHILD_ENTRY = "import sys; from certward.cli.main import main; main(sys.argv[1:])"


def kds_options(
    settings: KdsSettings, *, passphrase: bytes | None = None, **flags: Any
) -> KdsOptions:
    """The options of a node: ``flags`` that are not None win over ``settings``."""
    merged = settings.model_copy(
        update={name: value for name, value in flags.items() if value is not None}
    )
    if not merged.cert or not merged.key:
        raise ConfigError("the KDS needs a server certificate and key: --cert and --key")
    period = float(merged.publish_period_days)
    if period != -1 and period <= 0:
        raise ConfigError(f"publish period must be -1 (never) or > 0 days, not {period:g}")
    if not 0 <= merged.port <= 65535:
        raise ConfigError(f"port {merged.port} is not a TCP port")
    if merged.key_lifespan_days <= 0:
        raise ConfigError("key lifespan must be > 0 days")
    return KdsOptions(
        host=merged.host,
        port=merged.port,
        cert=Path(merged.cert),
        key=Path(merged.key),
        trusts=Path(merged.trusts) if merged.trusts else None,
        revocation=RevocationPolicy.parse(merged.revocation_checker_options),
        algorithm=parse_algorithm(merged.algorithm),
        key_lifespan_days=float(merged.key_lifespan_days),
        publish_period_days=period,
        peers=tuple(merged.peers),
        heartbeat_seconds=float(merged.heartbeat_seconds),
        passphrase=passphrase,
    )


def read_passphrase(
    passphrase_file: Path | None, *, prompt: Callable[[], str] | None = None
) -> bytes | None:
    """The key's passphrase: from a file (``-``: stdin), else the environment, else ``prompt``.

    Returns None when none is given (fine for a key that is not encrypted).
    """
    data: bytes | None = None
    if passphrase_file is not None:
        try:
            data = (
                sys.stdin.buffer.readline()
                if str(passphrase_file) == "-"
                else Path(passphrase_file).read_bytes()
            )
        except OSError as exc:
            raise ConfigError(
                f"cannot read passphrase file {passphrase_file}: {exc.strerror}"
            ) from None
        data = data.splitlines()[0] if data.strip() else b""
        if not data:
            raise PasswordError(f"passphrase file {passphrase_file} is empty")
    elif os.environ.get(PASSPHRASE_ENV):
        data = os.environ[PASSPHRASE_ENV].encode()
    elif prompt is not None:
        data = prompt().encode()
    return data or None


# -- running -------------------------------------------------------------------------------


def run_kds(ctx: CAContext, options: KdsOptions, *, parent_pid: int | None = None) -> None:
    """Serve one node until SIGINT/SIGTERM (or until ``parent_pid`` is gone)."""
    install_alert_flushing()
    runtime = KdsRuntime(ctx, options)
    app = KdsApp(keys=runtime.keys, servers=lambda: runtime.servers)
    config = uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        loop="asyncio",  # as certward serve: only asyncio's TLS layer sends refusal alerts
        http=TLSScopeProtocol,
        ssl_context_factory=lambda _config, _default: runtime.tls.base,
        lifespan="off",
        access_log=False,
        log_level="warning",
        server_header=False,
        date_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    runtime.start()
    watcher = None
    if parent_pid is not None:
        watcher = threading.Thread(target=_exit_with_parent, args=(parent_pid, server), daemon=True)
        watcher.start()
    signal.signal(signal.SIGTERM, _exit_normally)
    try:
        server.run()
    finally:
        runtime.stop()
        _log.info("kds.node_stopped", answered=app.answered, refused=app.refused)


def _exit_with_parent(parent_pid: int, server: uvicorn.Server) -> None:
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    server.should_exit = True


def _exit_normally(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


# -- beside certward serve -----------------------------------------------------------------


def key_is_encrypted(path: Path) -> bool:
    """True when the private key file at ``path`` needs a passphrase."""
    try:
        load_private_key(path.read_bytes())
    except PasswordError:
        return True
    except (OSError, CertwardError):
        return False  # the node itself reports what is wrong with the file
    return False


def start_beside_service(
    data_dir: Path,
    settings: KdsSettings,
    *,
    database: str | None,
    prompt: Callable[[], str] | None = None,
    wait_seconds: float = 60.0,
) -> subprocess.Popen[bytes]:
    """Start ``certward kds serve`` for ``certward serve`` and wait until it accepts TLS.

    The child reads ``[kds]`` from the data dir; a passphrase that neither
    ``[kds].passphrase_file`` nor the environment provides is asked for here
    (``prompt``) and handed over on the child's stdin.
    """
    command = [sys.executable, "-c", _CHILD_ENTRY, "-d", str(data_dir)]
    if database:
        command += ["--database", database]
    command += ["kds", "serve", "--parent-pid", str(os.getpid())]
    secret: bytes | None = None
    if (
        not settings.passphrase_file
        and not os.environ.get(PASSPHRASE_ENV)
        and settings.key
        and key_is_encrypted(Path(settings.key))
        and prompt is not None
    ):
        secret = prompt().encode()
        command += ["--passphrase-file", "-"]
    process = subprocess.Popen(command, stdin=subprocess.PIPE if secret else subprocess.DEVNULL)
    if secret is not None:
        assert process.stdin is not None
        process.stdin.write(secret + b"\n")
        process.stdin.close()
    _wait_for_tls(process, settings.host, settings.port, within=wait_seconds)
    return process


def _wait_for_tls(process: subprocess.Popen[bytes], host: str, port: int, *, within: float) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    target = host
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).is_unspecified:
            target = "127.0.0.1" if ipaddress.ip_address(host).version == 4 else "::1"
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceUnavailable(
                f"the KDS node exited with status {process.returncode}; see its error above"
            )
        with (
            contextlib.suppress(OSError),
            socket.create_connection((target, port), timeout=2) as raw,
            context.wrap_socket(raw),
        ):
            return
        time.sleep(0.1)
    stop_process(process)
    raise ServiceUnavailable(f"the KDS node did not accept TLS on port {port} in {within:g} s")


def terminal_prompt() -> str:
    """Ask for the KDS key's passphrase on the terminal (not echoed)."""
    import getpass

    return getpass.getpass("passphrase of the KDS key: ")


def stop_process(process: subprocess.Popen[bytes], *, timeout: float = 10.0) -> None:
    """SIGTERM a node started by :func:`start_beside_service`, SIGKILL after ``timeout``."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


@contextlib.contextmanager
def beside_service(
    data_dir: Path, settings: KdsSettings, *, database: str | None
) -> Iterator[subprocess.Popen[bytes] | None]:
    """A KDS node for the block's duration when ``settings.enabled``; nothing otherwise.

    A passphrase that no file or environment variable gives is asked for on the
    terminal, if there is one.
    """
    if not settings.enabled:
        yield None
        return
    prompt = terminal_prompt if sys.stdin.isatty() else None
    process = start_beside_service(data_dir, settings, database=database, prompt=prompt)
    shown = f"[{settings.host}]" if ":" in settings.host else settings.host
    print(f"certward KDS node on https://{shown}:{settings.port}", flush=True)
    try:
        yield process
    finally:
        stop_process(process)
