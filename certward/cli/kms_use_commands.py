"""``certward kms`` commands that use keys on files: sign, verify, encrypt, decrypt, data keys.

Registered on ``kms_app`` by :mod:`certward.cli.kms_commands`; local or ``--server``
like every command there. Inputs and outputs are binary-safe (``-``: stdin/stdout).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Annotated, Any

import typer

from certward.cli.kms_files import (
    STDIO,
    file_digest,
    parse_context,
    read_input,
    refuse_existing,
    signing_algorithm,
    signing_hash,
    verify_offline,
    write_output,
)
from certward.cli.state import emit_json, state_of
from certward.errors import InvalidInput

__all__ = [
    "ForceFlag",
    "JsonFlag",
    "KeyArg",
    "decrypt",
    "encrypt",
    "generate_data_key",
    "random",
    "sign_file",
    "verify_file",
]

JsonFlag = Annotated[bool, typer.Option("--json", help="machine-readable output")]
KeyArg = Annotated[str, typer.Argument(help="key id (key-…) or alias (alias/…)")]
KeyOption = Annotated[str, typer.Option("--key", help="key id (key-…) or alias (alias/…)")]
ContextOption = Annotated[
    list[str] | None,
    typer.Option("--context", help="encryption context NAME=VALUE (repeat for more)"),
]
ForceFlag = Annotated[bool, typer.Option(help="overwrite existing output files")]


# -- signatures -------------------------------------------------------------------------------


def sign_file(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="the file to sign")],
    key: KeyOption,
    algorithm: Annotated[
        str,
        typer.Option(help="RSA_PSS_SHA_256/384, RSA_PKCS1_SHA_256/384, ECDSA_SHA_256/384, ED25519"),
    ],
    out: Annotated[Path, typer.Option(help="signature file (raw bytes, as openssl dgst writes)")],
    force: ForceFlag = False,
    json_flag: JsonFlag = False,
) -> None:
    """Sign a file: its digest is computed here, only the digest is sent (Ed25519: the file)."""
    from certward.files import PUBLIC_FILE_MODE

    chosen = signing_algorithm(algorithm)
    refuse_existing(out, force=force)
    digest_kind = signing_hash(chosen)
    backend = state_of(ctx).backend()
    if digest_kind is None:
        signed = backend.kms_sign(
            key, algorithm=chosen.value, message=read_input(file, "file"), digest=None
        )
    else:
        digest = file_digest(file, digest_kind)
        signed = backend.kms_sign(key, algorithm=chosen.value, message=None, digest=digest)
    write_output(out, signed.signature, mode=PUBLIC_FILE_MODE)
    if state_of(ctx).wants_json(json_flag):
        emit_json(
            {
                "key_id": signed.key_id,
                "key_version": signed.key_version,
                "algorithm": signed.algorithm,
                "signature_file": str(out),
            }
        )
    elif out != STDIO:
        typer.echo(f"signed {file} with {signed.key_id} v{signed.key_version}: {out}")


def verify_file(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="the signed file")],
    signature: Annotated[Path, typer.Option(help="signature file (raw bytes)")],
    algorithm: Annotated[str, typer.Option(help="the algorithm it was signed with")],
    key: Annotated[
        str | None, typer.Option(help="key id or alias (the server or data dir verifies)")
    ] = None,
    public_key: Annotated[
        Path | None, typer.Option(help="PEM public key: verify here, no server or data dir")
    ] = None,
    key_version: Annotated[
        int | None, typer.Option(help="the version that signed (default: primary)")
    ] = None,
    json_flag: JsonFlag = False,
) -> None:
    """Check a file's signature: exit 0 when it holds, 1 with a one-line message when not."""
    if (key is None) == (public_key is None):
        raise InvalidInput("give exactly one of --key and --public-key")
    chosen = signing_algorithm(algorithm)
    signature_bytes = read_input(signature, "signature")
    state = state_of(ctx)
    result: dict[str, object] = {"file": str(file), "algorithm": chosen.value}
    if public_key is not None:
        if key_version is not None:
            raise InvalidInput("--key-version goes with --key, not --public-key")
        pem = read_input(public_key, "public key")
        valid = verify_offline(pem, chosen, path=file, signature=signature_bytes)
        result["public_key"] = str(public_key)
        what = f"the public key in {public_key}"
    else:
        assert key is not None
        digest_kind = signing_hash(chosen)
        backend = state.backend()
        if digest_kind is None:
            message: bytes | None = read_input(file, "file")
            digest = None
        else:
            message, digest = None, file_digest(file, digest_kind)
        checked = backend.kms_verify(
            key,
            algorithm=chosen.value,
            message=message,
            digest=digest,
            signature=signature_bytes,
            key_version=key_version,
        )
        valid = checked.value
        result.update(key_id=checked.key_id, key_version=checked.key_version)
        what = f"{checked.key_id} v{checked.key_version}"
    result["valid"] = valid
    if state.wants_json(json_flag):
        emit_json(result)
    elif valid:
        typer.echo(f"{file}: signature valid ({what}, {chosen.value})")
    if not valid:
        if not state.wants_json(json_flag):
            typer.echo(
                f"error: {file}: signature {signature} does not verify with {what} "
                f"({chosen.value}) [kms.signature_invalid]",
                err=True,
            )
        raise typer.Exit(1)


# -- encryption -------------------------------------------------------------------------------


InOption = Annotated[Path, typer.Option("--in", help="input file ('-': stdin)")]
OutOption = Annotated[Path, typer.Option("--out", help="output file ('-': stdout)")]


