"""CSR jobs (SQLite and PostgreSQL): background generation, pending keys, sign_with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key
from sqlalchemy import func, select

from certward.ca.context import CAContext
from certward.certs.csr import csr_request_from_fields
from certward.certs.jobs import (
    ABANDONED_AFTER,
    JobState,
    abandon_stale_jobs,
    get_job,
    submit_csr_job,
    wait_for_job,
)
from certward.certs.manager import install_certificate, list_certificates
from certward.errors import CANotFound, CSRJobNotFound, InvalidCSRRequest, ProfileNotFound
from certward.store.models import CSRJobRow, SlotPendingKeyRow
from tests.certs.conftest import MakeSlot
from tests.certs.factory import TestCA
from tests.support.pki import PKI

FIELDS = {
    "city": "Austin",
    "common_name": "bmc.example.test",
    "country": "US",
    "organization": "Example",
    "organizational_unit": "Platform",
    "state": "TX",
}


def _request(**changes: Any) -> Any:
    return csr_request_from_fields({**FIELDS, **changes})


def _signed_for(ca: TestCA, csr_pem: str) -> bytes:
    """What a CA outside certward answers: a certificate for the CSR (no key in the file)."""
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca.certificate.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=90))
        .sign(ca.key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return certificate.public_bytes(Encoding.PEM) + ca.cert_pem


def _jobs(ctx: CAContext) -> int:
    with ctx.database.read() as session:
        return session.scalar(select(func.count()).select_from(CSRJobRow)) or 0


def test_job_is_returned_queued_and_yields_a_csr_whose_key_waits_for_the_install(
    ca_context: CAContext, make_slot: MakeSlot, ca: TestCA
) -> None:
    spec = make_slot("server/https")

    job = submit_csr_job(ca_context, "server/https", _request(), actor="tester")

    assert job.state is JobState.QUEUED
    assert job.csr_pem is None
    done = wait_for_job(ca_context, job.id, timeout=60)
    assert done.state is JobState.SUCCEEDED, done
    assert done.actor == "tester"
    assert done.started_at is not None and done.finished_at is not None
    with ca_context.database.read() as session:
        pending = session.scalars(select(SlotPendingKeyRow)).all()
    assert [(row.slot, row.job_id) for row in pending] == [("server/https", job.id)]
    assert b"PRIVATE KEY" not in pending[0].key_sealed

    install_certificate(ca_context, "server/https", _signed_for(ca, done.csr_pem), actor="t")

    csr = x509.load_pem_x509_csr(done.csr_pem.encode())
    key = load_pem_private_key((spec.directory / spec.key_file).read_bytes(), None)
    assert key.public_key() == csr.public_key()


def test_job_can_be_read_back_and_an_unknown_job_is_not_found(
    ca_context: CAContext, make_slot: MakeSlot
) -> None:
    make_slot("client/ldap")
    job = submit_csr_job(ca_context, "client/ldap", _request(key_pair_algorithm="RSA"), actor="a")

    done = wait_for_job(ca_context, job.id, timeout=60)

    assert get_job(ca_context, job.id) == done
    assert done.key_type == "rsa-2048"
    assert done.request["common_name"] == "bmc.example.test"
    with pytest.raises(CSRJobNotFound):
        get_job(ca_context, "f" * 32)


def test_authority_slots_and_refused_key_types_store_nothing(
    ca_context: CAContext, make_slot: MakeSlot
) -> None:
    make_slot("authority/truststore")
    make_slot("client/rsa-only", key_types=["RSA"])

    with pytest.raises(InvalidCSRRequest) as authority:
        submit_csr_job(ca_context, "authority/truststore", _request(), actor="a")
    with pytest.raises(InvalidCSRRequest) as ec_key:
        submit_csr_job(ca_context, "client/rsa-only", _request(key_pair_algorithm="EC"), actor="a")
    with pytest.raises(InvalidCSRRequest) as ed_key:
        submit_csr_job(
            ca_context, "client/rsa-only", _request(key_pair_algorithm="Ed25519"), actor="a"
        )

    assert authority.value.field == "slot"
    assert ec_key.value.field == ed_key.value.field == "key_pair_algorithm"
    assert _jobs(ca_context) == 0


def test_sign_with_signs_and_installs_in_one_job(
    ca_context: CAContext, make_slot: MakeSlot
) -> None:
    pki = PKI.create(ca_context)
    spec = make_slot("client/ldap")

    job = submit_csr_job(
        ca_context,
        "client/ldap",
        _request(alternative_names=["ldap.example.test"]),
        actor="tester",
        sign_with=pki.issuing,
    )

    done = wait_for_job(ca_context, job.id, timeout=60)
    assert done.state is JobState.SUCCEEDED, done
    assert done.profile == "client"
    [installed] = list_certificates(ca_context, "client/ldap")
    assert installed.id == done.certificate_id
    assert "ClientAuthentication" in installed.key_usage
    csr = x509.load_pem_x509_csr(done.csr_pem.encode())
    key = load_pem_private_key((spec.directory / spec.key_file).read_bytes(), None)
    assert key.public_key() == csr.public_key() == installed.certificate.public_key()


def test_sign_with_an_unknown_ca_or_profile_is_refused_before_anything_is_stored(
    ca_context: CAContext, make_slot: MakeSlot
) -> None:
    PKI.create(ca_context)
    make_slot("server/https")

    with pytest.raises(CANotFound):
        submit_csr_job(ca_context, "server/https", _request(), actor="a", sign_with="nope")
    with pytest.raises(ProfileNotFound):
        submit_csr_job(
            ca_context, "server/https", _request(), actor="a", sign_with="issuing", profile="x"
        )

    assert _jobs(ca_context) == 0


def test_a_job_whose_install_fails_is_failed_with_the_error(
    ca_context: CAContext, make_slot: MakeSlot
) -> None:
    pki = PKI.create(ca_context)
    make_slot("authority/peers")
    make_slot("server/strict", truststore="authority/peers")  # an empty truststore

    job = submit_csr_job(
        ca_context,
        "server/strict",
        _request(alternative_names=["bmc.example.test"]),
        actor="a",
        sign_with=pki.issuing,
    )

    done = wait_for_job(ca_context, job.id, timeout=60)
    assert done.state is JobState.FAILED
    assert done.error_code is not None and done.error_code.startswith("certificate.")
    assert done.csr_pem is not None  # the CSR was made; only the install failed
    assert list_certificates(ca_context, "server/strict") == []


def test_a_job_left_unfinished_by_a_dead_process_is_marked_abandoned(
    ca_context: CAContext, make_slot: MakeSlot
) -> None:
    make_slot("server/https")
    done = submit_csr_job(ca_context, "server/https", _request(), actor="a")
    assert wait_for_job(ca_context, done.id, timeout=60).state is JobState.SUCCEEDED
    long_ago = ca_context.clock() - ABANDONED_AFTER - timedelta(minutes=1)
    with ca_context.database.transaction() as session:  # as a process that died would leave them
        for job_id, state, created in (
            ("a" * 32, JobState.RUNNING, long_ago),
            ("b" * 32, JobState.QUEUED, long_ago),
            ("c" * 32, JobState.RUNNING, ca_context.clock()),
        ):
            session.add(
                CSRJobRow(
                    id=job_id,
                    slot="server/https",
                    state=state.value,
                    request="{}",
                    key_type="ec-p384",
                    created_at=created,
                )
            )

    assert abandon_stale_jobs(ca_context) == 2

    for job_id in ("a" * 32, "b" * 32):
        job = get_job(ca_context, job_id)
        assert (job.state, job.error_code) == (JobState.FAILED, "job.abandoned")
        assert job.finished_at is not None
    assert get_job(ca_context, "c" * 32).state is JobState.RUNNING  # young: still running
    assert get_job(ca_context, done.id).state is JobState.SUCCEEDED  # finished: untouched
    assert abandon_stale_jobs(ca_context) == 0
