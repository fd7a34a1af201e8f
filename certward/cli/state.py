"""What the global options hand to every command: local data dir or server, and how to print."""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from certward.ca.context import CAContext
    from certward.cli.backend import Backend

__all__ = [
    "CLIState",
    "ServerOptions",
    "check_output_file",
    "emit_json",
    "read_secret_file",
    "state_of",
]


@dataclass(frozen=True)
class ServerOptions:
    """``--server`` and the identity to present to it."""

    url: str
    ca: Path
    cert: Path | None
    key: Path | None


@dataclass
class CLIState:
    data_dir: Path
    json_output: bool
    database: str | None
    server: ServerOptions | None = None
    _context: CAContext | None = None
    _backend: Backend | None = None

    def context(self) -> CAContext:
        """The opened data dir (opened once per command); refused in remote mode."""
        self.require_local()
        if self._context is None:
            from certward.datadir import open_data_dir

            self._context = open_data_dir(self.data_dir, database=self.database)
        return self._context

    def backend(self) -> Backend:
        """What answers CA and certificate commands: the server with --server, else the data dir."""
        if self._backend is None:
            if self.server is not None:
                from certward.cli.remote import RemoteBackend
                from certward.client import KmsClient

                server = self.server
                client = KmsClient(server.url, cert=server.cert, key=server.key, ca=server.ca)
                self._backend = RemoteBackend(client)
            else:
                from certward.cli.backend import LocalBackend

                self._backend = LocalBackend(self.context)
        return self._backend

    def require_local(self) -> None:
        """Refuse a command that works on a local data dir only when --server was given."""
        from certward.errors import InvalidInput

        if self.server is not None:
            raise InvalidInput(
                "this command works on a local data dir only; drop --server "
                "(or unset CERTWARD_SERVER)"
            )

    def close(self) -> None:
        """Release the backend (connections to a server)."""
        if self._backend is not None:
            self._backend.close()

    def wants_json(self, flag: bool) -> bool:
        """True when either the global or the command's ``--json`` was given."""
        return self.json_output or flag


def state_of(ctx: typer.Context) -> CLIState:
    """The CLIState the root callback stored on the click context."""
    state = ctx.find_root().obj
    assert isinstance(state, CLIState)
    return state


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


def emit_json(value: Any) -> None:
    """Print ``value`` as one JSON document on stdout."""
    sys.stdout.write(json.dumps(value, default=_default, indent=2, sort_keys=True) + "\n")


def read_secret_file(path: Path) -> bytes:
    """A password from a file: its bytes without one trailing newline (as most tools write it)."""
    from certward.errors import InvalidInput

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read password file {path}: {exc.strerror}") from None
    if data.endswith(b"\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n"):
        data = data[:-1]
    if not data:
        raise InvalidInput(f"password file {path} is empty")
    return data


def check_output_file(path: Path) -> None:
    """Refuse an output file that cannot be written, before anything is issued or stored."""
    from certward.errors import InvalidInput

    if path.is_dir():
        raise InvalidInput(f"--out {path} is a directory, not a file")
    if not path.parent.is_dir():
        raise InvalidInput(f"cannot write {path}: {path.parent} is not a directory")
