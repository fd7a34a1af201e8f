"""The CA material published on disk: ``published/<ca>/`` ca.crt, chain.pem, crl.pem, crl.der.

Files are public (0644) and each is replaced atomically, so a web server or a
relying party reading them never sees half a file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cryptography import x509

from certward.ca.context import CAContext
from certward.crypto.formats import certificate_pem, chain_pem, crl_pem
from certward.files import PUBLIC_FILE_MODE, write_atomic

__all__ = ["publish_ca_files", "publish_crl_files", "republish_all"]


def publish_crl_files(ctx: CAContext, *, ca_name: str, crl_der: bytes) -> None:
    """Write ``crl.der`` and ``crl.pem`` of a CA (when a published dir is configured)."""
    if ctx.published_dir is None:
        return
    directory = ctx.published_dir / ca_name
    directory.mkdir(parents=True, exist_ok=True, mode=0o755)
    write_atomic(directory / "crl.der", crl_der, mode=PUBLIC_FILE_MODE)
    write_atomic(directory / "crl.pem", crl_pem(crl_der), mode=PUBLIC_FILE_MODE)


def publish_ca_files(
    ctx: CAContext, *, name: str, chain: Sequence[x509.Certificate], crl_der: bytes | None
) -> None:
    """Write ``ca.crt`` (the CA itself) and ``chain.pem`` (CA up to its root), and the CRL."""
    if ctx.published_dir is None:
        return
    directory = ctx.published_dir / name
    directory.mkdir(parents=True, exist_ok=True, mode=0o755)
    write_atomic(directory / "ca.crt", certificate_pem(chain[0]), mode=PUBLIC_FILE_MODE)
    write_atomic(directory / "chain.pem", chain_pem(chain), mode=PUBLIC_FILE_MODE)
    if crl_der is not None:
        publish_crl_files(ctx, ca_name=name, crl_der=crl_der)


def _stale(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() != data
    except FileNotFoundError:
        return True


def republish_all(ctx: CAContext) -> list[str]:
    """Bring ``published/`` in step with the database: every CA's files and newest CRL.

    Only files whose content differs are rewritten (a crash between a commit and
    the file write, a restored backup, a node that missed a CRL). Returns the
    names of the CAs whose files changed.
    """
    from certward.ca.authority import ca_chain, list_cas
    from certward.ca.crl import latest_crl

    if ctx.published_dir is None:
        return []
    changed: list[str] = []
    for ca in list_cas(ctx):
        chain = ca_chain(ctx, ca.name)
        crl_der = latest_crl(ctx, ca.name).der
        directory = ctx.published_dir / ca.name
        wanted = {
            "ca.crt": certificate_pem(chain[0]),
            "chain.pem": chain_pem(chain),
            "crl.der": crl_der,
            "crl.pem": crl_pem(crl_der),
        }
        if any(_stale(directory / name, data) for name, data in wanted.items()):
            publish_ca_files(ctx, name=ca.name, chain=chain, crl_der=crl_der)
            changed.append(ca.name)
    return changed
