"""API fuzzing, CI-sized: schemathesis over mutual TLS as an admin, a low-privilege
principal and without a certificate (see ``api_fuzz.py`` for what is checked).

``CERTWARD_API_FUZZ_EXAMPLES`` (default 3) cases per operation, identity and
mode (positive and negative data); ``fuzz/fuzz_api.py --minutes N`` runs longer.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.security.api_fuzz import fuzz_api
from tests.server.service import Identity, Service

EXAMPLES = int(os.environ.get("CERTWARD_API_FUZZ_EXAMPLES", "3"))
LOW_PRIVILEGE_GRANTS = [
    {"permission": "ca.read", "resources": ["issuing"]},
    {"permission": "kms.use", "resources": ["alias/fuzz-*"], "operations": ["sign", "verify"]},
]


@pytest.fixture(scope="module")
def fuzz_identities(
    service: Service, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Identity | None]:
    directory = tmp_path_factory.mktemp("fuzz-identities")
    return {
        # Its own admin: if the fuzzer disables a principal by chance, not the session's.
        "admin": service.create_principal(
            directory, name="fuzz-admin", grants=[{"permission": "admin"}]
        ),
        "low-privilege": service.create_principal(
            directory, name="fuzz-low", grants=LOW_PRIVILEGE_GRANTS
        ),
        "no certificate": None,
    }


def test_fuzzing_every_operation_finds_no_5xx_and_only_documented_errors(
    service: Service,
    openapi: dict[str, Any],
    fuzz_identities: dict[str, Identity | None],
    tmp_path: Path,
) -> None:
    report = fuzz_api(service, openapi, fuzz_identities, examples=EXAMPLES)

    print(  # shown with -s; docs/security.md quotes a run
        f"\napi fuzz: {report.requests} requests, {report.operations} operation x identity "
        f"pairs, {report.seconds:.1f} s, statuses {dict(sorted(report.statuses.items()))}"
    )
    assert report.failures == {}
    assert report.requests >= len(openapi["paths"]) * len(fuzz_identities) * EXAMPLES
    assert not any(status >= 500 for status in report.statuses)
    assert "Traceback" not in service.output()