def encrypt(
    ctx: typer.Context,
    key: KeyArg,
    in_: InOption = STDIO,
    out: OutOption = STDIO,
    context: ContextOption = None,
    algorithm: Annotated[
        str | None, typer.Option(help="AES_256_GCM or RSAES_OAEP_SHA_256 (default: the key's)")
    ] = None,
    force: ForceFlag = False,
    json_flag: JsonFlag = False,
) -> None:
    """Encrypt a file (up to the KMS max_message_bytes) into a self-describing ciphertext."""
    from certward.files import PUBLIC_FILE_MODE

    state = state_of(ctx)
    parsed_context = parse_context(context)
    refuse_existing(out, force=force)
    encrypted = state.backend().kms_encrypt(
        key, plaintext=read_input(in_, "input"), context=parsed_context, algorithm=algorithm
    )
    _answer_bytes(
        state.wants_json(json_flag),
        out,
        encrypted.ciphertext,
        mode=PUBLIC_FILE_MODE,
        field="ciphertext",
        details={
            "key_id": encrypted.key_id,
            "key_version": encrypted.key_version,
            "algorithm": encrypted.algorithm,
        },
    )


def decrypt(
    ctx: typer.Context,
    in_: InOption = STDIO,
    out: OutOption = STDIO,
    context: ContextOption = None,
    key: Annotated[str | None, typer.Option(help="refuse a ciphertext of any other key")] = None,
    force: ForceFlag = False,
    json_flag: JsonFlag = False,
) -> None:
    """Decrypt a ciphertext made by encrypt (it names its key and version)."""
    from certward.files import SECRET_FILE_MODE

    state = state_of(ctx)
    parsed_context = parse_context(context)
    refuse_existing(out, force=force)
    decrypted = state.backend().kms_decrypt(
        read_input(in_, "ciphertext"), context=parsed_context, key=key
    )
    _answer_bytes(
        state.wants_json(json_flag),
        out,
        decrypted.plaintext,
        mode=SECRET_FILE_MODE,
        field="plaintext",
        details={
            "key_id": decrypted.key_id,
            "key_version": decrypted.key_version,
            "algorithm": decrypted.algorithm,
        },
    )


def _answer_bytes(
    wants_json: bool, out: Path, data: bytes, *, mode: int, field: str, details: dict[str, Any]
) -> None:
    # With --json the details go to stdout, so bytes meant for stdout go inside, as base64.
    if wants_json:
        if out == STDIO:
            details[field] = base64.b64encode(data).decode("ascii")
        else:
            write_output(out, data, mode=mode)
            details["out"] = str(out)
        emit_json(details)
        return
    write_output(out, data, mode=mode)


def generate_data_key(
    ctx: typer.Context,
    key: KeyArg,
    out: Annotated[
        Path, typer.Option(help="file for the wrapped data key (keep it with the data)")
    ],
    plaintext_out: Annotated[
        Path | None, typer.Option(help="file (0600) for the data key in clear; omit: wrapped only")
    ] = None,
    spec: Annotated[str | None, typer.Option(help="AES_256 (default) or AES_128")] = None,
    number_of_bytes: Annotated[
        int | None, typer.Option("--bytes", help="instead of --spec: 1-1024 bytes")
    ] = None,
    context: ContextOption = None,
    force: ForceFlag = False,
    json_flag: JsonFlag = False,
) -> None:
    """Make a data key: wrapped under KEY (decrypt it later) and, if asked, in clear."""
    from certward.files import PUBLIC_FILE_MODE, SECRET_FILE_MODE

    state = state_of(ctx)
    parsed_context = parse_context(context)
    if STDIO in (out, plaintext_out):
        raise InvalidInput("generate-data-key writes files: --out and --plaintext-out take paths")
    if plaintext_out is not None and plaintext_out.resolve() == out.resolve():
        raise InvalidInput("--out and --plaintext-out must be different files")
    for path in (out, plaintext_out):
        if path is not None:
            refuse_existing(path, force=force)
    made = state.backend().kms_generate_data_key(
        key,
        key_spec=spec,
        number_of_bytes=number_of_bytes,
        context=parsed_context,
        include_plaintext=plaintext_out is not None,
    )
    write_output(out, made.ciphertext, mode=PUBLIC_FILE_MODE)
    if plaintext_out is not None:
        assert made.plaintext is not None
        write_output(plaintext_out, made.plaintext, mode=SECRET_FILE_MODE)
    if state.wants_json(json_flag):
        emit_json(
            {
                "key_id": made.key_id,
                "key_version": made.key_version,
                "out": str(out),
                "plaintext_out": None if plaintext_out is None else str(plaintext_out),
            }
        )
    else:
        typer.echo(f"data key wrapped by {made.key_id} v{made.key_version}: {out}")


def random(
    ctx: typer.Context,
    number_of_bytes: Annotated[int, typer.Argument(help="how many bytes (1-1024)")],
    out: Annotated[
        Path | None, typer.Option(help="write the raw bytes to this file (0600)")
    ] = None,
    force: ForceFlag = False,
    json_flag: JsonFlag = False,
) -> None:
    """Random bytes from the KMS (base64 on stdout, or raw into --out)."""
    from certward.files import SECRET_FILE_MODE

    state = state_of(ctx)
    if out is not None:
        refuse_existing(out, force=force)
    data = state.backend().kms_generate_random(number_of_bytes)
    if out is not None:
        write_output(out, data, mode=SECRET_FILE_MODE)
        if state.wants_json(json_flag):
            emit_json({"bytes": len(data), "out": str(out)})
        return
    text = base64.b64encode(data).decode("ascii")
    if state.wants_json(json_flag):
        emit_json({"bytes": len(data), "random": text})
    else:
        typer.echo(text)
