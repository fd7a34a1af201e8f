"""The ``certward`` command: global options, sub-command groups, one error handler."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from certward.cli.acme_commands import acme_app
from certward.cli.backup_commands import backup, restore
from certward.cli.ca_commands import ca_app
from certward.cli.cert_commands import cert_app
from certward.cli.crl_commands import crl_app, hashdir_app
from certward.cli.import_command import import_certificates_command, keystore_decrypt
from certward.cli.kds_commands import kds_app
from certward.cli.keystore_commands import keystore_app
from certward.cli.kms_commands import kms_app
from certward.cli.slot_commands import slot_app
from certward.cli.slot_csr_command import slot_csr
from certward.cli.state import CLIState, ServerOptions, emit_json, state_of
from certward.cli.status_command import status
from certward.errors import CertwardError, InvalidInput
from certward.logs import configure_logging

__all__ = ["app", "main"]

app = typer.Typer(
    name="certward",
    help="certward: private CA, certificate manager, KMS and key distribution.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(acme_app, name="acme")
app.add_typer(ca_app, name="ca")
app.add_typer(cert_app, name="cert")
app.add_typer(crl_app, name="crl")
app.add_typer(hashdir_app, name="hashdir")
app.add_typer(keystore_app, name="keystore")
app.add_typer(kms_app, name="kms")
app.add_typer(kds_app, name="kds")
slot_app.command("csr")(slot_csr)
app.add_typer(slot_app, name="slot")
app.command("backup")(backup)
app.command("import")(import_certificates_command)
keystore_app.command("decrypt")(keystore_decrypt)
app.command("restore")(restore)
app.command("status")(status)


@app.callback()
def _root(
    ctx: typer.Context,
    data_dir: Annotated[
        Path,
        typer.Option("--data-dir", "-d", envvar="CERTWARD_DATA_DIR", help="the data directory"),
    ] = Path("certward-data"),
    database: Annotated[
        str | None,
        typer.Option(help="SQLAlchemy database URL (default: SQLite in the data dir)"),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    log_level: Annotated[
        str, typer.Option(envvar="CERTWARD_LOG_LEVEL", help="debug, info, warning or error")
    ] = "warning",
    server: Annotated[
        str | None,
        typer.Option(
            envvar="CERTWARD_SERVER",
            help="run commands on this server (https://host:port); several, comma-separated",
        ),
    ] = None,
    cert: Annotated[
        Path | None,
        typer.Option(envvar="CERTWARD_CERT", help="client certificate (PEM) for --server"),
    ] = None,
    key: Annotated[
        Path | None, typer.Option(envvar="CERTWARD_KEY", help="its private key (PEM)")
    ] = None,
    server_ca: Annotated[
        Path | None,
        typer.Option("--ca", envvar="CERTWARD_CA", help="CA certificate that verifies --server"),
    ] = None,
) -> None:
    configure_logging(level=log_level.lower())
    state = CLIState(
        data_dir=data_dir,
        json_output=json_output,
        database=database,
        server=_server_options(ctx, server, cert=cert, key=key, ca=server_ca),
    )
    ctx.obj = state
    ctx.call_on_close(state.close)


def _server_options(
    ctx: typer.Context, url: str | None, *, cert: Path | None, key: Path | None, ca: Path | None
) -> ServerOptions | None:
    if url is None:
        # CERTWARD_CERT & co. may stay exported for later remote use; typed flags may not.
        typed = [
            f"--{name.removeprefix('server_')}"
            for name in ("cert", "key", "server_ca")
            if getattr(ctx.get_parameter_source(name), "name", None) == "COMMANDLINE"
        ]
        if typed:
            raise InvalidInput(f"--server is missing: {', '.join(typed)} only apply to a server")
        return None
    if ca is None:
        raise InvalidInput("--server needs --ca (or CERTWARD_CA): the CA that verifies the server")
    if (cert is None) != (key is None):
        raise InvalidInput("--server takes both --cert and --key, or neither")
    return ServerOptions(url=url, ca=ca, cert=cert, key=key)


@app.command()
def init(
    ctx: typer.Context,
    json_flag: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Create the data dir, its master keys and its database (safe to run again)."""
    from certward.datadir import initialise_data_dir

    state = state_of(ctx)
    state.require_local()
    context = initialise_data_dir(state.data_dir, database=state.database)
    result = {
        "data_dir": str(state.data_dir.resolve()),
        "database": context.database.safe_url,
        "keys_dir": str(context.keystore.keys_dir),
        "keystore_fingerprint": context.keystore.fingerprint,
    }
    if state.wants_json(json_flag):
        emit_json(result)
    else:
        typer.echo(f"certward data dir ready: {result['data_dir']}")


