"""Time CRL publication from pre-encoded entries against cryptography and openssl.

Run: ``.venv/bin/python bench/bench_crl_encoding.py --entries 1000000``

All rows come from the same run (this machine's timings move by ~15% between
runs, so only same-run ratios mean anything):

(a) encode_revoked_entry for N entries (in production spread over N revocations),
(b) build_crl over those N pre-encoded entries (the publish-time cost),
(c) cryptography's CertificateRevocationListBuilder with the whole list passed to
    the constructor, for min(N, --reference-max) entries, next to (b) on the same count,
(d) ``openssl ca -gencrl`` over an index.txt of the same N revocations.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from bench.bulk_store import Revocation
from bench.common import timed
from certward.ca.crl_encoding import CRLParams, build_crl, encode_revoked_entry
from certward.crypto.keys import KeyType, SigningKey, generate_private_key, signature_hash_for

_REASONS: list[x509.ReasonFlags | None] = [
    None,
    x509.ReasonFlags.key_compromise,
    x509.ReasonFlags.superseded,
    x509.ReasonFlags.cessation_of_operation,
    x509.ReasonFlags.affiliation_changed,
]
# openssl's index.txt spells reasons in ASN.1 names.
_OPENSSL_REASON = {
    x509.ReasonFlags.key_compromise: "keyCompromise",
    x509.ReasonFlags.superseded: "superseded",
    x509.ReasonFlags.cessation_of_operation: "cessationOfOperation",
    x509.ReasonFlags.affiliation_changed: "affiliationChanged",
}


def make_revocations(count: int, seed: int) -> list[Revocation]:
    """``count`` revocations with distinct random 159-bit serials, like real CA serials."""
    rng = random.Random(seed)
    serials: set[int] = set()
    while len(serials) < count:
        serials.add(rng.getrandbits(159) | 1 << 150)
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    return [
        (serial, start + dt.timedelta(seconds=rng.randrange(40_000_000)), rng.choice(_REASONS))
        for serial in serials
    ]


def make_ca(key_type: KeyType) -> tuple[SigningKey, x509.Certificate]:
    """A self-signed CA certificate with a subject key identifier."""
    key = generate_private_key(key_type)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench CA")])
    now = dt.datetime.now(dt.UTC)
    hash_algorithm = signature_hash_for(key)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hash_algorithm)  # type: ignore[arg-type]
    )
    return key, certificate


def crl_params(key: SigningKey, certificate: x509.Certificate) -> CRLParams:
    """Parameters of the CRL every contestant builds."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return CRLParams(
        issuer=certificate.subject,
        this_update=now,
        next_update=now + dt.timedelta(days=7),
        crl_number=1,
        authority_key_identifier=x509.AuthorityKeyIdentifier.from_issuer_public_key(
            key.public_key()
        ),
    )


def cryptography_crl(params: CRLParams, key: SigningKey, revoked: list[Revocation]) -> bytes:
    """The same CRL from cryptography's builder, whole list passed to the constructor."""
    entries = []
    for serial, revoked_at, reason in revoked:
        builder = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(revoked_at)
        if reason is not None:
            builder = builder.add_extension(x509.CRLReason(reason), critical=False)
        entries.append(builder.build())
    crl = x509.CertificateRevocationListBuilder(
        issuer_name=params.issuer,
        last_update=params.this_update,
        next_update=params.next_update,
        extensions=[
            x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(params.crl_number)),
            x509.Extension(x509.AuthorityKeyIdentifier.oid, False, params.authority_key_identifier),
        ],
        revoked_certificates=entries,
    ).sign(key, signature_hash_for(key))  # type: ignore[arg-type]
    return crl.public_bytes(serialization.Encoding.DER)


