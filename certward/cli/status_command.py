"""``certward status``: nodes, database, CRL ages, expiring certificates, KDS publisher."""

from __future__ import annotations

from typing import Annotated

import typer

from certward.cli.state import emit_json, state_of

__all__ = ["status"]


def status(
    ctx: typer.Context,
    json_flag: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Show what an operator checks first (exit status 1 when a CRL is overdue)."""
    from certward.status import service_status

    state = state_of(ctx)
    report = service_status(state.context())
    live = [node for node in report.nodes if node.live]
    overdue = [ca.name for ca in report.cas if ca.crl_overdue]
    if state.wants_json(json_flag):
        emit_json(report)
    else:
        typer.echo(f"database   {report.database} (schema {report.schema_revision})")
        typer.echo(f"keystore   fingerprint {report.keystore_fingerprint}")
        typer.echo(f"nodes      {len(live)} live of {len(report.nodes)} registered")
        for node in report.nodes:
            mark = "live" if node.live else "gone"
            typer.echo(f"  {mark:<5} {node.node_id}  {node.url}  heartbeat {node.heartbeat_at}")
        for ca in report.cas:
            age = "no CRL" if ca.crl_age_seconds is None else f"{ca.crl_age_seconds / 3600:.1f} h"
            flag = "  OVERDUE" if ca.crl_overdue else ""
            typer.echo(f"CA {ca.name:<12} CRL #{ca.crl_number}, age {age}{flag}")
        counts = report.certificates
        typer.echo(
            f"certificates {counts['valid']} valid, {counts['revoked']} revoked, "
            f"{counts['expired']} expired; {report.expiring_within_30_days} expire within 30 days"
        )
        kds = report.kds
        typer.echo(
            f"kds        {kds.master_keys} master keys, publisher {kds.publisher or '-'}, "
            f"{kds.live_nodes} live nodes"
        )
    if overdue:
        raise typer.Exit(1)