@app.command()
def migrate(
    ctx: typer.Context,
    json_flag: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Bring the database schema up to this version of certward."""
    from certward.config import load_settings
    from certward.store.database import Database

    state = state_of(ctx)
    state.require_local()
    settings = load_settings(state.data_dir, database=state.database)
    database = Database(settings.database_url(state.data_dir))
    before, head = database.schema_revisions()
    database.migrate()
    database.dispose()
    if state.wants_json(json_flag):
        emit_json({"revision": head, "previous_revision": before})
    else:
        typer.echo(f"schema at revision {head} (was {before or 'empty'})")


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="TLS port")] = None,
    workers: Annotated[int | None, typer.Option(help="worker processes")] = None,
) -> None:
    """Run the mutual-TLS HTTPS service (bootstraps a fresh data dir first)."""
    from certward.server.serve import prepare, run

    state = state_of(ctx)
    state.require_local()
    result = prepare(state.data_dir, database=state.database, host=host, port=port)
    settings = result.settings
    admin_dir = state.data_dir.resolve() / "admin"
    typer.echo(f"certward serving on {result.url} (data dir {state.data_dir.resolve()})")
    if result.admin is not None:
        typer.echo(f"first admin identity written to {admin_dir}/:")
        typer.echo("  admin.crt, admin.key (0600), ca.crt, admin.p12 + admin.p12.pass (0600)")
    if (admin_dir / "admin.crt").exists():
        typer.echo(
            f"try: curl --cacert {admin_dir}/ca.crt --cert {admin_dir}/admin.crt "
            f"--key {admin_dir}/admin.key {result.url}/v1/whoami"
        )
    else:  # e.g. a restored data dir: the admin bundle is the operator's to bring back
        typer.echo(f"no admin bundle in {admin_dir}/: call with an admin identity you keep")
    from certward.config import load_settings
    from certward.kds.serve import beside_service

    # With [kds].enabled, a KDS node runs beside the API (a child process) until it stops.
    kds = load_settings(state.data_dir, database=state.database).kds
    with beside_service(state.data_dir.resolve(), kds, database=state.database):
        run(
            host=host or settings.host,
            port=port or settings.port,
            workers=workers or settings.workers,
        )


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, render any certward error as one line and an exit code.

    Usage errors are Typer's own (exit 2 with its message); everything a command
    raises from certward's error tree becomes ``error: <message> [<code>]``, followed
    by ``(request <id>)`` when a server answered with the error.
    """
    try:
        app(args=argv)
    except CertwardError as exc:
        # A server's answer names its request id: the key to that server's logs and audit.
        answered = f" (request {exc.request_id})" if exc.http_status is not None else ""
        sys.stderr.write(f"error: {exc.message} [{exc.code}]{answered}\n")
        sys.exit(exc.exit_code)
    except Exception as exc:
        import structlog

        # The traceback goes to the log at debug level only: stderr keeps one line.
        structlog.get_logger().debug("cli.internal_error", exc_info=True)
        sys.stderr.write(
            f"error: internal error ({type(exc).__name__}); rerun with --log-level debug "
            "and report it [internal]\n"
        )
        sys.exit(70)
