"""``certward slot csr SLOT --cn NAME ... --out FILE [--sign-with CA]``: a CSR for a slot.

The key is made and kept (sealed) by certward, never written out: the
certificate installed later into the slot (``certward slot install`` without
``--key``) pairs with it. ``--sign-with CA`` has certward's own CA sign the CSR
and installs the result at once. Local mode runs the job in this process;
with ``--server`` the SDK starts the job on the server and polls it.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated, Any

import typer

from certward.cli.state import CLIState, check_output_file, emit_json, state_of

__all__ = ["slot_csr"]

# How long the command waits for the job (RSA 4096 on a slow machine, then signing).
_WAIT_SECONDS = 300.0
_POLL_SECONDS = 0.2

Text = Annotated[str | None, typer.Option()]


def _fields(**given: Any) -> dict[str, Any]:
    return {name: value for name, value in given.items() if value not in (None, [], ())}


def _local(
    state: CLIState, slot: str, fields: dict[str, Any], sign_with: str | None, profile: str | None
) -> dict[str, Any]:
    from certward.access.audit import audit_row
    from certward.certs.csr import csr_request_from_fields
    from certward.certs.jobs import submit_csr_job, wait_for_job

    ctx = state.context()
    request = csr_request_from_fields(fields)
    actor = f"local:{getpass.getuser()}"
    audit = audit_row(
        ctx, principal=actor, action="slot.csr", target=slot, result="ok", request_id=None
    )
    job = submit_csr_job(
        ctx, slot, request, actor=actor, sign_with=sign_with, profile=profile, extra_rows=[audit]
    )
    done = wait_for_job(ctx, job.id, timeout=_WAIT_SECONDS)
    return {
        "id": done.id,
        "slot": done.slot,
        "state": done.state.value,
        "csr_pem": done.csr_pem,
        "certificate_id": done.certificate_id,
        "error": (
            {"code": done.error_code, "message": done.error_message} if done.error_code else None
        ),
    }


def _remote(
    state: CLIState, slot: str, fields: dict[str, Any], sign_with: str | None, profile: str | None
) -> dict[str, Any]:
    from certward.cli.slot_backend import SlotBackend

    return SlotBackend(state).request_csr_remotely(
        slot,
        fields,
        sign_with=sign_with,
        profile=profile,
        timeout=_WAIT_SECONDS,
        poll_interval=_POLL_SECONDS,
    )


def slot_csr(
    ctx: typer.Context,
    slot: Annotated[str, typer.Argument(help="slot name, e.g. server/https")],
    common_name: Annotated[str, typer.Option("--cn", help="CommonName")],
    out: Annotated[Path, typer.Option("--out", help="where to write the CSR (PEM)")],
    city: Annotated[str | None, typer.Option("--city", help="City (L)")] = None,
    state_name: Annotated[str | None, typer.Option("--state", help="State (ST)")] = None,
    country: Annotated[str | None, typer.Option("--country", help="two letters (C)")] = None,
    organization: Annotated[str | None, typer.Option("--org", help="Organization")] = None,
    unit: Annotated[str | None, typer.Option("--ou", help="OrganizationalUnit")] = None,
    algorithm: Annotated[
        str | None, typer.Option("--algorithm", help="RSA, EC (default) or Ed25519")
    ] = None,
    bits: Annotated[int | None, typer.Option("--bits", help="RSA: 2048/3072/4096")] = None,
    curve: Annotated[
        str | None, typer.Option("--curve", help="EC: secp256r1 or secp384r1 (default)")
    ] = None,
    san: Annotated[
        list[str] | None, typer.Option("--san", help="alternative name (DNS or IP), repeatable")
    ] = None,
    usage: Annotated[
        list[str] | None, typer.Option("--usage", help="Redfish KeyUsage name, repeatable")
    ] = None,
    email: Annotated[str | None, typer.Option("--email")] = None,
    sign_with: Annotated[
        str | None, typer.Option("--sign-with", help="sign with this certward CA and install")
    ] = None,
    profile: Annotated[
        str | None, typer.Option("--profile", help="profile for --sign-with")
    ] = None,
    json_flag: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Generate a key and CSR for a slot (the key stays sealed in certward)."""
    from certward.errors import error_class_for_code

    state = state_of(ctx)
    check_output_file(out)
    fields = _fields(
        common_name=common_name,
        city=city,
        state=state_name,
        country=country,
        organization=organization,
        organizational_unit=unit,
        key_pair_algorithm=algorithm,
        key_bit_length=bits,
        key_curve_id=curve,
        alternative_names=san,
        key_usage=usage,
        email=email,
    )
    run = _remote if state.server is not None else _local
    job = run(state, slot, fields, sign_with, profile)
    if job["state"] == "failed":
        error = job.get("error") or {}
        raise error_class_for_code(error.get("code", "error"))(
            error.get("message") or "the CSR job failed"
        )
    if job.get("csr_pem") is None or job["state"] != "succeeded":
        from certward.errors import ServiceUnavailable

        raise ServiceUnavailable(f"CSR job {job['id']} did not finish in {_WAIT_SECONDS:g} s")
    out.write_text(job["csr_pem"])
    if state.wants_json(json_flag):
        emit_json(job)
        return
    typer.echo(f"wrote CSR for {slot} to {out} (job {job['id']})")
    if job.get("certificate_id"):
        typer.echo(f"signed by {sign_with} and installed as {job['certificate_id']}")