def write_openssl_ca(
    workdir: Path, key: SigningKey, certificate: x509.Certificate, revoked: list[Revocation]
) -> None:
    """An ``openssl ca`` directory in ``workdir``: the CA's key and certificate, an index.txt
    of ``revoked`` and a config that makes CRLs like certward's (SHA-256, AKI)."""
    (workdir / "ca.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (workdir / "ca.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (workdir / "crlnumber").write_text("01\n")
    with (workdir / "index.txt").open("w") as index:
        for serial, revoked_at, reason in revoked:
            when = revoked_at.strftime("%y%m%d%H%M%SZ")
            if reason is not None:
                when += "," + _OPENSSL_REASON[reason]
            index.write(f"R\t301231000000Z\t{when}\t{serial:040X}\tunknown\t/CN=leaf\n")
    (workdir / "ca.cnf").write_text(
        "[ca]\ndefault_ca = bench\n"
        "[bench]\ndatabase = index.txt\ncertificate = ca.pem\nprivate_key = ca.key\n"
        "crlnumber = crlnumber\ndefault_md = sha256\ndefault_crl_days = 7\n"
        "unique_subject = no\ncrl_extensions = crl_ext\n"
        "[crl_ext]\nauthorityKeyIdentifier = keyid:always\n"
    )


def gencrl_seconds(workdir: Path) -> tuple[float, int]:
    """Seconds one ``openssl ca -gencrl`` takes in ``workdir``, and the CRL's entry count."""
    command = ["openssl", "ca", "-config", "ca.cnf", "-gencrl", "-out", "crl.pem", "-batch"]
    _, seconds = timed(
        lambda: subprocess.run(command, cwd=workdir, check=True, capture_output=True)
    )
    crl = x509.load_pem_x509_crl((workdir / "crl.pem").read_bytes())
    return seconds, len(crl)


def openssl_gencrl(
    workdir: Path, key: SigningKey, certificate: x509.Certificate, revoked: list[Revocation]
) -> tuple[float, int]:
    """Seconds ``openssl ca -gencrl`` takes over ``revoked``, and the CRL's entry count."""
    write_openssl_ca(workdir, key, certificate, revoked)
    return gencrl_seconds(workdir)


def max_rss_mib(who: int) -> float:
    """Peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(who).ru_maxrss / 1024


def main() -> None:
    """Parse arguments, run every contestant, print one markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--reference-max", type=int, default=100_000)
    parser.add_argument("--key-type", type=KeyType.parse, default=KeyType.EC_P256)
    parser.add_argument("--skip-openssl", action="store_true")
    parser.add_argument("--seed", type=int, default=5280)
    args = parser.parse_args()

    key, certificate = make_ca(args.key_type)
    params = crl_params(key, certificate)
    revoked = make_revocations(args.entries, args.seed)
    rows: list[tuple[str, int, float, str]] = []

    entries, encode_seconds = timed(lambda: [encode_revoked_entry(*r) for r in revoked])
    rows.append(("(a) encode_revoked_entry, each once", len(entries), encode_seconds, ""))

    rss_before = max_rss_mib(resource.RUSAGE_SELF)
    crl, build_seconds = timed(lambda: build_crl(params, entries, private_key=key))
    rss_after = max_rss_mib(resource.RUSAGE_SELF)
    parsed = x509.load_der_x509_crl(crl)
    assert len(parsed) == args.entries and parsed.is_signature_valid(key.public_key())
    rows.append(("(b) build_crl (join + sign)", args.entries, build_seconds, "1.00"))

    reference_count = min(args.entries, args.reference_max)
    reference_entries = entries[:reference_count]
    _, small_build_seconds = timed(lambda: build_crl(params, reference_entries, private_key=key))
    reference, reference_seconds = timed(
        lambda: cryptography_crl(params, key, revoked[:reference_count])
    )
    assert len(x509.load_der_x509_crl(reference)) == reference_count
    rows.append(("(b) build_crl, same count as (c)", reference_count, small_build_seconds, "1.00"))
    rows.append(
        (
            "(c) cryptography builder, whole list",
            reference_count,
            reference_seconds,
            f"{reference_seconds / small_build_seconds:.1f}x slower",
        )
    )

    if not args.skip_openssl and shutil.which("openssl"):
        with tempfile.TemporaryDirectory() as workdir:
            openssl_seconds, openssl_count = openssl_gencrl(
                Path(workdir), key, certificate, revoked
            )
        assert openssl_count == args.entries
        rows.append(
            (
                "(d) openssl ca -gencrl",
                args.entries,
                openssl_seconds,
                f"{openssl_seconds / build_seconds:.1f}x slower",
            )
        )

    print(f"CA key {args.key_type}, CRL {len(crl) / 2**20:.1f} MiB DER\n")
    print("| step | entries | seconds | µs/entry | vs build_crl |")
    print("|---|---:|---:|---:|---|")
    for name, count, seconds, ratio in rows:
        print(f"| {name} | {count:,} | {seconds:.2f} | {seconds / count * 1e6:.2f} | {ratio} |")
    print(
        f"\npeak RSS: before build_crl {rss_before:.0f} MiB, after {rss_after:.0f} MiB"
        f" (+{rss_after - rss_before:.0f}); openssl child peak"
        f" {max_rss_mib(resource.RUSAGE_CHILDREN):.0f} MiB"
    )


if __name__ == "__main__":
    main()
