"""``certward acme``: administration of the ACME server (External Account Binding keys)."""

from __future__ import annotations

from typing import Annotated

import typer

from certward.cli.state import emit_json, state_of

__all__ = ["acme_app"]

acme_app = typer.Typer(help="ACME server administration.", no_args_is_help=True)


@acme_app.command("create-eab-key")
def create_eab_key(
    ctx: typer.Context,
    principal: Annotated[str, typer.Option(help="the principal new accounts are bound to")],
    json_flag: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Make a single-use EAB key for a principal; the HMAC key is printed this once."""
    from certward.access.audit import audit_row, log_event
    from certward.acme.accounts import create_eab_key as create

    state = state_of(ctx)
    context = state.context()
    audit = audit_row(
        context,
        principal=None,
        action="acme.eab_key.create",
        target=principal,
        result="ok",
        request_id=None,
        details={"via": "cli"},
    )
    key = create(context, principal=principal, extra_rows=[audit])
    log_event(audit)
    if state.wants_json(json_flag):
        emit_json({"key_id": key.key_id, "hmac_key": key.hmac_key, "principal": key.principal})
    else:
        typer.echo(f"key id:   {key.key_id}")
        typer.echo(f"hmac key: {key.hmac_key}")
        typer.echo(
            f"certbot: --eab-kid {key.key_id} --eab-hmac-key <the hmac key> "
            f"(accounts are bound to principal {principal!r}; the key works once)"
        )
