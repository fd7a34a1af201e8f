"""The interop tests' one fixture: certward's PKI, built once per test session."""

from __future__ import annotations

import pytest

from tests.cli.runner import shared_pki
from tests.interop.trust_material import TrustMaterial, build_trust_material


@pytest.fixture(scope="session")
def trust(tmp_path_factory: pytest.TempPathFactory) -> TrustMaterial:
    """root → issuing → localhost, alice, mallory (revoked), with CRLs and a hash dir.

    Built once per test session (per xdist worker); tests only read it.
    """
    return build_trust_material(shared_pki(tmp_path_factory), tmp_path_factory.mktemp("interop"))
